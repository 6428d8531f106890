//! The snapshot's byte encoding: a versioned, length-checked, hand-rolled format.
//!
//! Contract:
//! - Layout: `MAGIC` (8 octets) | version (u16) | body length (u32) | body | checksum (32
//!   octets, HMAC-SHA-256 over everything before it under a fixed label). All integers are
//!   big-endian; byte strings and lists carry a u32 length or count first.
//! - [`Reader`] never trusts a length: every read is checked against what is left, so a
//!   truncated, corrupt or hostile input ends in a [`SnapshotError`], never a panic, and never
//!   allocates more than the input's size (lists grow as items are read, not from a count).
//! - The checksum detects corruption and truncation; it is not authentication (its key is a
//!   public constant). The file's protection is where it lives (root-only, 0600, see the
//!   daemon's `handover` module). Key material is only ever in [`zeroize::Zeroizing`] buffers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use zeroize::Zeroizing;

use crate::config::{HwOffload, Identity, Mode};
use crate::engine::sa::Installed;
use crate::engine::{ChildSaId, Direction, PolicyInstall};
use crate::proposal::{Proposal, Transform};
use crate::suite::{self, IkeKeys, Secret};
use crate::ts::TrafficSelector;
use crate::wire::codes::{ProtocolId, TransformType};

/// First octets of every snapshot.
pub const MAGIC: &[u8; 8] = b"IKEDSNAP";
/// The encoding version this build writes and reads.
pub const VERSION: u16 = 1;
/// Checksum length (HMAC-SHA-256).
const CHECKSUM_LEN: usize = 32;
/// PRF_HMAC_SHA2_256 (IANA).
const PRF_SHA256: u16 = 5;
/// The checksum's fixed key: corruption detection only (module contract).
const CHECKSUM_LABEL: &[u8] = b"iked snapshot checksum v1";

/// Why a snapshot was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SnapshotError {
    /// Not a snapshot at all.
    #[error("not an iked state snapshot (bad magic)")]
    BadMagic,
    /// Written by an iked with another encoding.
    #[error(
        "state snapshot version {found} is not supported (this iked reads version {supported})"
    )]
    Version {
        /// Version in the file.
        found: u16,
        /// The version this build reads.
        supported: u16,
    },
    /// Ends before its declared length.
    #[error("state snapshot is truncated")]
    Truncated,
    /// Bytes after the checksum, or a body length that does not match.
    #[error("state snapshot has a wrong length")]
    Length,
    /// The checksum does not match: the file was altered or damaged.
    #[error("state snapshot checksum mismatch (corrupt)")]
    Checksum,
    /// A field holds a value the engine never writes.
    #[error("state snapshot field invalid: {0}")]
    Invalid(&'static str),
}

/// Builds a body (key material included, hence zeroizing).
#[derive(Default)]
pub(crate) struct Writer {
    buf: Zeroizing<Vec<u8>>,
}

