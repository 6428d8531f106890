//! Hitless restart: the state file one iked hands to the next.
//!
//! Contract:
//! - On SIGUSR2 (what `iked.service` sends when systemd is restarting the unit, see the
//!   README) the daemon (`restart.rs`, the loop's side) waits briefly for its exchanges in
//!   flight to finish, writes the
//!   engine's snapshot of its established IKE SAs ([`iked_ike::engine::Snapshot`]) with the
//!   kernel reqid space it used to [`DEFAULT_STATE_FILE`] (`--state-file`), and exits without
//!   sending DELETEs or touching the kernel: ESP keeps flowing on the kernel SAs.
//! - The file: `IKEDHAND` | version (u16) | reqid offset (u32) | daemon state length (u32) |
//!   daemon state (`handover_state`: unique marks, trap reqids) | engine snapshot (itself
//!   versioned and checksummed). Version 1 (no daemon state) is still read: an upgrade from
//!   an iked that wrote it stays hitless. It is written to a temporary name created exclusively with
//!   mode 0600 in a directory created 0700, fsynced and renamed into place (atomic: a reader
//!   sees the whole file or none). It holds IKE keys: buffers are zeroizing, nothing of it
//!   is ever logged.
//! - At start, [`take`] opens the file without following symlinks and refuses it unless it is
//!   a regular file owned by this user with no group or other permission bits; it is removed
//!   whatever happens (a state is used at most once: a later crash must not resume SAs that
//!   have moved on). A refused or unusable file is a clear error in the log and the start
//!   continues with clean recovery (stale sweep and re-initiation with INITIAL_CONTACT).

use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// Where the state goes by default (`/run`: root-only, gone after a reboot, when the kernel
/// SAs are gone too).
pub const DEFAULT_STATE_FILE: &str = "/run/iked/handover.state";

const MAGIC: &[u8; 8] = b"IKEDHAND";
const VERSION: u16 = 2;
const HEADER: usize = 14;
/// Version 2's header: version 1's and the daemon state's length.
const HEADER_V2: usize = HEADER + 4;
/// No real state comes near this (about 1 KiB per IKE SA); a larger file is refused unread.
const MAX_LEN: u64 = 256 << 20;

/// A state read back: the reqid space, the daemon's state and the engine's snapshot.
pub struct SavedState {
    pub reqid_offset: u32,
    /// `handover_state::DaemonState`'s bytes (empty from a version-1 file).
    pub daemon: Vec<u8>,
    pub engine: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SavedState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedState")
            .field("reqid_offset", &self.reqid_offset)
            .field("daemon_len", &self.daemon.len())
            .field("engine_len", &self.engine.len())
            .finish()
    }
}

/// Why a state file was not used.
#[derive(Debug, thiserror::Error)]
pub enum HandoverError {
    #[error("reading state file {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error(
        "state file {0} is not a private regular file of this user (mode {1:o}, uid {2}): refused"
    )]
    Insecure(PathBuf, u32, u32),
    #[error("state file {0} is too large ({1} bytes): refused")]
    TooLarge(PathBuf, u64),
    #[error("state file {0} is not an iked hand-over state")]
    BadMagic(PathBuf),
    #[error("state file {0} has version {1}, this iked reads version {VERSION}")]
    Version(PathBuf, u16),
    #[error("state file {0} is truncated")]
    Truncated(PathBuf),
}

/// The file's bytes for `engine` (a snapshot), the daemon's state and the reqid space
/// `offset`.
pub fn encode(offset: u32, daemon: &[u8], engine: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(HEADER_V2 + daemon.len() + engine.len()));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_be_bytes());
    out.extend_from_slice(&offset.to_be_bytes());
    out.extend_from_slice(&(daemon.len() as u32).to_be_bytes());
    out.extend_from_slice(daemon);
    out.extend_from_slice(engine);
    out
}

/// Parses the frame; the engine snapshot inside is checked by the engine.
pub fn decode(path: &Path, bytes: &[u8]) -> Result<SavedState, HandoverError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(HandoverError::BadMagic(path.to_owned()));
    }
    if bytes.len() < HEADER {
        return Err(HandoverError::Truncated(path.to_owned()));
    }
    let version = u16::from_be_bytes([bytes[8], bytes[9]]);
    let reqid_offset = u32::from_be_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]);
    let (daemon, engine) = match version {
        1 => (Vec::new(), &bytes[HEADER..]),
        VERSION => {
            let len = bytes
                .get(HEADER..HEADER_V2)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
                .ok_or_else(|| HandoverError::Truncated(path.to_owned()))?;
            let end = HEADER_V2
                .checked_add(len)
                .filter(|end| *end <= bytes.len())
                .ok_or_else(|| HandoverError::Truncated(path.to_owned()))?;
            (bytes[HEADER_V2..end].to_vec(), &bytes[end..])
        }
        _ => return Err(HandoverError::Version(path.to_owned(), version)),
    };
    Ok(SavedState {
        reqid_offset,
        daemon,
        engine: Zeroizing::new(engine.to_vec()),
    })
}

