//! Output files written all or none: each file is staged (written in full to a temporary
//! file beside its target) and only when every one is staged are they moved into place,
//! so a failure while writing leaves no new or partial file behind. Committing writes the
//! files that must be written in place first, then renames the rest; a rename fails only
//! if the file system changed under the command, and then the files already renamed stay.
//!
//! A target that is a symbolic link is written through (the link's final target is
//! replaced, the link stays); a target that exists and is not a regular file (a device
//! such as `/dev/null`, a FIFO) is written in place at commit, as a shell redirection would,
//! since renaming over it would replace the device. So is an existing regular file in a
//! directory where no temporary file can be made (it is writable, its directory is not).
//! New files get the usual mode (`0666` less the umask).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How one staged file reaches its target.
#[derive(Debug)]
enum Route {
    /// Renamed from this temporary file.
    Rename(PathBuf),
    /// Written in place at commit (devices, FIFOs, unrenameable regular files).
    InPlace(Vec<u8>),
}

/// A set of output files committed together ([`Staged::commit`]); dropping it uncommitted
/// removes its temporary files.
#[derive(Debug, Default)]
pub struct Staged {
    files: Vec<(PathBuf, Route)>,
}

impl Staged {
    pub fn new() -> Staged {
        Staged::default()
    }

    /// Stages `bytes` for `path`. The error names the path.
    pub fn add(&mut self, path: &Path, bytes: &[u8]) -> Result<(), String> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let fail = |e: std::io::Error| format!("cannot write {}: {e}", path.display());
        let target = resolve_links(path).map_err(fail)?;
        if self.files.iter().any(|(t, _)| *t == target) {
            return Err(format!(
                "cannot write {}: the same file is written twice",
                path.display()
            ));
        }
        let meta = std::fs::metadata(&target).ok();
        if meta.as_ref().is_some_and(|m| m.is_dir()) {
            return Err(format!(
                "cannot write {}: it is a directory",
                path.display()
            ));
        }
        if meta.as_ref().is_some_and(|m| !m.is_file()) {
            self.files.push((target, Route::InPlace(bytes.to_vec())));
            return Ok(());
        }
        let name = target
            .file_name()
            .ok_or_else(|| format!("cannot write {}: not a file path", path.display()))?;
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = dir.join(format!(
            ".{}.tmp-{}-{}",
            name.to_string_lossy(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp);
        let mut f = match opened {
            Ok(f) => f,
            // No temporary file can be made there, but the file itself may be writable.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && meta.is_some() => {
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&target)
                    .map_err(|_| fail(e))?;
                self.files.push((target, Route::InPlace(bytes.to_vec())));
                return Ok(());
            }
            Err(e) => return Err(fail(e)),
        };
        // Registered first, so that a failed write still removes the temporary file.
        self.files.push((target, Route::Rename(tmp)));
        f.write_all(bytes).map_err(fail)?;
        f.sync_all().map_err(fail)?;
        Ok(())
    }

    /// Moves every staged file into place: first the ones written in place (devices and
    /// the like, where a write can fail late, e.g. a full `/dev/full`), then the renames,
    /// which fail only if the file system changed since staging. The error names the file
    /// that could not be written; temporary files not yet renamed are removed.
    pub fn commit(mut self) -> Result<(), String> {
        let files = std::mem::take(&mut self.files);
        let (in_place, renames): (Vec<_>, Vec<_>) = files
            .into_iter()
            .partition(|(_, r)| matches!(r, Route::InPlace(_)));
        // Whatever is left when a step fails is dropped with `self`, which removes it.
        self.files = renames;
        for (target, route) in in_place {
            let Route::InPlace(bytes) = route else {
                continue;
            };
            let fail = |e: std::io::Error| format!("cannot write {}: {e}", target.display());
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&target)
                .map_err(fail)?;
            f.write_all(&bytes).map_err(fail)?;
            f.flush().map_err(fail)?;
        }
        while !self.files.is_empty() {
            let (target, route) = self.files.remove(0);
            if let Route::Rename(tmp) = route {
                if let Err(e) = std::fs::rename(&tmp, &target) {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(format!("cannot write {}: {e}", target.display()));
                }
            }
        }
        Ok(())
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        for (_, route) in &self.files {
            if let Route::Rename(tmp) = route {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}

/// `path` with symbolic links followed to the file they finally name (which need not
/// exist), in a directory made absolute when it exists.
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            // The directory made absolute, so that `a.npy` and `./a.npy` are one file.
            _ => {
                return Ok(match (p.parent(), p.file_name()) {
                    (Some(dir), Some(name)) => {
                        let dir = if dir.as_os_str().is_empty() {
                            Path::new(".")
                        } else {
                            dir
                        };
                        dir.canonicalize().map(|d| d.join(name)).unwrap_or(p)
                    }
                    _ => p,
                })
            }
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Writes `bytes` to `path` as a set of one file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut s = Staged::new();
    s.add(path, bytes)?;
    s.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_is_written_all_or_none() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
        let mut s = Staged::new();
        s.add(&a, b"one").unwrap();
        let bad = dir.path().join("missing/c.bin");
        assert!(s.add(&bad, b"x").unwrap_err().contains("missing/c.bin"));
        drop(s);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert!(left.is_empty(), "{left:?}");
        let mut s = Staged::new();
        s.add(&a, b"one").unwrap();
        s.add(&b, b"two").unwrap();
        assert!(s.add(&a, b"again").unwrap_err().contains("twice"));
        let dotted = dir.path().join(".").join("b.bin");
        assert!(s.add(&dotted, b"again").unwrap_err().contains("twice"));
        s.commit().unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"one");
        assert_eq!(std::fs::read(&b).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn links_are_written_through_and_devices_in_place() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.bin");
        std::fs::write(&real, b"old").unwrap();
        let link = dir.path().join("link.bin");
        symlink("real.bin", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A device stays a device (and a full one reports its error).
        write_atomic(Path::new("/dev/null"), b"x").unwrap();
        assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
        if Path::new("/dev/full").exists() {
            let e = write_atomic(Path::new("/dev/full"), b"x").unwrap_err();
            assert!(e.contains("/dev/full"), "{e}");
        }
        // New files get the mode any new file gets (the umask's), as `std::fs::write` does.
        let (fresh, plain) = (dir.path().join("fresh.bin"), dir.path().join("plain.bin"));
        write_atomic(&fresh, b"x").unwrap();
        std::fs::write(&plain, b"x").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), mode(&plain));
        // A device that fails at commit leaves neither the other file nor a temporary one.
        if Path::new("/dev/full").exists() {
            let h = dir.path().join("m.h");
            let mut s = Staged::new();
            s.add(Path::new("/dev/full"), b"x").unwrap();
            s.add(&h, b"header").unwrap();
            assert!(s.commit().unwrap_err().contains("/dev/full"));
            let names: Vec<_> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("m.h"))
                .collect();
            assert!(names.is_empty(), "{names:?}");
        }
        // A directory is refused.
        assert!(write_atomic(dir.path(), b"x")
            .unwrap_err()
            .contains("directory"));
    }
}
