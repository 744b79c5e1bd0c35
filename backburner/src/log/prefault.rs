//! Memory hints for the worker: map a buffer's pages in one call, and
//! prefetch entries.
#![allow(unsafe_code)] // `madvise` and `_mm_prefetch`; see the SAFETY notes.

/// Maps the pages of `[addr, addr + len)` for writing, without changing
/// their contents (`MADV_POPULATE_WRITE`, Linux 5.14+): one call instead of
/// a page fault per 4 KiB as the buffer is first written. Returns whether
/// the kernel did; on an older kernel nothing changes.
#[cfg(target_os = "linux")]
pub(crate) fn populate(addr: usize, len: usize) -> bool {
    // With larger pages the range is not aligned and madvise refuses it:
    // nothing happens.
    const PAGE: usize = 4096;
    let start = addr.next_multiple_of(PAGE);
    let end = (addr + len) / PAGE * PAGE;
    if end <= start {
        return false;
    }
    // SAFETY: `MADV_POPULATE_WRITE` only faults pages in (as a write would,
    // without writing): it changes no byte and no mapping, whatever the range
    // (one that is not mapped writable just makes it fail). The callers pass
    // a buffer they own, shrunk here to whole pages.
    let rc = unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_POPULATE_WRITE) };
    rc == 0
}

/// Asks the CPU to start loading the cache line at `p` (a hint: it never
/// faults, whatever the address).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint; it does not fault or read into a register,
    // for any address. (`_mm_prefetch` is unsafe only for its target feature,
    // SSE, which every x86-64 CPU has.)
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Elsewhere: nothing to do.
#[cfg(not(target_os = "linux"))]
pub(crate) fn populate(_addr: usize, _len: usize) -> bool {
    false
}
