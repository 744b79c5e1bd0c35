//! The logging macros: `backburner::info!(logger, "order {} at {}", id, price)`.
//!
//! Each argument is evaluated once and, if it is a cheap type (integers,
//! floats, `bool`, `char`, strings of up to 22 bytes), copied as a value;
//! the message is then formatted on the worker by a function made for the
//! call site. If any argument is of another type (or a string too long to
//! copy in place), the message is formatted on the caller instead. The
//! format string takes positional arguments (`{}`, `{:.2}`, `{:x}`, `{:?}`);
//! names captured from the scope (`{id}`) work only in calls without
//! arguments (formatted on the caller).

/// Logs at a level: `log_at!(logger, Level::Info, "fmt", args...)`, or with
/// `target: "name",` after the level. The level macros (`info!`, …) call it.
#[macro_export]
macro_rules! log_at {
    ($logger:expr, $level:expr, target: $target:expr, $fmt:literal $(, $arg:expr)* $(,)?) => {{
        static __BB_SITE: $crate::log::Site = $crate::log::Site {
            level: $level,
            target: $target,
            file: ::core::file!(),
            line: ::core::line!(),
        };
        let __bb_logger: &$crate::log::Logger = &$logger;
        if __bb_logger.enabled(&__BB_SITE) {
            $crate::__bb_bind!(__bb_logger, __BB_SITE, $fmt, [],
                [(__a0, 0) (__a1, 1) (__a2, 2) (__a3, 3)] $(, $arg)*);
        }
    }};
    ($logger:expr, $level:expr, $fmt:literal $(, $arg:expr)* $(,)?) => {
        $crate::log_at!($logger, $level, target: ::core::module_path!(), $fmt $(, $arg)*)
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __bb_bind {
    // No arguments: a static message, or one with names captured from the scope.
    ($l:ident, $site:ident, $fmt:literal, [], [$($names:tt)*]) => {
        match ::core::format_args!($fmt).as_str() {
            ::core::option::Option::Some(s) => $l.push_static(&$site, s),
            ::core::option::Option::None => $l.push_formatted(&$site, ::core::format_args!($fmt)),
        }
    };
    // Every argument bound to a name: copy or format.
    ($l:ident, $site:ident, $fmt:literal, [$(($name:ident, $idx:tt))+], [$($names:tt)*]) => {{
        let mut __vals = [$crate::log::ArgVal::None; $crate::log::MAX_ARGS];
        let mut __cheap = true;
        #[allow(unused_imports)]
        use $crate::log::{CaptureCheap as _, CaptureFallback as _};
        $(
            match (&$crate::log::Capture($name)).capture() {
                ::core::option::Option::Some(v) => __vals[$idx] = v,
                ::core::option::Option::None => __cheap = false,
            }
        )+
        if __cheap {
            fn __bb_render(a: &[$crate::log::ArgVal; $crate::log::MAX_ARGS], out: &mut ::std::string::String) {
                let _ = ::core::fmt::Write::write_fmt(out, ::core::format_args!($fmt $(, a[$idx])+));
            }
            $l.push_deferred(&$site, __bb_render, __vals);
        } else {
            $l.push_formatted(&$site, ::core::format_args!($fmt $(, $name)+));
        }
    }};
    // Bind the next argument (evaluated once) to the next name.
    ($l:ident, $site:ident, $fmt:literal, [$($bound:tt)*], [($name:ident, $idx:tt) $($names:tt)*], $arg:expr $(, $rest:expr)*) => {
        match &$arg {
            $name => $crate::__bb_bind!($l, $site, $fmt, [$($bound)* ($name, $idx)], [$($names)*] $(, $rest)*),
        }
    };
    // More arguments than names: format on the caller.
    ($l:ident, $site:ident, $fmt:literal, [$(($name:ident, $idx:tt))*], [], $($rest:expr),+) => {
        $l.push_formatted(&$site, ::core::format_args!($fmt $(, $name)* , $($rest),+))
    };
}

/// Logs at [`Level::Error`](crate::log::Level::Error).
#[macro_export]
macro_rules! error {
    ($logger:expr, $($rest:tt)+) => { $crate::log_at!($logger, $crate::log::Level::Error, $($rest)+) };
}
/// Logs at [`Level::Warn`](crate::log::Level::Warn).
#[macro_export]
macro_rules! warn {
    ($logger:expr, $($rest:tt)+) => { $crate::log_at!($logger, $crate::log::Level::Warn, $($rest)+) };
}
/// Logs at [`Level::Info`](crate::log::Level::Info).
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// let log = backburner::log::Logger::builder().file(dir.path().join("app.log")).build()?;
/// let (id, price) = (42u64, 99.5f64);
/// backburner::info!(log, "order {} filled at {:.2} for {}", id, price, "ACME");
/// log.flush()?;
/// # let text = std::fs::read_to_string(dir.path().join("app.log"))?;
/// # assert!(text.contains("order 42 filled at 99.50 for ACME"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[macro_export]
macro_rules! info {
    ($logger:expr, $($rest:tt)+) => { $crate::log_at!($logger, $crate::log::Level::Info, $($rest)+) };
}
/// Logs at [`Level::Debug`](crate::log::Level::Debug).
#[macro_export]
macro_rules! debug {
    ($logger:expr, $($rest:tt)+) => { $crate::log_at!($logger, $crate::log::Level::Debug, $($rest)+) };
}
/// Logs at [`Level::Trace`](crate::log::Level::Trace).
#[macro_export]
macro_rules! trace {
    ($logger:expr, $($rest:tt)+) => { $crate::log_at!($logger, $crate::log::Level::Trace, $($rest)+) };
}
