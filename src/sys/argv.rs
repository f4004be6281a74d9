//! Command lines from the config: split into argv like a POSIX shell, with no shell run.
//!
//! Upstream splits `check_cmd` and the reconfigure commands with Python's
//! `shlex.split(cmd)` (POSIX mode, no comments) and runs the result without a shell, so
//! pipes and redirections need an explicit `sh -c`. We split the same way and, instead of
//! running the program at load time as upstream does, check that it exists and is
//! executable.

use std::ffi::{CString, OsString};
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A command ready to run: the program and its arguments, never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Argv {
    words: Vec<String>,
    /// The same words as C strings, made once: a check runs this every interval.
    c_words: Vec<CString>,
}

/// Why a command line cannot be split into an argv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitError {
    Empty,
    NoClosingQuotation,
    NoEscapedCharacter,
    /// A NUL byte, which no program can be given.
    Nul,
}

impl fmt::Display for SplitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SplitError::Empty => "the command is empty",
            SplitError::NoClosingQuotation => "no closing quotation",
            SplitError::NoEscapedCharacter => "a backslash at the end has nothing to escape",
            SplitError::Nul => "the command contains a NUL byte",
        })
    }
}

impl std::error::Error for SplitError {}

impl Argv {
    /// Splits `line` like `shlex.split` in POSIX mode.
    pub fn parse(line: &str) -> Result<Argv, SplitError> {
        Argv::from_words(split(line)?)
    }

    fn from_words(words: Vec<String>) -> Result<Argv, SplitError> {
        if words.is_empty() {
            return Err(SplitError::Empty);
        }
        let c_words = words
            .iter()
            .map(|word| CString::new(word.as_str()).map_err(|_| SplitError::Nul))
            .collect::<Result<_, _>>()?;
        Ok(Argv { words, c_words })
    }

    pub fn program(&self) -> &str {
        &self.words[0]
    }

    pub fn args(&self) -> &[String] {
        &self.words[1..]
    }

    /// The program and its arguments as C strings, for exec.
    pub fn c_words(&self) -> &[CString] {
        &self.c_words
    }

    /// This command with one more argument, as upstream adds `up`/`down` to a custom
    /// reconfigure command.
    pub fn with_arg(&self, arg: &str) -> Argv {
        let mut argv = self.clone();
        argv.words.push(arg.to_string());
        // `arg` is "up" or "down"; a NUL in it could only be a caller's bug.
        argv.c_words.push(CString::new(arg.replace('\0', "")).unwrap_or_default());
        argv
    }
}

impl fmt::Display for Argv {
    /// The command as it could be typed again: words joined by spaces, quoted like
    /// Python's `shlex.join` where needed (`sh -c 'exit 1'`), so a logged command reads
    /// as the one in the config. Written straight out: a check logs it every interval.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, word) in self.words.iter().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            write_quoted(f, word)?;
        }
        Ok(())
    }
}

/// `word` as a POSIX shell reads it back: unchanged when it holds only safe characters,
/// else in single quotes (a `'` inside becomes `'"'"'`).
fn write_quoted(f: &mut fmt::Formatter<'_>, word: &str) -> fmt::Result {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        return f.write_str(word);
    }
    f.write_str("'")?;
    for (index, piece) in word.split('\'').enumerate() {
        if index > 0 {
            f.write_str("'\"'\"'")?;
        }
        f.write_str(piece)?;
    }
    f.write_str("'")
}

/// The words of `line`: space, tab, CR and LF separate; `'…'` is literal; in `"…"` a backslash
/// escapes only `"` and `\`; outside quotes a backslash escapes any character.
pub(crate) fn split(line: &str) -> Result<Vec<String>, SplitError> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            // shlex's whitespace is these four; any other space (NBSP, VT, FF, U+3000)
            // is part of a word, as upstream reads it.
            ' ' | '\t' | '\r' | '\n' => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(SplitError::NoClosingQuotation),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err(SplitError::NoClosingQuotation),
                        },
                        Some(c) => word.push(c),
                        None => return Err(SplitError::NoClosingQuotation),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err(SplitError::NoEscapedCharacter),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

/// Where `program` would be found by `execvp`: a name with a slash is used as it is,
/// any other is searched for in `$PATH`. The result must be a regular, executable file.
pub fn find_program(program: &str) -> Result<PathBuf, String> {
    if program.contains('/') {
        let path = Path::new(program);
        return check_executable(path).map(|()| path.to_path_buf());
    }
    let search_path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/bin:/bin"));
    for dir in std::env::split_paths(&search_path) {
        let candidate = dir.join(program);
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(format!("program {program:?} is not found in PATH"))
}

fn check_executable(path: &Path) -> Result<(), String> {
    let meta = std::fs::metadata(path).map_err(|err| format!("{}: {err}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(format!("{} is not executable", path.display()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_like_shlex_join_and_round_trips() {
        for (line, shown) in [
            ("/bin/sh -c 'exit 1'", "/bin/sh -c 'exit 1'"),
            (
                "/usr/bin/curl -fsS http://127.0.0.1:80/x?a=1",
                "/usr/bin/curl -fsS 'http://127.0.0.1:80/x?a=1'",
            ),
            ("echo \"it's\" ''", "echo 'it'\"'\"'s' ''"),
            ("/bin/true", "/bin/true"),
        ] {
            let argv = Argv::parse(line).unwrap();
            assert_eq!(argv.to_string(), shown);
            assert_eq!(Argv::parse(shown).unwrap(), argv, "{shown} reads back as {line}");
        }
    }

    fn words(line: &str) -> Vec<String> {
        split(line).expect(line)
    }

    #[test]
    fn splits_like_python_shlex() {
        assert_eq!(words("/bin/check  -x  'a b' \"c d\""), ["/bin/check", "-x", "a b", "c d"]);
        assert_eq!(words(r#"a\ b "x\"y" "p\q" 'r\s'"#), ["a b", "x\"y", "p\\q", "r\\s"]);
        assert_eq!(words("a''b \"\""), ["ab", ""]);
        assert_eq!(
            words("sh -c 'exit 3' # not a comment"),
            ["sh", "-c", "exit 3", "#", "not", "a", "comment"]
        );
        // Only space, tab, CR and LF separate, as shlex.whitespace says.
        assert_eq!(words("curl\u{a0}-s\tx\u{b}y\u{3000}z"), ["curl\u{a0}-s", "x\u{b}y\u{3000}z"]);
    }

    #[test]
    fn rejects_what_python_rejects() {
        assert_eq!(Argv::parse("   "), Err(SplitError::Empty));
        assert_eq!(Argv::parse("a 'b"), Err(SplitError::NoClosingQuotation));
        assert_eq!(Argv::parse("a \"b"), Err(SplitError::NoClosingQuotation));
        assert_eq!(Argv::parse("a \\"), Err(SplitError::NoEscapedCharacter));
    }

    #[test]
    fn finds_programs_in_path_and_by_path() {
        assert!(find_program("sh").is_ok());
        assert!(find_program("/bin/sh").is_ok());
        assert!(find_program("/nonexistent/foo").is_err());
        assert!(find_program("no-such-program-anywhere").is_err());
        assert!(find_program("/etc/passwd").unwrap_err().contains("not executable"));
        assert!(find_program("/etc").unwrap_err().contains("not a regular file"));
    }
}
