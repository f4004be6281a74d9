//! journald, two ways.
//!
//! - Under systemd, stderr is often a stream into the journal, which stores every line
//!   at priority 6 (info) unless it starts with a syslog priority `<N>`. systemd says
//!   so in `$JOURNAL_STREAM` (the stream's device and inode): when it names our stderr,
//!   console lines get the prefix, so `journalctl -p warning` and rsyslog's severity
//!   rules see the catalog's severities with any configuration, upstream's included.
//! - `log_journald` (extension) sends each line over journald's native protocol, with
//!   fields an operator can match: `journalctl EVENT=down`, `SERVICE=web`,
//!   `IP_PREFIX=10.52.12.1/32`.

use std::io;
use std::path::PathBuf;
use std::sync::OnceLock;

use super::syslogd::{self, DatagramSink};
use super::LogLine;
use crate::PROGRAM;

/// True when our stderr is the stream `$JOURNAL_STREAM` names. Asked once: stderr
/// does not change while we run.
pub fn stderr_is_journal() -> bool {
    static IS: OnceLock<bool> = OnceLock::new();
    *IS.get_or_init(|| {
        let Ok(stream) = std::env::var("JOURNAL_STREAM") else { return false };
        stderr_identity().is_some_and(|(device, inode)| names_stream(&stream, device, inode))
    })
}

/// The device and inode of our stderr (fstat on a duplicate of descriptor 2).
fn stderr_identity() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let stderr = std::io::stderr();
    let duplicate = stderr.as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(duplicate).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// `$JOURNAL_STREAM` is `DEVICE:INODE`, both decimal.
fn names_stream(journal_stream: &str, device: u64, inode: u64) -> bool {
    let Some((dev, ino)) = journal_stream.trim().split_once(':') else { return false };
    dev.parse() == Ok(device) && ino.parse() == Ok(inode)
}

/// The priority prefix journald reads off a stream line: `<3>` for an error.
pub(super) fn priority_prefix(level: super::LineSeverity) -> String {
    format!("<{}>", syslogd::code(level))
}

/// journald's native socket (see [`DatagramSink`] for how lines are sent).
pub(super) struct Journald {
    sink: DatagramSink,
    facility: u8,
}

impl Journald {
    pub fn open(path: PathBuf, facility: u8) -> io::Result<Journald> {
        Ok(Journald { sink: DatagramSink::open(path)?, facility })
    }

    pub fn send(&self, line: &LogLine) -> io::Result<()> {
        let message = format!("{} {}", line.thread, line.tagged_message());
        let priority = syslogd::code(line.level).to_string();
        let facility = self.facility.to_string();
        let pid = std::process::id().to_string();
        let mut fields: Vec<(&str, &str)> = vec![
            ("MESSAGE", &message),
            ("PRIORITY", &priority),
            ("SYSLOG_IDENTIFIER", PROGRAM),
            ("SYSLOG_FACILITY", &facility),
            ("SYSLOG_PID", &pid),
            ("THREAD", &line.thread),
        ];
        if let Some(event) = line.event {
            fields.push(("EVENT", event));
        }
        if let Some(service) = &line.about {
            fields.push(("SERVICE", service));
        }
        if let Some(service) = &line.service {
            fields.extend(service.ip_prefixes.iter().map(|prefix| ("IP_PREFIX", prefix.as_str())));
        }
        self.sink.send(&encode(&fields))
    }
}

/// The native protocol's datagram: `NAME=value\n` per field, or, for a value with a
/// newline, `NAME\n`, its length as 64-bit little endian, the value and `\n`.
fn encode(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    for (name, value) in fields {
        out.extend_from_slice(name.as_bytes());
        if value.contains('\n') {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
        } else {
            out.push(b'=');
        }
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_named_by_device_and_inode() {
        // (JOURNAL_STREAM, device, inode, ours)
        let cases = [
            ("8:1234", 8, 1234, true),
            ("8:1234\n", 8, 1234, true),
            ("8:1235", 8, 1234, false),
            ("9:1234", 8, 1234, false),
            ("", 8, 1234, false),
            ("8", 8, 1234, false),
            ("x:1234", 8, 1234, false),
        ];
        for (stream, device, inode, ours) in cases {
            assert_eq!(names_stream(stream, device, inode), ours, "{stream:?}");
        }
    }

    #[test]
    fn fields_are_encoded_plain_or_with_a_length() {
        let datagram = encode(&[("MESSAGE", "web changed to DOWN"), ("EVENT", "down")]);
        assert_eq!(datagram, b"MESSAGE=web changed to DOWN\nEVENT=down\n");
        let datagram = encode(&[("MESSAGE", "two\nlines")]);
        let mut expected = b"MESSAGE\n".to_vec();
        expected.extend_from_slice(&9u64.to_le_bytes());
        expected.extend_from_slice(b"two\nlines\n");
        assert_eq!(datagram, expected);
    }

    #[test]
    fn the_priority_prefix_is_the_syslog_code() {
        assert_eq!(priority_prefix(super::super::LineSeverity::Error), "<3>");
        assert_eq!(priority_prefix(super::super::LineSeverity::Notice), "<5>");
        assert_eq!(priority_prefix(super::super::LineSeverity::Info), "<6>");
    }
}
