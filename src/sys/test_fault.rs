//! The fault hook of the tests: in a debug build, a thread that calls [`inject`]
//! panics or stalls when a test asks it to through the environment, so the tests can
//! show that a dead or stuck thread is noticed (tests/dead_threads.rs, tests/events.rs). A release build
//! compiles it to nothing.

/// Test-only fault injection (debug builds), for the thread named `name` (a service,
/// or `bird-writer`): a file `$ANYCAST_HEALTHCHECKER_TEST_PANIC.<name>` is removed and
/// the thread panics, once, as a bug in its code would; while a file
/// `$ANYCAST_HEALTHCHECKER_TEST_STALL.<name>` exists the thread stands still, as one
/// stuck in a write that never returns. Release builds have no such hook.
#[cfg(debug_assertions)]
pub(crate) fn inject(name: &str) {
    use std::path::PathBuf;
    use std::time::Duration;

    let path = |variable: &str| {
        std::env::var_os(variable).map(|mut base| {
            base.push(format!(".{name}"));
            PathBuf::from(base)
        })
    };
    if let Some(panic) = path("ANYCAST_HEALTHCHECKER_TEST_PANIC") {
        if std::fs::remove_file(&panic).is_ok() {
            panic!("test fault injected into {name}");
        }
    }
    if let Some(stall) = path("ANYCAST_HEALTHCHECKER_TEST_STALL") {
        while stall.exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(not(debug_assertions))]
pub(crate) fn inject(_name: &str) {}
