//! Files the app writes where the person will find them (their Downloads
//! folder). The app names them itself — never from an id or a title the
//! server sent — and never writes over a file that is already there.

use crate::error::{CoreError, Invalid, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `dir/stem.extension`, or `stem (2).extension` and so on
/// when that exists. Only letters, digits and `-` are kept of `stem`.
pub fn write_new(dir: &Path, stem: &str, extension: &str, bytes: &[u8]) -> Result<PathBuf> {
    let clean: String = stem
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    let clean = if clean.is_empty() {
        "file".to_owned()
    } else {
        clean
    };
    for n in 1..=999 {
        let name = match n {
            1 => format!("{clean}.{extension}"),
            n => format!("{clean} ({n}).{extension}"),
        };
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut file) => {
                file.write_all(bytes)?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(CoreError::InvalidInput(Invalid::FolderFull))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_app_and_nothing_is_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_new(dir.path(), "appointment-2026-11-24", "ics", b"one").unwrap();
        assert_eq!(first, dir.path().join("appointment-2026-11-24.ics"));
        let second = write_new(dir.path(), "appointment-2026-11-24", "ics", b"two").unwrap();
        assert_eq!(second, dir.path().join("appointment-2026-11-24 (2).ics"));
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        // Whatever a stem carries, the file stays in the folder.
        for hostile in ["../../.bashrc", "/etc/passwd", "a\0b", "..", ""] {
            let p = write_new(dir.path(), hostile, "ics", b"x").unwrap();
            assert_eq!(p.parent(), Some(dir.path()), "{hostile:?} -> {p:?}");
        }
    }
}
