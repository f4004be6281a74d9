//! How a log line is laid out: upstream's text line, JSON (one valid object per line,
//! with the service's fields on every line a service logs), or journald's priority
//! prefix.

use std::fmt::Write;

use super::{LineSeverity, LogLine};
use crate::PROGRAM;

/// How a line is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Text,
    Json,
    Journald,
}

fn level_name(level: LineSeverity) -> &'static str {
    match level {
        LineSeverity::Critical => "CRITICAL",
        LineSeverity::Error => "ERROR",
        LineSeverity::Warning => "WARNING",
        // Python's logging has no NOTICE: upstream's level column says INFO.
        LineSeverity::Notice | LineSeverity::Info => "INFO",
        LineSeverity::Debug => "DEBUG",
    }
}

/// Our pid, asked once: every line carries it.
fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// One line in `format`, without the newline.
#[cfg(test)]
pub(super) fn render(line: &LogLine, format: Format, name_width: usize) -> String {
    let mut out = String::new();
    render_into(&mut out, line, format, name_width);
    out
}

/// One line in `format`, without the newline, into `out` (cleared first): the logging
/// thread reuses one buffer for every line.
pub(super) fn render_into(out: &mut String, line: &LogLine, format: Format, name_width: usize) {
    out.clear();
    let (time, millis) = (&line.time, line.time.micros / 1000);
    // Writing to a String cannot fail.
    let _ = match format {
        Format::Text => write!(
            out,
            "{time},{millis:03} {PROGRAM}[{}] {:<8} {:<name_width$} {}",
            pid(),
            level_name(line.level),
            line.thread,
            line.tagged_message()
        ),
        Format::Journald => {
            let priority = super::syslogd::code(line.level);
            write!(out, "<{priority}>{} - {}", line.thread, line.tagged_message())
        }
        Format::Json => {
            out.push_str("{\"asctime\": ");
            push_json(out, format_args!("{time},{millis:03}"));
            out.push_str(", \"levelname\": ");
            push_json(out, level_name(line.level));
            let _ = write!(out, ", \"process\": {}, \"message\": ", pid());
            push_json(out, &line.message);
            if let Some(service) = &line.service {
                out.push_str(", \"ip_address\": ");
                push_json(out, &service.ip_address);
                let _ = write!(out, ", \"prefix_length\": {}, \"status\": ", service.prefix_length);
                push_json(out, service.status);
                let _ = write!(out, ", \"ip_check_disabled\": {}", service.ip_check_disabled);
            }
            if let Some(event) = line.event {
                out.push_str(", \"event\": ");
                push_json(out, event);
            }
            if let Some(about) = line.about.as_ref().filter(|about| **about != line.thread) {
                out.push_str(", \"service\": ");
                push_json(out, about);
            }
            out.push_str(", \"version\": ");
            push_json(out, env!("CARGO_PKG_VERSION"));
            out.push_str(", \"program\": ");
            push_json(out, PROGRAM);
            out.push_str(", \"service_name\": ");
            push_json(out, &line.thread);
            out.push('}');
            Ok(())
        }
    };
}

/// Appends `value`, as it displays, as a JSON string literal.
fn push_json(out: &mut String, value: impl std::fmt::Display) {
    out.push('"');
    let _ = write!(JsonEscaped(out), "{value}");
    out.push('"');
}

/// Escapes what is written through it into a JSON string's body.
struct JsonEscaped<'a>(&'a mut String);

impl Write for JsonEscaped<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        for c in text.chars() {
            match c {
                '"' => self.0.push_str("\\\""),
                '\\' => self.0.push_str("\\\\"),
                '\n' => self.0.push_str("\\n"),
                '\r' => self.0.push_str("\\r"),
                '\t' => self.0.push_str("\\t"),
                c if (c as u32) < 0x20 => write!(self.0, "\\u{:04x}", c as u32)?,
                c => self.0.push(c),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::ServiceFields;
    use super::*;
    use crate::sys::localtime::LocalTime;

    fn line(service: Option<ServiceFields>) -> LogLine {
        LogLine {
            time: LocalTime {
                year: 2026,
                month: 11,
                day: 24,
                hour: 12,
                minute: 16,
                second: 2,
                micros: 731_000,
            },
            level: LineSeverity::Info,
            thread: "web".into(),
            message: "status \"changed\" to UP\n".into(),
            service,
            event: None,
            about: None,
        }
    }

    #[test]
    fn text_lines_look_like_upstreams() {
        let text = render(&line(None), Format::Text, 11);
        let expected = format!(
            "2026-11-24 12:16:02,731 anycast-healthchecker[{}] INFO     web         status",
            std::process::id()
        );
        assert!(text.starts_with(&expected), "{text}");
    }

    #[test]
    fn journald_lines_carry_the_priority() {
        assert_eq!(render(&line(None), Format::Journald, 11), "<6>web - status \"changed\" to UP\n");
    }

    #[test]
    fn json_lines_escape_and_carry_service_fields() {
        let fields = ServiceFields {
            ip_address: "10.0.0.1".into(),
            prefix_length: 32,
            status: "up",
            ip_check_disabled: false,
            ip_prefixes: vec!["10.0.0.1/32".to_string()].into(),
        };
        let json = render(&line(Some(fields)), Format::Json, 11);
        assert!(json.contains("\"message\": \"status \\\"changed\\\" to UP\\n\""), "{json}");
        assert!(
            json.contains("\"ip_address\": \"10.0.0.1\", \"prefix_length\": 32, \"status\": \"up\""),
            "{json}"
        );
        assert!(json.ends_with("\"service_name\": \"web\"}"), "{json}");
    }
}
