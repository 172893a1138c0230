//! Secrets come from files (systemd credentials), never argv. A secret file must not be
//! readable by everyone; its content is used as is, without a trailing newline.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

/// Why a secret file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file cannot be read.
    #[error("cannot read {path}: {cause}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        cause: std::io::Error,
    },
    /// Others may read it.
    #[error("{path} is readable by other users (mode {mode:o}); chmod o-rwx it")]
    WorldReadable {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// It is empty.
    #[error("{0} is empty")]
    Empty(String),
}

/// Checks a secret file's permissions and that it can be read.
pub fn check_file(path: &Path) -> Result<(), SecretError> {
    read_file(path).map(drop)
}

/// Reads a secret file: permissions checked, one trailing newline removed.
pub fn read_file(path: &Path) -> Result<Vec<u8>, SecretError> {
    let p = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|cause| SecretError::Read { path: p.clone(), cause })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o007 != 0 {
        return Err(SecretError::WorldReadable { path: p, mode });
    }
    let mut bytes = std::fs::read(path).map_err(|cause| SecretError::Read { path: p.clone(), cause })?;
    if bytes.last() == Some(&b'\n') {
        bytes.pop();
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
    }
    if bytes.is_empty() {
        return Err(SecretError::Empty(p));
    }
    Ok(bytes)
}

/// Writes a new random secret (32 bytes from the system's CSPRNG, as 64 hex characters) to
/// `path`, created with mode 0600; an existing file is never overwritten.
pub fn generate(path: &Path) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| std::io::Error::other("no randomness available"))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(hex.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_and_newline() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        std::fs::write(&f, "secret\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_file(&f).unwrap(), b"secret");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = read_file(&f).unwrap_err();
        assert!(e.to_string().contains("readable by other users (mode 644)"), "{e}");
        assert!(matches!(read_file(&dir.path().join("missing")), Err(SecretError::Read { .. })));
        std::fs::write(&f, "\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(matches!(read_file(&f), Err(SecretError::Empty(_))));
    }
}
