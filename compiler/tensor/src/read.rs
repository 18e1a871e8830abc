//! Reading input files whole, bounded: a regular file is read at its size; anything else
//! (a device such as `/dev/zero`, a FIFO, a process substitution) is read up to
//! [`MAX_STREAM_BYTES`], so an endless stream is an error rather than a process that
//! grows until it is killed.

use std::io::Read;
use std::path::Path;

/// The most bytes read from a file that is not a regular file: 1 GiB.
pub const MAX_STREAM_BYTES: u64 = 1 << 30;

/// The bytes of `path`, bounded as the module says.
pub fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    if std::fs::metadata(path)?.is_file() {
        return std::fs::read(path);
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_STREAM_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_STREAM_BYTES {
        return Err(std::io::Error::other(format!(
            "it is not a regular file and gives more than {MAX_STREAM_BYTES} bytes"
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_whole_and_endless_streams_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.bin");
        std::fs::write(&f, b"abc").unwrap();
        assert_eq!(read_bounded(&f).unwrap(), b"abc");
        if Path::new("/dev/null").exists() {
            assert!(read_bounded(Path::new("/dev/null")).unwrap().is_empty());
        }
        assert!(read_bounded(&dir.path().join("missing")).is_err());
    }
}
