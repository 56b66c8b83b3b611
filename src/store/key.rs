//! The per-device database key: 32 random bytes, kept hex-encoded in a key
//! file of mode 0600 that is created once, on first start, and refused when
//! other users can read or change it.
//!
//! The key is a raw SQLCipher key (`PRAGMA key = "x'…'"`), so opening the
//! database runs no password KDF: the key already has full entropy.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::RngCore;
use rusqlite::Connection;

use super::error::StoreError;

/// Key length in bytes (AES-256).
const KEY_LEN: usize = 32;
/// A key file larger than this is certainly not ours; it is not read whole.
const MAX_KEY_FILE_LEN: u64 = 1024;

/// A database key in memory. Its bytes are overwritten when it is dropped and
/// it never prints them.
pub struct DbKey {
    /// The raw AES-256 key SQLCipher uses.
    bytes: [u8; KEY_LEN],
}

impl DbKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self, std::io::Error> {
        let mut bytes = [0u8; KEY_LEN];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(std::io::Error::other)?;
        Ok(Self { bytes })
    }

    /// A key with the given bytes; for tests, fixtures and tools.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self { bytes }
    }

    /// Reads the key file at `path`, refusing it when its mode lets group or
    /// others read or write it.
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let read_err = |source| StoreError::KeyFileRead {
            path: path.to_path_buf(),
            source,
        };
        let meta = fs::metadata(path).map_err(read_err)?;
        if !meta.is_file() {
            return Err(StoreError::KeyFileMalformed {
                path: path.to_path_buf(),
                reason: "not a regular file",
            });
        }
        let mode = meta.mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(StoreError::KeyFileInsecure {
                path: path.to_path_buf(),
                mode,
            });
        }
        if meta.len() > MAX_KEY_FILE_LEN {
            return Err(StoreError::KeyFileMalformed {
                path: path.to_path_buf(),
                reason: "far too long",
            });
        }
        let mut text = String::new();
        let read = File::open(path)
            .and_then(|f| f.take(MAX_KEY_FILE_LEN).read_to_string(&mut text))
            .map_err(read_err);
        let parsed = read.and_then(|_| {
            parse_hex(text.trim_end()).map_err(|reason| StoreError::KeyFileMalformed {
                path: path.to_path_buf(),
                reason,
            })
        });
        wipe_string(&mut text);
        parsed.map(|bytes| Self { bytes })
    }

    /// Creates a new key file at `path` with mode 0600 and returns its key.
    ///
    /// The key is written to a temporary file, flushed to disk, then linked
    /// into place, and the directory is flushed too: after a power cut the
    /// key file is either absent or complete, never empty or half-written,
    /// and never lost once a database has been encrypted with it. If another
    /// process created the key file first, that key is returned instead.
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        let create_err = |source| StoreError::KeyFileCreate {
            path: path.to_path_buf(),
            source,
        };
        let key = Self::generate().map_err(create_err)?;
        let tmp = temporary_sibling(path);
        let written = write_new_file(&tmp, &key).map_err(create_err);
        let linked = written.and_then(|()| match fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(create_err(e)),
        });
        // Best effort: a leftover temporary file holds a key nothing uses.
        let _ = fs::remove_file(&tmp);
        if !linked? {
            return Self::load(path);
        }
        sync_parent_dir(path).map_err(create_err)?;
        Ok(key)
    }

    /// Loads the key file, creating it first when it does not exist yet.
    pub fn load_or_create(path: &Path) -> Result<Self, StoreError> {
        match fs::symlink_metadata(path) {
            Ok(_) => Self::load(path),
            Err(e) if e.kind() == ErrorKind::NotFound => Self::create(path),
            Err(source) => Err(StoreError::KeyFileRead {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Keys a freshly opened SQLCipher connection. This must be the first
    /// statement on the connection; a wrong key shows only at the first read.
    pub fn unlock(&self, conn: &Connection) -> rusqlite::Result<()> {
        let mut pragma = String::with_capacity(32 + 2 * KEY_LEN);
        pragma.push_str("PRAGMA key = \"x'");
        push_hex(&mut pragma, &self.bytes);
        pragma.push_str("'\";");
        let result = conn.execute_batch(&pragma);
        wipe_string(&mut pragma);
        result
    }
}

impl fmt::Debug for DbKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DbKey(<redacted>)")
    }
}

impl Drop for DbKey {
    fn drop(&mut self) {
        self.bytes.fill(0);
        // Keeps the compiler from dropping the writes as dead stores; best
        // effort, as with any zeroing in safe Rust.
        std::hint::black_box(&self.bytes);
    }
}

/// Writes `key` as hex to a new file of mode 0600 and flushes it to disk.
fn write_new_file(path: &Path, key: &DbKey) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    let mut text = String::with_capacity(2 * KEY_LEN + 1);
    push_hex(&mut text, &key.bytes);
    text.push('\n');
    let result = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    wipe_string(&mut text);
    result
}

