//! The one-instance lock shared with upstream: an abstract Unix datagram socket named
//! `anycast-healthchecker`, bound for the life of the process. The kernel frees the
//! name when the process ends, even on SIGKILL, and the Python program binds the same
//! name, so neither starts while the other runs in the same network namespace.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use anyhow::{anyhow, Context, Result};

/// The bound socket; the lock is held until it is dropped.
pub(crate) struct InstanceLock {
    _socket: UnixDatagram,
}

impl InstanceLock {
    /// Binds `@name`, or says which process holds it and what to do.
    pub(crate) fn acquire(name: &str) -> Result<InstanceLock> {
        let address = SocketAddr::from_abstract_name(name.as_bytes())
            .with_context(|| format!("cannot use {name:?} as an abstract socket name"))?;
        match UnixDatagram::bind_addr(&address) {
            Ok(socket) => Ok(InstanceLock { _socket: socket }),
            Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => Err(anyhow!(
                "failed to acquire a lock by creating an abstract namespace socket @{name}: {}; \
                 stop it first (systemctl stop anycast-healthchecker), only one may run in a network namespace",
                describe_holder(name)
            )),
            Err(err) => Err(err).with_context(|| format!("failed to bind the abstract socket @{name}")),
        }
    }
}

/// "held by the Python anycast-healthchecker (pid 123: python3 /usr/bin/...)" or as
/// much of that as /proc tells.
fn describe_holder(name: &str) -> String {
    match holder_of(name) {
        Some((pid, cmdline)) => format!("it is held by {} (pid {pid}: {cmdline})", kind_of(&cmdline)),
        None => "another process holds it".to_string(),
    }
}

/// Which program a command line is.
pub(crate) fn kind_of(cmdline: &str) -> &'static str {
    let base = |word: &str| word.rsplit('/').next().unwrap_or_default().to_string();
    let words: Vec<String> = cmdline.split_whitespace().map(base).collect();
    let program = words.first().map(String::as_str).unwrap_or_default();
    // The interpreter may come through a wrapper (`bash .../shims/python3 script`).
    let python = words.iter().any(|w| w.starts_with("python"));
    if python && words.iter().any(|w| w.contains("anycast-healthchecker")) {
        "the Python anycast-healthchecker"
    } else if program.starts_with("anycast-healthchecker") {
        "anycast-healthchecker"
    } else {
        "another program"
    }
}

/// The pid and command line of a process holding the abstract socket `@name`: its
/// inode from /proc/net/unix, then the process with a descriptor on that inode.
fn holder_of(name: &str) -> Option<(u32, String)> {
    let table = std::fs::read_to_string("/proc/net/unix").ok()?;
    let wanted = format!("@{name}");
    // "Num RefCount Protocol Flags Type St Inode Path"
    let inode = table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(7) == Some(&wanted.as_str())).then(|| fields.get(6).map(|s| s.to_string())).flatten()
    })?;
    let target = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        let holds = fds
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == target.as_str()));
        if holds {
            return Some((pid, cmdline_of(pid).unwrap_or_default()));
        }
    }
    None
}

/// The command line of `pid`, its words joined by spaces.
pub(crate) fn cmdline_of(pid: u32) -> Option<String> {
    let bytes = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let words: Vec<String> = bytes
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    Some(words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_name_is_refused_naming_the_holder() {
        let name = format!("ahc-unit-{}", std::process::id());
        let first = InstanceLock::acquire(&name).unwrap();
        let err = InstanceLock::acquire(&name).err().unwrap().to_string();
        assert!(err.contains(&format!("@{name}")), "{err}");
        assert!(err.contains(&format!("pid {}", std::process::id())), "{err}");
        drop(first);
        assert!(InstanceLock::acquire(&name).is_ok(), "the name is free once dropped");
    }

    #[test]
    fn python_and_our_daemon_are_told_apart() {
        assert_eq!(
            kind_of("/usr/bin/python3.9 /usr/bin/anycast-healthchecker -f x"),
            "the Python anycast-healthchecker"
        );
        assert_eq!(
            kind_of("bash /root/.pyenv/shims/python3 /usr/bin/anycast-healthchecker"),
            "the Python anycast-healthchecker"
        );
        assert_eq!(kind_of("/usr/bin/anycast-healthchecker -f x"), "anycast-healthchecker");
        assert_eq!(kind_of("/usr/bin/socat ABSTRACT-RECVFROM:anycast-healthchecker"), "another program");
    }
}
