//! Reading files a user names: regular files only, bounded in size, never blocking on a FIFO.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// Config files, credential files, certificates and token stores are far smaller than this.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a regular file (it is {0})")]
    NotRegular(&'static str),
    #[error("too large ({size} bytes; the limit is {limit} bytes)")]
    TooLarge { size: u64, limit: u64 },
    #[error("not UTF-8 text: invalid byte 0x{byte:02x} at line {line}, column {column}")]
    NotUtf8 { byte: u8, line: usize, column: usize },
}

impl ReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

fn kind_of(t: std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a file"
    }
}

/// Reads a regular file of at most `limit` bytes.
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let before = std::fs::metadata(path)?;
    if !before.is_file() {
        return Err(ReadError::NotRegular(kind_of(before.file_type())));
    }
    // O_NONBLOCK: if the path was swapped for a FIFO since the check, open must not wait for a writer.
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(kind_of(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge { size: meta.len(), limit });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { size: bytes.len() as u64, limit });
    }
    Ok(bytes)
}

/// Reads a bounded regular file as UTF-8 text; a bad byte is reported with its line and column.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    let bytes = read_bounded(path, limit)?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let good = &bytes[..e.utf8_error().valid_up_to()];
        let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = 1 + String::from_utf8_lossy(&good[line_start..]).chars().count();
        ReadError::NotUtf8 { byte: bytes[good.len()], line, column }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_devices_fifos_directories_and_big_files() {
        assert!(matches!(read_bounded(Path::new("/dev/zero"), MAX_FILE_BYTES), Err(ReadError::NotRegular("a character device"))));
        assert!(matches!(read_bounded(Path::new("/tmp"), MAX_FILE_BYTES), Err(ReadError::NotRegular("a directory"))));
        let dir = std::env::temp_dir().join(format!("mcpfleet-file-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        let _ = std::fs::remove_file(&fifo);
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(matches!(read_bounded(&fifo, MAX_FILE_BYTES), Err(ReadError::NotRegular("a FIFO"))));
        let big = dir.join("big");
        std::fs::write(&big, vec![b'#'; 2048]).unwrap();
        let e = read_bounded(&big, 1024).unwrap_err();
        assert_eq!(e.to_string(), "too large (2048 bytes; the limit is 1024 bytes)");
        let bad = dir.join("bad");
        std::fs::write(&bad, b"a: 1\nb: \"x\xffy\"\n").unwrap();
        assert_eq!(read_text(&bad, 1024).unwrap_err().to_string(), "not UTF-8 text: invalid byte 0xff at line 2, column 6");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
