//! The Python anycast-healthchecker (upstream 0.9.10, from PyPI) in a virtual
//! environment made once per build directory, for tests that run it beside ours (a
//! rollback, a side-by-side measurement).
//!
//! Without python3's venv or PyPI the tests print one `SKIPPED:` line and pass, except
//! under CI=true, where they fail.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The version our compatibility contract is written against.
pub const VERSION: &str = "0.9.10";

/// The upstream program, installing it first if needed; None (after a loud line)
/// where it cannot be installed.
pub fn upstream_or_skip() -> Option<PathBuf> {
    use fs2::FileExt;
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("upstream-venv");
    let program = venv.join("bin/anycast-healthchecker");
    // Tests in parallel install it once: the others wait on the lock.
    let lock = std::fs::File::create(venv.with_extension("lock")).expect("the venv's lock file");
    lock.lock_exclusive().expect("lock the venv");
    let installed = || {
        Command::new(&program)
            .arg("-v")
            .output()
            .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == VERSION)
    };
    if installed() {
        return Some(program);
    }
    let _ = std::fs::remove_dir_all(&venv);
    let run = |step: &Path, args: &[&str]| -> Result<(), String> {
        let out =
            Command::new(step).args(args).output().map_err(|err| format!("{}: {err}", step.display()))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!("{} {}: {}", step.display(), args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    };
    let requirement = format!("anycast-healthchecker=={VERSION}");
    let made = run(Path::new("python3"), &["-m", "venv", &venv.display().to_string()])
        .and_then(|()| run(&venv.join("bin/pip"), &["install", "--quiet", &requirement]));
    match made {
        Ok(()) if installed() => Some(program),
        Ok(()) => {
            super::skip_or_fail(&format!("the Python anycast-healthchecker {VERSION} did not install"));
            None
        }
        Err(why) => {
            super::skip_or_fail(&format!("cannot install the Python anycast-healthchecker {VERSION}: {why}"));
            None
        }
    }
}
