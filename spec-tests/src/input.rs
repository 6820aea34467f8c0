//! The files a user names to the suite's tools: JSON reports (`cors-conformance merge`,
//! `cors-peer classify`), a known-failures file (`run --known-failures`) and the upstream's log
//! (`run --upstream-log FILE`).
//!
//! Each is read only when it is a regular file (after symbolic links) of at most
//! [`MAX_INPUT_FILE`] bytes, the way cors-policy reads policy files (F-CD): the kind is looked at
//! before the file is opened, since opening a fifo for reading waits for a writer, and the size
//! is checked from the metadata and again while reading (a file under `/proc` says 0 bytes; a log
//! may grow meanwhile), so no more than the cap and one byte is ever read. cors-policy's reader is
//! private to it and answers with its own diagnostics; this one answers with a line to print.

use std::fmt;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// The largest file the suite's tools read, in bytes (64 MiB). The JSON reports of every case of
/// every profile take 0.6 MiB (cors-gateway's) to 0.8 MiB (actix's, with longer answers).
pub const MAX_INPUT_FILE: u64 = 64 * 1024 * 1024;

/// Why a file named to the suite was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InputError {
    /// The file, as given.
    pub path: PathBuf,
    /// Why: `not a regular file but a fifo`, `the file is N bytes, more than the M-byte limit`,
    /// an I/O error, or the first byte that is not UTF-8.
    pub reason: String,
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot read {}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for InputError {}

/// Reads the UTF-8 text of a regular file of at most [`MAX_INPUT_FILE`] bytes.
///
/// # Errors
///
/// The file is not a regular file, is larger than the cap, cannot be read, or is not UTF-8.
/// Nothing is read from a file that is not regular, nor past the cap.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    read_text_capped(path, MAX_INPUT_FILE)
        .map_err(|reason| InputError { path: path.to_owned(), reason })
}

fn read_text_capped(path: &Path, cap: u64) -> Result<String, String> {
    let io = |e: std::io::Error| e.to_string();
    let kind = std::fs::metadata(path).map_err(io)?.file_type();
    if !kind.is_file() {
        return Err(format!("not a regular file but {}", kind_name(kind)));
    }
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    if size > cap {
        return Err(format!("the file is {size} bytes, more than the {cap}-byte limit"));
    }
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > cap {
        return Err(format!("the file holds more than the {cap}-byte limit"));
    }
    String::from_utf8(bytes).map_err(|e| e.utf8_error().to_string())
}

/// What a file that is not regular is.
fn kind_name(kind: std::fs::FileType) -> &'static str {
    if kind.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt as _;
        if kind.is_fifo() {
            return "a fifo";
        } else if kind.is_char_device() {
            return "a character device";
        } else if kind.is_block_device() {
            return "a block device";
        } else if kind.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_under_the_cap_is_read() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("report.json");
        std::fs::write(&path, "{}\n").expect("written");
        assert_eq!(read_text(&path).as_deref(), Ok("{}\n"));
    }

    #[test]
    fn a_file_past_the_cap_is_refused_with_its_size() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("big.json");
        std::fs::write(&path, "0123456789").expect("written");
        let error = read_text_capped(&path, 9).expect_err("refused");
        assert_eq!(error, "the file is 10 bytes, more than the 9-byte limit");
        assert_eq!(read_text_capped(&path, 10).as_deref(), Ok("0123456789"));
    }

    #[test]
    fn a_folder_is_refused() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let error = read_text(dir.path()).expect_err("refused");
        assert_eq!(error.reason, "not a regular file but a folder");
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_unread() {
        let error = read_text(Path::new("/dev/zero")).expect_err("refused");
        assert_eq!(
            error.to_string(),
            "cannot read /dev/zero: not a regular file but a character device"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_that_says_0_bytes_is_read_no_further_than_the_cap() {
        // `/proc/self/maps` is a regular file whose metadata says 0 bytes.
        let error = read_text_capped(Path::new("/proc/self/maps"), 8).expect_err("refused");
        assert_eq!(error, "the file holds more than the 8-byte limit");
    }
}
