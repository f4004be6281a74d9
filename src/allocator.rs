//! glibc's allocator, tuned for a thread per service. Each service thread allocates
//! little and briefly (a check's command line and output, a log line), but glibc
//! gives threads arenas of their own, up to eight per core, each keeping its freed
//! blocks resident: at N = 1000 that was about 5 MiB of PSS (benches/RESULTS.md).

/// Two arenas for all threads (glibc's default is eight per core). Call before any
/// thread exists.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called from `main`
    // before any thread exists, as glibc asks.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}