impl Writer {
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// Raw octets (tests build hostile bodies with it).
    #[cfg(test)]
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    pub fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    /// A count or length; the engine never holds 4 GiB of anything.
    pub fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.buf.extend_from_slice(b);
    }
    pub fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    pub fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(a) => {
                self.u8(4);
                self.buf.extend_from_slice(&a.octets());
            }
            IpAddr::V6(a) => {
                self.u8(6);
                self.buf.extend_from_slice(&a.octets());
            }
        }
    }
    pub fn sockaddr(&mut self, a: SocketAddr) {
        self.ip(a.ip());
        self.u16(a.port());
    }
    pub fn identity(&mut self, id: &Identity) {
        self.u8(id.kind);
        self.bytes(&id.data);
    }
    pub fn ts(&mut self, ts: &TrafficSelector) {
        self.u8(ts.protocol);
        self.u16(ts.start_port);
        self.u16(ts.end_port);
        self.ip(ts.start);
        self.ip(ts.end);
    }
    pub fn ts_list(&mut self, list: &[TrafficSelector]) {
        self.len(list.len());
        for ts in list {
            self.ts(ts);
        }
    }
    pub fn proposal(&mut self, p: &Proposal) {
        self.u8(p.number);
        self.u8(p.protocol.0);
        self.bytes(&p.spi);
        self.len(p.transforms.len());
        for t in &p.transforms {
            self.u8(t.kind.0);
            self.u16(t.id);
            match t.key_len {
                Some(bits) => {
                    self.u8(1);
                    self.u16(bits);
                }
                None => self.u8(0),
            }
        }
    }
    pub fn secret(&mut self, s: &Secret) {
        self.bytes(s.expose());
    }
    pub fn keys(&mut self, k: &IkeKeys) {
        for s in [
            &k.sk_d, &k.sk_ai, &k.sk_ar, &k.sk_ei, &k.sk_er, &k.sk_pi, &k.sk_pr,
        ] {
            self.secret(s);
        }
    }
    pub fn installed(&mut self, item: &Installed) {
        match item {
            Installed::Sa { src, dst, spi } => {
                self.u8(1);
                self.ip(*src);
                self.ip(*dst);
                self.u32(*spi);
            }
            Installed::Policy(p) => {
                self.u8(2);
                self.u32(p.child.0);
                self.u32(p.reqid);
                self.u8(match p.direction {
                    Direction::In => 0,
                    Direction::Out => 1,
                    Direction::Fwd => 2,
                });
                self.ts(&p.src_ts);
                self.ts(&p.dst_ts);
                self.ip(p.tmpl_src);
                self.ip(p.tmpl_dst);
                self.mode(p.mode);
                self.u8(match p.hw_offload {
                    HwOffload::No => 0,
                    HwOffload::Crypto => 1,
                    HwOffload::Packet => 2,
                    HwOffload::Auto => 3,
                });
            }
        }
    }
    fn mode(&mut self, m: Mode) {
        self.u8(match m {
            Mode::Tunnel => 0,
            Mode::Transport => 1,
        });
    }

    /// The complete snapshot: header, body, checksum.
    pub fn finish(self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(self.buf.len().saturating_add(46)));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&VERSION.to_be_bytes());
        out.extend_from_slice(
            &u32::try_from(self.buf.len())
                .unwrap_or(u32::MAX)
                .to_be_bytes(),
        );
        out.extend_from_slice(&self.buf);
        let sum = checksum(&out);
        out.extend_from_slice(&sum);
        out
    }
}

fn checksum(data: &[u8]) -> [u8; CHECKSUM_LEN] {
    let mut out = [0u8; CHECKSUM_LEN];
    // HMAC-SHA-256 is always available; a failure would leave zeros, which never verify.
    if let Ok(mac) = suite::prf(PRF_SHA256, CHECKSUM_LABEL, &[data]) {
        for (o, m) in out.iter_mut().zip(mac.expose()) {
            *o = *m;
        }
    }
    out
}

/// Checks the frame (magic, version, lengths, checksum) and returns the body.
pub(crate) fn open_frame(input: &[u8]) -> Result<&[u8], SnapshotError> {
    let Some(after_magic) = input.strip_prefix(MAGIC) else {
        return Err(SnapshotError::BadMagic);
    };
    let mut r = Reader::new(after_magic);
    let version = r.u16()?;
    if version != VERSION {
        return Err(SnapshotError::Version {
            found: version,
            supported: VERSION,
        });
    }
    let body_len = r.u32()? as usize;
    // Magic, version (2 octets) and body length (4 octets).
    const HEADER: usize = MAGIC.len() + 6;
    let header = HEADER;
    let Some(total) = header
        .checked_add(body_len)
        .and_then(|n| n.checked_add(CHECKSUM_LEN))
    else {
        return Err(SnapshotError::Length);
    };
    if input.len() < total {
        return Err(SnapshotError::Truncated);
    }
    if input.len() > total {
        return Err(SnapshotError::Length);
    }
    // input.len() == total >= header + CHECKSUM_LEN, so neither fails.
    let (framed, sum) = input
        .split_last_chunk::<CHECKSUM_LEN>()
        .ok_or(SnapshotError::Truncated)?;
    if !suite::ct_eq(&checksum(framed), sum) {
        return Err(SnapshotError::Checksum);
    }
    framed.get(header..).ok_or(SnapshotError::Truncated)
}

