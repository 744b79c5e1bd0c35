//! The concurrency primitives of the lock-free parts: from `std` and
//! `parking_lot` in a normal build, from `loom` in a model-checking build
//! (`RUSTFLAGS="--cfg loom"`, see `.ci/run`), the way tokio's `src/loom/`
//! does it. Code written against this module compiles both ways; in a
//! normal build every item is a re-export or an `#[inline]` wrapper, so it
//! costs nothing.
//!
//! Loom sees only what goes through these types: the overlay's staging ring
//! and index (`engine::overlay`) and the ticket slot (`outcome`) do. Anything else, and every other type of
//! a model, runs as in a normal build, unobserved. Under `cfg(loom)` these
//! types work only inside `loom::model`: a loom build runs its model tests
//! and nothing else.

// The set that lock-free code needs, not only what uses it today (the
// overlay's staging ring and the ticket slot in `outcome`).
#![allow(unused_imports, dead_code)]

/// `std::sync::atomic`, or loom's.
pub(crate) mod atomic {
    #[cfg(loom)]
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
    #[cfg(not(loom))]
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
}

/// `std::hint`, or loom's (where `spin_loop` yields to another thread: a
/// model only progresses when the spinning thread lets another run).
pub(crate) mod hint {
    #[cfg(loom)]
    pub(crate) use loom::hint::spin_loop;
    #[cfg(not(loom))]
    pub(crate) use std::hint::spin_loop;
}

/// `std::thread`, or loom's (`spawn`, `yield_now`, `JoinHandle`, `park`;
/// loom has no `sleep`, `scope` or `park_timeout`).
#[cfg(loom)]
pub(crate) use loom::thread;
#[cfg(not(loom))]
pub(crate) use std::thread;

#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

#[cfg(not(loom))]
pub(crate) use parking_lot::{Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use self::model::{Mutex, MutexGuard, UnsafeCell};
#[cfg(not(loom))]
pub(crate) use self::plain::UnsafeCell;

#[cfg(not(loom))]
mod plain {
    /// `std::cell::UnsafeCell` with loom's API: the pointer is lent to a
    /// closure (`with`, `with_mut`), so that under loom each access is
    /// checked against the others (a write concurrent with any other
    /// access fails the model). Dereferencing the pointer is the caller's
    /// `unsafe`, as with `UnsafeCell::get`.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(data: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(data))
        }

        /// Lends a pointer for reading.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Lends a pointer for writing.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }

        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner()
        }
    }
}

#[cfg(loom)]
mod model {
    use std::sync::PoisonError;

    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::MutexGuard;

    /// loom's `Mutex` with `parking_lot`'s API: `lock` returns the guard.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(data: T) -> Mutex<T> {
            Mutex(loom::sync::Mutex::new(data))
        }

        /// Locks. As with `parking_lot`, a thread that panicked with the
        /// lock held does not poison it (a failed model stops anyway).
        #[track_caller]
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }

        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
        }
    }
}