/// A temporary name next to `path`, unique to this process.
fn temporary_sibling(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".new-{}", std::process::id()));
    path.with_file_name(name)
}

/// Flushes the directory holding `path`, so a new entry in it survives a power cut.
pub(crate) fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

fn parse_hex(text: &str) -> Result<[u8; KEY_LEN], &'static str> {
    let raw = text.as_bytes();
    if raw.len() != 2 * KEY_LEN {
        return Err("wrong length");
    }
    let mut out = [0u8; KEY_LEN];
    for (slot, pair) in out.iter_mut().zip(raw.chunks_exact(2)) {
        let hi = hex_value(pair[0]).ok_or("not hexadecimal")?;
        let lo = hex_value(pair[1]).ok_or("not hexadecimal")?;
        *slot = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Overwrites a string that held key material before it is freed.
fn wipe_string(s: &mut String) {
    let mut bytes = std::mem::take(s).into_bytes();
    bytes.fill(0);
    std::hint::black_box(&bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn hex_round_trips_and_rejects_bad_text() {
        let mut text = String::new();
        let bytes: [u8; KEY_LEN] = std::array::from_fn(|i| (i * 7 + 3) as u8);
        push_hex(&mut text, &bytes);
        assert_eq!(text.len(), 64);
        assert_eq!(parse_hex(&text), Ok(bytes));
        assert_eq!(parse_hex(&text.to_uppercase()), Ok(bytes));
        assert_eq!(parse_hex(&text[..62]), Err("wrong length"));
        let mut bad = text.clone();
        bad.replace_range(0..1, "g");
        assert_eq!(parse_hex(&bad), Err("not hexadecimal"));
    }

    #[test]
    fn a_created_key_file_is_private_complete_and_reloads_to_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.key");
        let created = DbKey::create(&path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.len(), 65, "64 hex digits and a newline");
        let loaded = DbKey::load(&path).unwrap();
        assert_eq!(created.bytes, loaded.bytes);
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        // A second create keeps the first key rather than replacing it.
        let again = DbKey::create(&path).unwrap();
        assert_eq!(again.bytes, created.bytes);
    }

    #[test]
    fn two_generated_keys_differ() {
        let a = DbKey::generate().unwrap();
        let b = DbKey::generate().unwrap();
        assert_ne!(a.bytes, b.bytes);
        assert_ne!(a.bytes, [0u8; KEY_LEN]);
    }

    #[test]
    fn debug_output_hides_the_key() {
        let key = DbKey::from_bytes([0xab; KEY_LEN]);
        let shown = format!("{key:?}");
        assert!(!shown.contains("ab"), "{shown}");
    }

    #[test]
    fn malformed_key_files_are_refused_without_echoing_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.key");
        fs::write(&path, "secret-looking-garbage\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = DbKey::load(&path).unwrap_err();
        assert!(matches!(err, StoreError::KeyFileMalformed { .. }), "{err}");
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
