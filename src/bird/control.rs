//! Bird's control-socket protocol, which `birdc` speaks: reconfigure Bird without a
//! fork, a `birdc` binary or sudo; only the socket's permissions matter.
//!
//! On connect Bird sends `0001 BIRD <version> ready.`. After a command it sends lines
//! `DDDD-text` (more to come), ` text` (continuation) and ends with `DDDD text`. For
//! `configure`: 0003 Reconfigured, 0004 Reconfiguration in progress, 0005 queued; 8xxx
//! and 9xxx are errors whose text is Bird's own message (`FILE:LINE:COL message`).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use super::reconfigure::Accepted;

/// How long to wait between two `configure status` questions while Bird 3 is still
/// reconfiguring (it is done in about 3 ms, at most ~15 ms, measured).
const STATUS_POLL: Duration = Duration::from_millis(2);

/// Sends `configure` on `socket`; `Err` holds Bird's words or why we could not ask.
///
/// After `0004 Reconfiguration in progress` it asks `configure status` until Bird says
/// it is done (for up to `timeout` more), so that the next `configure` never overlaps
/// this one: Bird 3.3.2 aborts when a configure replaces a queued one.
pub fn configure(socket: &Path, timeout: Duration) -> Result<Accepted, String> {
    let reply = request(socket, "configure", timeout)?;
    let (code, _) = reply.last().cloned().unwrap_or_default();
    match code.as_str() {
        "0003" => return Ok(Accepted::Reconfigured),
        "0004" => return Ok(Accepted::InProgress { confirmed: wait_until_configured(socket, timeout) }),
        "0005" => return Ok(Accepted::Queued),
        _ => {}
    }
    let text: Vec<String> = reply
        .iter()
        .filter(|(code, _)| code.starts_with('8') || code.starts_with('9'))
        .map(|(_, text)| text.clone())
        .collect();
    if text.is_empty() {
        Err(format!("Bird answered {code}"))
    } else {
        Err(format!("Bird did not accept the configuration: {}", text.join(" | ")))
    }
}

/// Asks `configure status` until Bird answers `0003` (its reply's first line: the
/// reply ends with `0000`). False if it still had not after `patience`, or stopped
/// answering.
fn wait_until_configured(socket: &Path, patience: Duration) -> bool {
    let deadline = Instant::now() + patience;
    while let Ok(reply) = request(socket, "configure status", remaining(deadline).unwrap_or_default()) {
        match reply.first().map(|(code, _)| code.as_str()) {
            Some("0003") => return true,
            Some("0004") | Some("0005") if Instant::now() + STATUS_POLL < deadline => {
                std::thread::sleep(STATUS_POLL)
            }
            _ => return false,
        }
    }
    false
}

/// Sends one command and returns the reply's lines as (code, text); continuation lines
/// carry the code of the line they continue.
pub fn request(socket: &Path, command: &str, timeout: Duration) -> Result<Vec<(String, String)>, String> {
    let deadline = Instant::now() + timeout;
    let (mut reader, _) = connect(socket, deadline)?;
    let mut writer = reader.get_ref().try_clone().map_err(|err| err.to_string())?;
    writer.set_write_timeout(Some(remaining(deadline)?)).map_err(|err| err.to_string())?;
    writer
        .write_all(format!("{command}\n").as_bytes())
        .map_err(|err| format!("failed to send {command:?} to {}: {err}", socket.display()))?;
    let mut lines: Vec<(String, String)> = Vec::new();
    loop {
        let line = read_line(&mut reader, deadline)?;
        if let Some(text) = line.strip_prefix(' ') {
            let code = lines.last().map(|(code, _)| code.clone()).unwrap_or_default();
            lines.push((code, text.to_string()));
            continue;
        }
        let Some((code, last, text)) = reply_code(&line) else {
            return Err(format!("unexpected line from Bird: {line:?}"));
        };
        lines.push((code.to_string(), text.to_string()));
        if last {
            return Ok(lines);
        }
    }
}

/// Connects, reads Bird's greeting (`0001 BIRD 2.0.12 ready.`) and hangs up: wakes
/// Bird (see `wake`) and says which Bird it is.
pub fn greet(socket: &Path, timeout: Duration) -> Result<String, String> {
    connect(socket, Instant::now() + timeout).map(|(_, greeting)| greeting)
}

/// A connection to `socket` that Bird has greeted, and the greeting.
fn connect(socket: &Path, deadline: Instant) -> Result<(BufReader<UnixStream>, String), String> {
    let stream = UnixStream::connect(socket)
        .map_err(|err| format!("failed to connect to Bird's control socket {}: {err}", socket.display()))?;
    let mut reader = BufReader::new(stream);
    let greeting = read_line(&mut reader, deadline)?;
    if !greeting.starts_with("0001 ") {
        return Err(format!("unexpected greeting from {}: {greeting:?}", socket.display()));
    }
    Ok((reader, greeting))
}

