//! `log_file`, rotated by size as Python's `RotatingFileHandler` does.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A log file rotated by size, as Python's `RotatingFileHandler`: before a line that
/// would pass `max_bytes`, `x.log.N-1` becomes `x.log.N`, ..., `x.log` becomes
/// `x.log.1`, and a new `x.log` is started. `max_bytes` or `backups` of 0: never rotate.
///
/// Lines are kept until [`RotatingFile::flush`], which the logging thread calls at the
/// end of each batch: a thousand services logging every check make one write per batch
/// instead of one per line.
pub(super) struct RotatingFile {
    path: PathBuf,
    file: File,
    /// Bytes in the file, including `pending`.
    size: u64,
    max_bytes: u64,
    backups: u32,
    pending: Vec<u8>,
    pending_lines: u64,
}

impl RotatingFile {
    pub(super) fn open(path: &Path, max_bytes: u64, backups: u32) -> std::io::Result<RotatingFile> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            size,
            max_bytes,
            backups,
            pending: Vec::new(),
            pending_lines: 0,
        })
    }

    /// Adds a line; on error (writing before a rotation, or the rotation, failed) it
    /// returns how many lines were lost, this one included.
    pub(super) fn write_line(&mut self, text: &str) -> Result<(), u64> {
        let length = text.len() as u64 + 1;
        if self.max_bytes > 0 && self.backups > 0 && self.size + length > self.max_bytes {
            self.flush().map_err(|lost| lost + 1)?;
            // logrotate's copytruncate may have emptied the file behind our back.
            self.size = self.file.metadata().map_or(self.size, |m| m.len());
            if self.size > 0 && self.size + length > self.max_bytes {
                self.rotate().map_err(|_| 1u64)?;
            }
        }
        self.pending.extend_from_slice(text.as_bytes());
        self.pending.push(b'\n');
        self.pending_lines += 1;
        self.size += length;
        Ok(())
    }

    /// Writes the lines kept so far; on error, how many were lost.
    pub(super) fn flush(&mut self) -> Result<(), u64> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let lines = std::mem::take(&mut self.pending_lines);
        let written = self.file.write_all(&self.pending);
        if written.is_err() {
            self.size -= self.pending.len() as u64;
        }
        self.pending.clear();
        // A burst's buffer is not kept for the quiet that follows.
        self.pending.shrink_to(64 * 1024);
        written.map_err(|_| lines)
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        for n in (1..self.backups).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_rotate_by_size_keeping_the_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut file = RotatingFile::open(&path, 100, 2).unwrap();
        for n in 0..20 {
            file.write_line(&format!("line {n:02} {}", "x".repeat(30))).unwrap();
        }
        file.flush().unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
        assert!(dir.path().join("x.log.1").exists() && dir.path().join("x.log.2").exists());
        assert!(!dir.path().join("x.log.3").exists());
        let newest = std::fs::read_to_string(&path).unwrap();
        assert!(newest.contains("line 19"));
    }

    #[test]
    fn lines_reach_the_file_at_flush_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        let mut file = RotatingFile::open(&path, 0, 0).unwrap();
        file.write_line("one").unwrap();
        file.write_line("two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        file.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\n");
        file.write_line("three").unwrap();
        file.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\ntwo\nthree\n");
    }
}
