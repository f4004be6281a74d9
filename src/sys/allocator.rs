//! glibc's allocator, tuned for a thread per service. Each service thread allocates
//! little and briefly (a check's command line and output, a log line), but glibc
//! gives threads arenas of their own, up to eight per core, each keeping its freed
//! blocks resident: at N = 1000 that was about 5 MiB of PSS (benches/RESULTS.md).
//!
//! It also gives every thread a cache of freed blocks (up to seven of each size),
//! which never goes back to the arena while the thread lives: with a thousand
//! service threads that was 1.5 MiB, a tenth of the daemon's memory. glibc reads the
//! switch for that cache only from `GLIBC_TUNABLES` as a program starts, so the
//! daemon starts itself again, once, with it added; checks get the environment as
//! it was.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Two arenas for all threads (glibc's default is eight per core). Call before any
/// thread exists.
pub fn limit_arenas() {
    // Called from `main` before any thread exists, as glibc asks.
    super::os::set_malloc_arena_max(2);
}

/// The tunable that turns the per-thread cache off.
const NO_THREAD_CACHE: &str = "glibc.malloc.tcache_count=0";

/// Set only for the daemon started again: `GLIBC_TUNABLES` as it was before, after
/// a `=`, or empty if it was not set.
const ORIGINAL: &str = "ANYCAST_HEALTHCHECKER_GLIBC_TUNABLES";

/// What to do about glibc's tunables at start, from the environment's values.
#[derive(Debug, PartialEq, Eq)]
pub enum Start {
    /// Start again with `GLIBC_TUNABLES` set to `tunables` and [`ORIGINAL`] to `original`.
    Again { tunables: OsString, original: OsString },
    /// This is the daemon started again: put `GLIBC_TUNABLES` back as it was (None:
    /// unset), for the checks.
    Restore(Option<OsString>),
    /// Run as we are: the operator chose a cache setting.
    AsWeAre,
}

/// Decides from `GLIBC_TUNABLES` and [`ORIGINAL`] as found at start.
pub fn plan(tunables: Option<OsString>, original: Option<OsString>) -> Start {
    if let Some(original) = original {
        let before = original.as_bytes().strip_prefix(b"=").map(|value| OsString::from_vec(value.to_vec()));
        return Start::Restore(before);
    }
    let Some(value) = tunables else {
        return Start::Again { tunables: OsString::from(NO_THREAD_CACHE), original: OsString::new() };
    };
    if value.as_bytes().split(|&b| b == b':').any(|item| item.starts_with(b"glibc.malloc.tcache_")) {
        return Start::AsWeAre;
    }
    let mut tunables = value.clone();
    if !tunables.is_empty() {
        tunables.push(":");
    }
    tunables.push(NO_THREAD_CACHE);
    let mut original = OsString::from("=");
    original.push(value);
    Start::Again { tunables, original }
}

/// Starts the daemon again without glibc's per-thread cache, or (started again)
/// puts the environment back. Call first thing in `main`, before any thread. If the
/// program cannot be started again it runs as it is.
pub fn start_without_thread_cache() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    match plan(std::env::var_os("GLIBC_TUNABLES"), std::env::var_os(ORIGINAL)) {
        Start::Again { tunables, original } => {
            use std::os::unix::process::CommandExt;
            let mut args = std::env::args_os();
            // Our own path, so the process keeps its name (`ps`, `pgrep`, monitoring
            // by process name); /proc/self/exe if that cannot be read.
            let program = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
            let mut again = std::process::Command::new(program);
            if let Some(name) = args.next() {
                again.arg0(name);
            }
            // Returns only if exec failed: then run as we are.
            let _ = again.args(args).env("GLIBC_TUNABLES", tunables).env(ORIGINAL, original).exec();
        }
        Start::Restore(tunables) => {
            std::env::remove_var(ORIGINAL);
            match tunables {
                Some(value) => std::env::set_var("GLIBC_TUNABLES", value),
                None => std::env::remove_var("GLIBC_TUNABLES"),
            }
        }
        Start::AsWeAre => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(text: &str) -> OsString {
        OsString::from(text)
    }

    #[test]
    fn starts_again_with_the_cache_off_and_remembers_what_was_there() {
        let table = [
            (None, Start::Again { tunables: os(NO_THREAD_CACHE), original: os("") }),
            (Some(""), Start::Again { tunables: os(NO_THREAD_CACHE), original: os("=") }),
            (
                Some("glibc.malloc.perturb=1"),
                Start::Again {
                    tunables: os("glibc.malloc.perturb=1:glibc.malloc.tcache_count=0"),
                    original: os("=glibc.malloc.perturb=1"),
                },
            ),
            // The operator's own cache setting wins.
            (Some("glibc.malloc.tcache_count=3"), Start::AsWeAre),
            (Some("glibc.malloc.perturb=1:glibc.malloc.tcache_max=64"), Start::AsWeAre),
        ];
        for (tunables, expected) in table {
            assert_eq!(plan(tunables.map(os), None), expected, "GLIBC_TUNABLES={tunables:?}");
        }
    }

    #[test]
    fn started_again_it_puts_the_environment_back() {
        let tuned = Some(os(NO_THREAD_CACHE));
        assert_eq!(plan(tuned.clone(), Some(os(""))), Start::Restore(None));
        assert_eq!(plan(tuned.clone(), Some(os("="))), Start::Restore(Some(os(""))));
        assert_eq!(
            plan(tuned, Some(os("=glibc.malloc.perturb=1"))),
            Start::Restore(Some(os("glibc.malloc.perturb=1")))
        );
    }
}