/// Reads a body; every read checks what is left (module contract).
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if self.buf.len() < n {
            return Err(SnapshotError::Truncated);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], SnapshotError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    pub fn u8(&mut self) -> Result<u8, SnapshotError> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }
    pub fn bool(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SnapshotError::Invalid("boolean")),
        }
    }
    pub fn u16(&mut self) -> Result<u16, SnapshotError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    pub fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    pub fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// A count of items that follow; each item takes at least one octet, so a count larger
    /// than what is left is refused before any loop runs.
    pub fn count(&mut self) -> Result<usize, SnapshotError> {
        let n = self.u32()? as usize;
        if n > self.buf.len() {
            return Err(SnapshotError::Truncated);
        }
        Ok(n)
    }
    pub fn bytes(&mut self) -> Result<&'a [u8], SnapshotError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    pub fn vec(&mut self) -> Result<Vec<u8>, SnapshotError> {
        Ok(self.bytes()?.to_vec())
    }
    pub fn string(&mut self) -> Result<String, SnapshotError> {
        String::from_utf8(self.vec()?).map_err(|_| SnapshotError::Invalid("name is not UTF-8"))
    }
    pub fn ip(&mut self) -> Result<IpAddr, SnapshotError> {
        match self.u8()? {
            4 => Ok(IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))),
            _ => Err(SnapshotError::Invalid("address family")),
        }
    }
    pub fn sockaddr(&mut self) -> Result<SocketAddr, SnapshotError> {
        Ok(SocketAddr::new(self.ip()?, self.u16()?))
    }
    pub fn identity(&mut self) -> Result<Identity, SnapshotError> {
        Ok(Identity {
            kind: self.u8()?,
            data: self.vec()?,
        })
    }
    pub fn ts(&mut self) -> Result<TrafficSelector, SnapshotError> {
        let ts = TrafficSelector {
            protocol: self.u8()?,
            start_port: self.u16()?,
            end_port: self.u16()?,
            start: self.ip()?,
            end: self.ip()?,
        };
        if ts.start.is_ipv4() != ts.end.is_ipv4() {
            return Err(SnapshotError::Invalid("selector mixes address families"));
        }
        Ok(ts)
    }
    pub fn ts_list(&mut self) -> Result<Vec<TrafficSelector>, SnapshotError> {
        let n = self.count()?;
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.ts()?);
        }
        Ok(out)
    }
    pub fn proposal(&mut self) -> Result<Proposal, SnapshotError> {
        let number = self.u8()?;
        let protocol = self.u8()?;
        let spi = self.vec()?;
        let n = self.count()?;
        let mut transforms = Vec::new();
        for _ in 0..n {
            let kind = self.u8()?;
            let id = self.u16()?;
            let key_len = if self.bool()? {
                Some(self.u16()?)
            } else {
                None
            };
            transforms.push(Transform {
                kind: TransformType(kind),
                id,
                key_len,
            });
        }
        Ok(Proposal {
            number,
            protocol: ProtocolId(protocol),
            spi,
            transforms,
        })
    }
    pub fn secret(&mut self) -> Result<Secret, SnapshotError> {
        Ok(Secret::from_slice(self.bytes()?))
    }
    pub fn keys(&mut self) -> Result<IkeKeys, SnapshotError> {
        Ok(IkeKeys {
            sk_d: self.secret()?,
            sk_ai: self.secret()?,
            sk_ar: self.secret()?,
            sk_ei: self.secret()?,
            sk_er: self.secret()?,
            sk_pi: self.secret()?,
            sk_pr: self.secret()?,
        })
    }
    pub fn installed(&mut self) -> Result<Installed, SnapshotError> {
        match self.u8()? {
            1 => Ok(Installed::Sa {
                src: self.ip()?,
                dst: self.ip()?,
                spi: self.u32()?,
            }),
            2 => Ok(Installed::Policy(PolicyInstall {
                child: ChildSaId(self.u32()?),
                reqid: self.u32()?,
                direction: match self.u8()? {
                    0 => Direction::In,
                    1 => Direction::Out,
                    2 => Direction::Fwd,
                    _ => return Err(SnapshotError::Invalid("policy direction")),
                },
                src_ts: self.ts()?,
                dst_ts: self.ts()?,
                tmpl_src: self.ip()?,
                tmpl_dst: self.ip()?,
                mode: self.mode()?,
                hw_offload: match self.u8()? {
                    0 => HwOffload::No,
                    1 => HwOffload::Crypto,
                    2 => HwOffload::Packet,
                    3 => HwOffload::Auto,
                    _ => return Err(SnapshotError::Invalid("hw_offload")),
                },
            })),
            _ => Err(SnapshotError::Invalid("installed item")),
        }
    }
    fn mode(&mut self) -> Result<Mode, SnapshotError> {
        match self.u8()? {
            0 => Ok(Mode::Tunnel),
            1 => Ok(Mode::Transport),
            _ => Err(SnapshotError::Invalid("mode")),
        }
    }
}
