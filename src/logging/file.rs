//! `log_file`, rotated by size as Python's `RotatingFileHandler` does.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A log file rotated by size, as Python's `RotatingFileHandler`: before a line that
/// would pass `max_bytes`, `x.log.N-1` becomes `x.log.N`, ..., `x.log` becomes
/// `x.log.1`, and a new `x.log` is started. `max_bytes` or `backups` of 0: never rotate.
pub(super) struct RotatingFile {
    path: PathBuf,
    pub(super) file: File,
    size: u64,
    max_bytes: u64,
    backups: u32,
}

impl RotatingFile {
    pub(super) fn open(path: &Path, max_bytes: u64, backups: u32) -> std::io::Result<RotatingFile> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(RotatingFile { path: path.to_path_buf(), file, size, max_bytes, backups })
    }

    pub(super) fn write_line(&mut self, text: &str) -> std::io::Result<()> {
        let bytes = format!("{text}\n");
        let length = bytes.len() as u64;
        if self.max_bytes > 0 && self.backups > 0 && self.size + length > self.max_bytes {
            // logrotate's copytruncate may have emptied the file behind our back.
            self.size = self.file.metadata().map_or(self.size, |m| m.len());
            if self.size > 0 && self.size + length > self.max_bytes {
                self.rotate()?;
            }
        }
        self.file.write_all(bytes.as_bytes())?;
        self.size += length;
        Ok(())
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
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
        assert!(dir.path().join("x.log.1").exists() && dir.path().join("x.log.2").exists());
        assert!(!dir.path().join("x.log.3").exists());
        let newest = std::fs::read_to_string(&path).unwrap();
        assert!(newest.contains("line 19"));
    }
}
