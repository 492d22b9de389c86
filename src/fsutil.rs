//! File IO that hostile or careless paths cannot turn against glasskey.
//!
//! - Reads open regular files only (a FIFO would hang, `/dev/zero` would exhaust
//!   memory), never block on open (`O_NONBLOCK`), and stop at a size bound.
//! - Writes of kit files go through a fresh temporary file created with
//!   `O_CREAT|O_EXCL|O_NOFOLLOW` and mode 0600 (a pre-placed symlink or file at
//!   the temporary name is refused, never followed or overwritten), then fsync,
//!   rename and directory fsync.
//! - The kit directory is created 0700: it holds seal numbers and custodian names.
//!
//! Errors are `std::io::Error`s whose text names the problem, so callers keep
//! their own "could not read X" context.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Error, ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Mode of every file glasskey writes into a kit.
pub const PRIVATE_FILE: u32 = 0o600;
/// Mode of a kit directory.
pub const PRIVATE_DIR: u32 = 0o700;

/// Open `path` for reading only if it is a regular file; never blocks on open.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        let what = if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_dir() {
            "a directory"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!(
                "{} is {what}; glasskey reads regular files only",
                path.display()
            ),
        ));
    }
    Ok(file)
}

/// Read a regular file of at most `max` bytes.
pub fn read_regular(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let file = open_regular(path)?;
    let too_big = || {
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "{} is larger than {max} bytes, more than this file can plausibly hold",
                path.display()
            ),
        )
    };
    if file.metadata()?.len() > max {
        return Err(too_big());
    }
    let mut out = Vec::new();
    // The file may grow after the size check: read at most one byte more.
    file.take(max + 1).read_to_end(&mut out)?;
    if out.len() as u64 > max {
        return Err(too_big());
    }
    Ok(out)
}

/// [`read_regular`] as UTF-8 text.
pub fn read_regular_text(path: &Path, max: u64) -> std::io::Result<String> {
    String::from_utf8(read_regular(path, max)?).map_err(|_| {
        Error::new(
            ErrorKind::InvalidData,
            format!("{} is not UTF-8 text", path.display()),
        )
    })
}

/// Create `dir` (and missing parents); the last component gets mode 0700. An
/// existing directory keeps its mode.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    match DirBuilder::new().mode(PRIVATE_DIR).create(dir) {
        Err(e) if e.kind() == ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        other => other,
    }
}

/// Create a new file exclusively: fails if anything (file, symlink, FIFO)
/// exists at `path`; mode 0600.
pub fn create_new_private(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Replace `path` atomically with `bytes` (mode 0600): a new temporary file
/// next to it (exclusive, no symlink following), fsync, rename, directory fsync.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("file")
        .to_string();
    let (mut file, tmp) = new_temp(dir, &name)?;
    let written = file
        .write_all(bytes)
        .and_then(|_| file.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// A fresh temporary file `.<name>.<random>.tmp` in `dir`.
fn new_temp(dir: &Path, name: &str) -> std::io::Result<(File, PathBuf)> {
    let mut last = None;
    for _ in 0..16 {
        let mut tag = [0u8; 8];
        rand::Rng::fill_bytes(&mut rand::rng(), &mut tag);
        let tmp = dir.join(format!(".{name}.{:016x}.tmp", u64::from_le_bytes(tag)));
        match create_new_private(&tmp) {
            Ok(f) => return Ok((f, tmp)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| Error::other("no free temporary file name")))
}

/// fsync a directory so a rename in it is durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn fifo_and_devices_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: c is a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let err = read_regular(&fifo, 100).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        let err = read_regular(Path::new("/dev/zero"), 100).unwrap_err();
        assert!(err.to_string().contains("device"), "{err}");
        assert!(read_regular(dir.path(), 100).is_err());
    }

    #[test]
    fn large_files_are_refused_and_small_ones_read() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, vec![b'x'; 101]).unwrap();
        let err = read_regular(&f, 100).unwrap_err();
        assert!(err.to_string().contains("larger than 100"), "{err}");
        assert_eq!(read_regular(&f, 101).unwrap().len(), 101);
    }

    #[test]
    fn atomic_writes_are_private_and_never_follow_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("victim");
        std::fs::write(&target, "precious").unwrap();
        let path = dir.path().join("ledger.head");
        write_atomic(&path, b"1 ab\n").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // An attacker plants a symlink where a temporary file would go.
        let planted = dir.path().join("planted");
        std::os::unix::fs::symlink(&target, &planted).unwrap();
        assert!(create_new_private(&planted).is_err());
        write_atomic(&path, b"2 cd\n").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "2 cd\n");
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn private_dirs_are_0700() {
        let dir = tempfile::tempdir().unwrap();
        let kit = dir.path().join("a/kit");
        create_private_dir(&kit).unwrap();
        let mode = std::fs::metadata(&kit).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
