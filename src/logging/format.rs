//! How a log line is laid out: upstream's text line, JSON (one valid object per line,
//! with the service's fields on every line a service logs), or journald's priority
//! prefix.

use super::{Line, Severity};
use crate::PROGRAM;

/// How a line is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Text,
    Json,
    Journald,
}

fn level_name(level: Severity) -> &'static str {
    match level {
        Severity::Critical => "CRITICAL",
        Severity::Error => "ERROR",
        Severity::Warning => "WARNING",
        // Python's logging has no NOTICE: upstream's level column says INFO.
        Severity::Notice | Severity::Info => "INFO",
        Severity::Debug => "DEBUG",
    }
}

/// Our pid, asked once: every line carries it.
fn pid() -> u32 {
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *PID.get_or_init(std::process::id)
}

/// One line in `format`, without the newline.
pub(super) fn render(line: &Line, format: Format, name_width: usize) -> String {
    let asctime = format!("{},{:03}", line.time, line.time.micros / 1000);
    match format {
        Format::Text => format!(
            "{asctime} {PROGRAM}[{}] {:<8} {:<name_width$} {}",
            pid(),
            level_name(line.level),
            line.thread,
            line.tagged_message()
        ),
        Format::Journald => {
            let priority = super::syslogd::code(line.level);
            format!("<{priority}>{} - {}", line.thread, line.tagged_message())
        }
        Format::Json => {
            let mut json = format!(
                "{{\"asctime\": {}, \"levelname\": {}, \"process\": {}, \"message\": {}",
                json_string(&asctime),
                json_string(level_name(line.level)),
                pid(),
                json_string(&line.message)
            );
            if let Some(service) = &line.service {
                json.push_str(&format!(
                    ", \"ip_address\": {}, \"prefix_length\": {}, \"status\": {}, \"ip_check_disabled\": {}",
                    json_string(&service.ip_address),
                    service.prefix_length,
                    json_string(&service.status),
                    service.ip_check_disabled
                ));
            }
            if let Some(event) = line.event {
                json.push_str(&format!(", \"event\": {}", json_string(event)));
            }
            if let Some(about) = line.about.as_ref().filter(|about| **about != line.thread) {
                json.push_str(&format!(", \"service\": {}", json_string(about)));
            }
            json.push_str(&format!(
                ", \"version\": {}, \"program\": {}, \"service_name\": {}}}",
                json_string(env!("CARGO_PKG_VERSION")),
                json_string(PROGRAM),
                json_string(&line.thread)
            ));
            json
        }
    }
}

/// `text` as a JSON string literal.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::super::ServiceFields;
    use super::*;
    use crate::localtime::LocalTime;

    fn line(service: Option<ServiceFields>) -> Line {
        Line {
            time: LocalTime {
                year: 2026,
                month: 11,
                day: 24,
                hour: 12,
                minute: 16,
                second: 2,
                micros: 731_000,
            },
            level: Severity::Info,
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
            status: "up".into(),
            ip_check_disabled: false,
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
