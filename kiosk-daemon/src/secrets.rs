//! Private keys at rest: written readable by their owner only, and refused when anyone
//! else could read them (a key that leaked to another account is not the kiosk's any more).
//!
//! The daemon's three private keys go through here: the certificate signing key
//! (`signing.key`), the e-government client key and the I/O board's unlock key.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Why a private key was not loaded or written.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file is missing or unreadable.
    #[error("{what} {path}: {source}")]
    Io {
        /// Which key.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Group or others may read or write it.
    #[error(
        "{what} {path} is readable by others (mode {mode:03o}): refused; chmod 600 it and replace the key if it may have leaked"
    )]
    Exposed {
        /// Which key.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Refuses `path` unless only its owner can read it.
pub fn check_private(path: &Path, what: &'static str) -> Result<(), SecretError> {
    let meta = std::fs::metadata(path).map_err(|source| SecretError::Io {
        what,
        path: path.to_owned(),
        source,
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::Exposed {
            what,
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Reads a private key file, after [`check_private`]; the text is wiped when dropped.
pub fn read_private(path: &Path, what: &'static str) -> Result<Zeroizing<String>, SecretError> {
    check_private(path, what)?;
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|source| SecretError::Io {
            what,
            path: path.to_owned(),
            source,
        })
}

/// Writes a private key file readable by its owner only (created 0600, never widened).
pub fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // An existing file keeps its mode on open: narrow it too.
    f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// 32 bytes from the kernel's random source, for keys the demo and tests make.
pub fn random_32() -> std::io::Result<Zeroizing<[u8; 32]>> {
    use std::io::Read;
    let mut b = Zeroizing::new([0u8; 32]);
    std::fs::File::open("/dev/urandom")?.read_exact(b.as_mut())?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_others_can_read_is_refused_and_one_written_here_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "secret").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_private(&p, "test key").unwrap_err();
        assert!(matches!(e, SecretError::Exposed { mode: 0o644, .. }), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(read_private(&p, "test key").is_err(), "group-readable too");
        // Rewriting narrows an existing file's mode.
        write_private(&p, "new").unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(read_private(&p, "test key").unwrap().as_str(), "new");
        assert!(matches!(
            read_private(&dir.path().join("none"), "test key"),
            Err(SecretError::Io { .. })
        ));
    }
}