/// Writes `bytes` to `path` atomically, root-only (module contract).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("/"));
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&tmp);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // The rename is durable once the directory is.
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads and removes the state file; `Ok(None)` when there is none (module contract).
pub fn take(path: &Path) -> Result<Option<SavedState>, HandoverError> {
    let io = |e| HandoverError::Io(path.to_owned(), e);
    let mut f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            // A symlink (ELOOP) or anything unreadable: never used again either.
            let _ = std::fs::remove_file(path);
            return Err(io(e));
        }
    };
    // Used at most once, whatever follows.
    let _ = std::fs::remove_file(path);
    let meta = f.metadata().map_err(io)?;
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if !meta.file_type().is_file() || meta.uid() != euid || meta.mode() & 0o077 != 0 {
        return Err(HandoverError::Insecure(
            path.to_owned(),
            meta.mode() & 0o7777,
            meta.uid(),
        ));
    }
    if meta.len() > MAX_LEN {
        return Err(HandoverError::TooLarge(path.to_owned(), meta.len()));
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    Read::by_ref(&mut f)
        .take(MAX_LEN)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    decode(path, &bytes).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("iked-handover-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("sub").join("handover.state")
    }

    #[test]
    fn the_state_file_is_private_atomic_and_read_once() {
        let path = scratch("once");
        let bytes = encode(7, b"daemon", b"IKEDSNAP-engine");
        write(&path, &bytes).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600, "file mode");
        let dir = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(dir.mode() & 0o777, 0o700, "directory mode");
        // No temporary file is left next to it.
        assert_eq!(
            std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1
        );
        let state = take(&path).unwrap().unwrap();
        assert_eq!(state.reqid_offset, 7);
        assert_eq!(state.daemon, b"daemon");
        assert_eq!(&state.engine[..], b"IKEDSNAP-engine");
        assert!(take(&path).unwrap().is_none(), "used at most once");
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn a_readable_or_foreign_state_file_is_refused_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let path = scratch("insecure");
        write(&path, &encode(0, b"", b"x")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = take(&path).unwrap_err();
        assert!(matches!(err, HandoverError::Insecure(..)), "{err}");
        assert!(!path.exists());
        // A symlink is never followed.
        let target = path.with_file_name("target");
        write(&target, &encode(0, b"", b"x")).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(matches!(take(&path), Err(HandoverError::Io(..))));
        assert!(target.exists(), "the link's target is left alone");
        let _ = std::fs::remove_dir_all(path.parent().unwrap().parent().unwrap());
    }

    #[test]
    fn frames_are_checked() {
        let p = Path::new("/x");
        assert!(matches!(
            decode(p, b"junk"),
            Err(HandoverError::BadMagic(_))
        ));
        assert!(matches!(
            decode(p, b"IKEDHAND\x00"),
            Err(HandoverError::Truncated(_))
        ));
        let mut v3 = encode(0, b"", b"").to_vec();
        v3[9] = 3;
        assert!(matches!(decode(p, &v3), Err(HandoverError::Version(_, 3))));
        // A daemon state longer than the file, or no room for its length.
        let mut long = encode(0, b"abc", b"").to_vec();
        long.truncate(long.len() - 1);
        assert!(matches!(decode(p, &long), Err(HandoverError::Truncated(_))));
        assert!(matches!(
            decode(p, &encode(0, b"", b"")[..HEADER + 2]),
            Err(HandoverError::Truncated(_))
        ));
        // Version 1 (an upgrade from an iked without the daemon state): all engine.
        let mut v1 = b"IKEDHAND\x00\x01\x00\x00\x00\x05".to_vec();
        v1.extend_from_slice(b"IKEDSNAP");
        let s = decode(p, &v1).unwrap();
        assert_eq!((s.reqid_offset, s.daemon.len()), (5, 0));
        assert_eq!(&s.engine[..], b"IKEDSNAP");
    }
}