/// A reply line's code, whether it is the reply's last line (`DDDD text`, where
/// `DDDD-text` says more follow), and its text. None for a line without a code.
pub(crate) fn reply_code(line: &str) -> Option<(&str, bool, &str)> {
    let bytes = line.as_bytes();
    if bytes.len() < 5 || !bytes[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    match bytes[4] {
        b' ' => Some((&line[..4], true, &line[5..])),
        b'-' => Some((&line[..4], false, &line[5..])),
        _ => None,
    }
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("Bird did not answer in time".to_string())
    } else {
        Ok(left)
    }
}

fn read_line(reader: &mut BufReader<UnixStream>, deadline: Instant) -> Result<String, String> {
    reader.get_ref().set_read_timeout(Some(remaining(deadline)?)).map_err(|err| err.to_string())?;
    let mut line = String::new();
    match reader.read_line(&mut line) {
        Ok(0) => Err("Bird closed the control connection".to_string()),
        Ok(_) => Ok(line.trim_end_matches(['\n', '\r']).to_string()),
        Err(err) if matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
            Err("Bird did not answer in time".to_string())
        }
        Err(err) => Err(format!("failed to read from Bird: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A fake Bird that greets each connection, reads one command and sends the next
    /// of `replies`; the commands it got are returned by the handle.
    fn fake_bird(
        replies: &'static [&'static str],
    ) -> (tempfile::TempDir, std::path::PathBuf, std::thread::JoinHandle<Vec<String>>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bird.ctl");
        let listener = UnixListener::bind(&path).unwrap();
        let handle = std::thread::spawn(move || {
            let mut commands = Vec::new();
            for reply in replies {
                let (mut stream, _) = listener.accept().unwrap();
                stream.write_all(b"0001 BIRD 3.3.2 ready.\n").unwrap();
                let mut command = String::new();
                BufReader::new(stream.try_clone().unwrap()).read_line(&mut command).unwrap();
                commands.push(command.trim().to_string());
                stream.write_all(reply.as_bytes()).unwrap();
            }
            commands
        });
        (dir, path, handle)
    }

    #[test]
    fn reconfigured_and_in_progress_are_success() {
        let cases: [(&'static [&'static str], Accepted); 2] = [
            (
                &["0002-Reading configuration from /etc/bird.conf\n0003 Reconfigured\n"],
                Accepted::Reconfigured,
            ),
            (&["0005 Reconfiguration already in progress, queueing new config\n"], Accepted::Queued),
        ];
        for (reply, accepted) in cases {
            let (_dir, path, bird) = fake_bird(reply);
            assert_eq!(configure(&path, Duration::from_secs(2)), Ok(accepted), "{reply:?}");
            assert_eq!(bird.join().unwrap(), ["configure"]);
        }
    }

    #[test]
    fn in_progress_is_success_confirmed_by_configure_status() {
        let (_dir, path, bird) = fake_bird(&[
            "0002-Reading configuration from /etc/bird.conf\n0004 Reconfiguration in progress\n",
            "0004-Reconfiguration in progress\n0000 \n",
            "0003-Daemon is up and running\n0000 \n",
        ]);
        assert_eq!(configure(&path, Duration::from_secs(2)), Ok(Accepted::InProgress { confirmed: true }));
        assert_eq!(bird.join().unwrap(), ["configure", "configure status", "configure status"]);
    }

    #[test]
    fn a_config_error_keeps_birds_words() {
        let (_dir, path, _bird) = fake_bird(&[
            "0002-Reading configuration from /d/a.conf\n8002 /d/p.conf:4:5 syntax error, unexpected ';'\n",
        ]);
        assert_eq!(
            configure(&path, Duration::from_secs(2)),
            Err("Bird did not accept the configuration: /d/p.conf:4:5 syntax error, unexpected ';'"
                .to_string())
        );
    }

    #[test]
    fn a_silent_bird_times_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bird.ctl");
        let _listener = UnixListener::bind(&path).unwrap();
        let started = Instant::now();
        let err = configure(&path, Duration::from_millis(200)).unwrap_err();
        assert!(err.contains("did not answer in time"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn a_missing_socket_says_so() {
        let err = configure(Path::new("/nonexistent/bird.ctl"), Duration::from_secs(1)).unwrap_err();
        assert!(err.contains("failed to connect to Bird's control socket /nonexistent/bird.ctl"), "{err}");
    }
}
