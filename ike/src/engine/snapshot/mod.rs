//! Hitless restart: handing established IKE SAs (and their CHILD_SAs) to a new process.
//!
//! Contract:
//! - [`Engine::snapshot`] encodes every IKE SA that is established and idle (no request of
//!   ours outstanding or waiting, no response parked for the kernel) with its SPIs, addresses,
//!   identities, negotiated proposal, the seven SK_* keys, AEAD IV counter, both message-ID
//!   windows, the last response (so a retransmitted request is still answered), NAT and
//!   fragmentation state, the time left to its IKE rekey, and its installed CHILD_SAs (SPIs,
//!   selectors, proposal, reqid, nonces, what they hold in the kernel). SAs that are busy are
//!   listed in [`Snapshot::skipped`]; the caller may wait and try again, or let them go through
//!   clean recovery. Queued tasks are not saved: the timers that made them run again.
//! - [`Engine::restore`] decodes the whole input first (all or nothing: a corrupt, truncated or
//!   hostile input is a [`SnapshotError`] and changes nothing), then puts each SA back under
//!   its old ids if its connection and children are loaded (else it is reported in
//!   [`Restored::skipped`]). Restored SAs resume as if nothing happened: same SPIs and message
//!   IDs, DPD re-armed, the IKE rekey at its old deadline (time is CLOCK_BOOTTIME in the
//!   daemon, so deadlines carry over within one boot; relative times are stored anyway). The
//!   engine tells the caller which kernel objects the restored children own
//!   ([`Restored::children`]) so that it adopts them instead of sweeping them; it emits no
//!   kernel request and sends nothing.
//! - Restored SAs announce themselves with [`Event::IkeUp`]/[`Event::ChildUp`] (the daemon's
//!   listings and VICI state are rebuilt from them) and a log line saying they were resumed.
//! - The snapshot holds key material: it is returned in a zeroizing buffer and never logged.
//!   The encoding is in `codec.rs`.

mod codec;

use std::net::SocketAddr;
use std::time::Duration;

use zeroize::Zeroizing;

use self::codec::{Reader, Writer};
pub use self::codec::{SnapshotError, VERSION};
use super::core::TimerKey;
use super::sa::{Child, ChildState, Established, IkeCrypto, IkeSa, Installed, NatState, Phase};
use super::{
    AuthVerified, ChildSaId, Direction, Engine, Event, IkeSaId, LogGroup, PolicyInstall, SaInstall,
    Timestamp,
};
use crate::config::Identity;
use crate::proposal::Proposal;
use crate::suite::{IkeKeys, Secret};
use crate::ts::TrafficSelector;

/// An encoded snapshot and what it holds.
pub struct Snapshot {
    /// The encoding (key material: keep it zeroizing, write it only root-only).
    pub bytes: Zeroizing<Vec<u8>>,
    /// The IKE SAs it holds.
    pub saved: Vec<IkeSaId>,
    /// IKE SAs left out, with why (an exchange in progress, not established).
    pub skipped: Vec<(IkeSaId, &'static str)>,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("len", &self.bytes.len())
            .field("saved", &self.saved)
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// What a restore put back.
#[derive(Debug, Default)]
pub struct Restored {
    /// IKE SAs resumed.
    pub ike: Vec<IkeSaId>,
    /// SAs of the snapshot not resumed: (connection, reason).
    pub skipped: Vec<(String, String)>,
    /// The kernel objects of every resumed CHILD_SA, for the caller to adopt.
    pub children: Vec<AdoptedChild>,
}

/// A resumed CHILD_SA's kernel state, described as it was installed (without keys: the
/// kernel has them). The daemon maps these onto the SAs and policies it finds in the kernel.
#[derive(Debug, Clone)]
pub struct AdoptedChild {
    /// The IKE SA.
    pub ike: IkeSaId,
    /// The CHILD_SA (same id as before the restart).
    pub child: ChildSaId,
    /// Inbound SA as installed (keys empty).
    pub sa_in: Box<SaInstall>,
    /// Outbound SA as installed (keys empty).
    pub sa_out: Box<SaInstall>,
    /// Policies as installed.
    pub policies: Vec<PolicyInstall>,
}

/// A decoded CHILD_SA.
struct SavedChild {
    id: ChildSaId,
    name: String,
    spi_in: u32,
    spi_out: u32,
    local_ts: Vec<TrafficSelector>,
    remote_ts: Vec<TrafficSelector>,
    proposal: Proposal,
    installed: Vec<Installed>,
    nonces: (Vec<u8>, Vec<u8>),
    we_initiated: bool,
    reqid: u32,
}

/// A decoded IKE SA.
struct SavedIke {
    id: IkeSaId,
    conn: String,
    initiator: bool,
    spi_i: u64,
    spi_r: u64,
    local: SocketAddr,
    remote: SocketAddr,
    local_id: Identity,
    remote_id: Identity,
    next_request_id: u32,
    expected_request_id: u32,
    last_response: Option<(u32, Vec<Vec<u8>>)>,
    peer_fragments: bool,
    nat: NatState,
    proposal: Proposal,
    keys: IkeKeys,
    iv_counter: u64,
    rekey_in: Option<Duration>,
    children: Vec<SavedChild>,
}

/// Why an SA cannot be saved now, if it cannot.
fn busy(sa: &IkeSa) -> Option<&'static str> {
    if !sa.phase.is_established() {
        Some("not established")
    } else if sa.outstanding.is_some() || sa.pending_send.is_some() {
        Some("exchange in progress")
    } else if sa.parked.is_some() || sa.awaiting_crls.is_some() {
        Some("waiting for the kernel or CRLs")
    } else if sa.crypto.is_none() || sa.remote_id.is_none() {
        Some("no keys")
    } else {
        None
    }
}

/// A child worth handing over: installed, known to the peer, nothing pending.
fn saveable(c: &Child) -> bool {
    c.state == ChildState::Installed && c.peer_knows && c.pending.is_empty()
}

fn encode_sa(
    w: &mut Writer,
    sa: &IkeSa,
    crypto: &IkeCrypto,
    remote_id: &Identity,
    rekey_in: Option<Duration>,
) {
    w.u32(sa.id.0);
    w.str(&sa.config.name);
    w.bool(sa.initiator);
    w.u64(sa.spi_i);
    w.u64(sa.spi_r);
    w.sockaddr(sa.local);
    w.sockaddr(sa.remote);
    w.identity(&sa.local_id);
    w.identity(remote_id);
    w.u32(sa.next_request_id);
    w.u32(sa.expected_request_id);
    match &sa.last_response {
        Some((mid, datagrams)) => {
            w.bool(true);
            w.u32(*mid);
            w.len(datagrams.len());
            for d in datagrams {
                w.bytes(d);
            }
        }
        None => w.bool(false),
    }
    w.bool(sa.fragmentation.peer_supported);
    w.bool(sa.nat.here);
    w.bool(sa.nat.there);
    w.bool(sa.nat.fake);
    w.proposal(&crypto.proposal);
    w.keys(&crypto.keys);
    w.u64(crypto.iv_counter);
    match rekey_in {
        Some(d) => {
            w.bool(true);
            w.u64(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        }
        None => w.bool(false),
    }
    let children: Vec<&Child> = sa.children.iter().filter(|c| saveable(c)).collect();
    w.len(children.len());
    for c in children {
        w.u32(c.id.0);
        w.str(&c.config.name);
        w.u32(c.spi_in);
        w.u32(c.spi_out);
        w.ts_list(&c.local_ts);
        w.ts_list(&c.remote_ts);
        w.proposal(&c.proposal);
        w.len(c.installed.len());
        for i in &c.installed {
            w.installed(i);
        }
        w.bytes(&c.nonces.0);
        w.bytes(&c.nonces.1);
        w.bool(c.we_initiated);
        w.u32(c.reqid);
    }
}

fn decode_sa(r: &mut Reader<'_>) -> Result<SavedIke, SnapshotError> {
    let id = IkeSaId(r.u32()?);
    let conn = r.string()?;
    let initiator = r.bool()?;
    let spi_i = r.u64()?;
    let spi_r = r.u64()?;
    let local = r.sockaddr()?;
    let remote = r.sockaddr()?;
    let local_id = r.identity()?;
    let remote_id = r.identity()?;
    let next_request_id = r.u32()?;
    let expected_request_id = r.u32()?;
    let last_response = if r.bool()? {
        let mid = r.u32()?;
        let n = r.count()?;
        let mut datagrams = Vec::new();
        for _ in 0..n {
            datagrams.push(r.vec()?);
        }
        Some((mid, datagrams))
    } else {
        None
    };
    let peer_fragments = r.bool()?;
    let nat = NatState {
        here: r.bool()?,
        there: r.bool()?,
        fake: r.bool()?,
    };
    let proposal = r.proposal()?;
    if proposal.selected().is_none() {
        return Err(SnapshotError::Invalid("IKE proposal has no encryption"));
    }
    let keys = r.keys()?;
    let iv_counter = r.u64()?;
    let rekey_in = if r.bool()? {
        Some(Duration::from_nanos(r.u64()?))
    } else {
        None
    };
    if spi_i == 0 || spi_r == 0 || id.0 == 0 {
        return Err(SnapshotError::Invalid("zero SPI or id"));
    }
    let n = r.count()?;
    let mut children = Vec::new();
    for _ in 0..n {
        let child = SavedChild {
            id: ChildSaId(r.u32()?),
            name: r.string()?,
            spi_in: r.u32()?,
            spi_out: r.u32()?,
            local_ts: r.ts_list()?,
            remote_ts: r.ts_list()?,
            proposal: r.proposal()?,
            installed: {
                let n = r.count()?;
                let mut items = Vec::new();
                for _ in 0..n {
                    items.push(r.installed()?);
                }
                items
            },
            nonces: (r.vec()?, r.vec()?),
            we_initiated: r.bool()?,
            reqid: r.u32()?,
        };
        if child.proposal.selected().is_none() || child.id.0 == 0 {
            return Err(SnapshotError::Invalid("CHILD_SA proposal or id"));
        }
        children.push(child);
    }
    Ok(SavedIke {
        id,
        conn,
        initiator,
        spi_i,
        spi_r,
        local,
        remote,
        local_id,
        remote_id,
        next_request_id,
        expected_request_id,
        last_response,
        peer_fragments,
        nat,
        proposal,
        keys,
        iv_counter,
        rekey_in,
        children,
    })
}

/// Decodes a whole snapshot (no engine state is touched).
fn decode(input: &[u8]) -> Result<Vec<SavedIke>, SnapshotError> {
    let body = codec::open_frame(input)?;
    let mut r = Reader::new(body);
    let n = r.count()?;
    let mut sas = Vec::new();
    for _ in 0..n {
        sas.push(decode_sa(&mut r)?);
    }
    if !r.is_empty() {
        return Err(SnapshotError::Length);
    }
    let mut ids = std::collections::HashSet::new();
    let mut child_ids = std::collections::HashSet::new();
    for sa in &sas {
        if !ids.insert(sa.id) || sa.children.iter().any(|c| !child_ids.insert(c.id)) {
            return Err(SnapshotError::Invalid("duplicate SA id"));
        }
    }
    Ok(sas)
}

/// Checks a snapshot without restoring it (for `iked --check-state` and tests).
pub fn validate(input: &[u8]) -> Result<usize, SnapshotError> {
    decode(input).map(|sas| sas.len())
}

impl Engine {
    /// Encodes the established, idle IKE SAs (module contract).
    pub fn snapshot(&self, now: Timestamp) -> Snapshot {
        let mut ids: Vec<(IkeSaId, &IkeSa)> =
            self.sas.iter().map(|(id, sa)| (*id, sa.as_ref())).collect();
        ids.sort_by_key(|(id, _)| *id);
        let mut saved = Vec::new();
        let mut skipped = Vec::new();
        let mut body = Writer::default();
        let mut sas = Vec::new();
        for (id, sa) in ids {
            match (busy(sa), sa.crypto.as_ref(), sa.remote_id.as_ref()) {
                (None, Some(crypto), Some(remote_id)) => sas.push((sa, crypto, remote_id)),
                (Some(reason), ..) => skipped.push((id, reason)),
                (None, None, _) => skipped.push((id, "no keys")),
                (None, _, None) => skipped.push((id, "no peer identity")),
            }
        }
        body.len(sas.len());
        for (sa, crypto, remote_id) in sas {
            let rekey_in = self
                .timers
                .deadline(TimerKey::IkeRekey(sa.id))
                .map(|at| at.saturating_since(now));
            encode_sa(&mut body, sa, crypto, remote_id, rekey_in);
            saved.push(sa.id);
        }
        Snapshot {
            bytes: body.finish(),
            saved,
            skipped,
        }
    }

    /// Resumes the SAs of a snapshot (module contract). On error nothing changed.
    pub fn restore(&mut self, now: Timestamp, input: &[u8]) -> Result<Restored, SnapshotError> {
        let saved = decode(input)?;
        let mut out = Restored::default();
        for s in saved {
            let name = s.conn.clone();
            match self.resume(now, s) {
                Ok((id, children)) => {
                    out.ike.push(id);
                    out.children.extend(children);
                }
                Err(reason) => out.skipped.push((name, reason)),
            }
        }
        Ok(out)
    }

    /// Puts one decoded SA back.
    fn resume(
        &mut self,
        now: Timestamp,
        s: SavedIke,
    ) -> Result<(IkeSaId, Vec<AdoptedChild>), String> {
        let config = self
            .connections
            .iter()
            .find(|c| c.name == s.conn)
            .cloned()
            .ok_or_else(|| format!("connection '{}' is not loaded", s.conn))?;
        let our_spi = if s.initiator { s.spi_i } else { s.spi_r };
        if self.sas.contains_key(&s.id) || self.by_spi.contains_key(&our_spi) {
            return Err(format!("IKE SA id {} or its SPI is in use", s.id.0));
        }
        let mut children = Vec::new();
        for c in s.children {
            let cfg = config
                .children
                .iter()
                .find(|cc| cc.name == c.name)
                .cloned()
                .ok_or_else(|| format!("child '{}' is not loaded", c.name))?;
            if self.children.contains_key(&c.id) {
                return Err(format!("CHILD_SA id {} is in use", c.id.0));
            }
            children.push(Child {
                id: c.id,
                config: cfg,
                spi_in: c.spi_in,
                spi_out: c.spi_out,
                local_ts: c.local_ts,
                remote_ts: c.remote_ts,
                proposal: c.proposal,
                state: ChildState::Installed,
                pending: Vec::new(),
                installed: c.installed,
                nonces: c.nonces,
                we_initiated: c.we_initiated,
                reqid: c.reqid,
                peer_knows: true,
                replaced_by: None,
            });
        }
        let suite = s
            .proposal
            .selected()
            .ok_or_else(|| "IKE proposal incomplete".to_string())?;
        let mut sa = Box::new(IkeSa::new(
            s.id,
            config,
            (s.spi_i, s.spi_r),
            (s.local, s.remote),
            s.local_id,
            now,
        ));
        sa.initiator = s.initiator;
        sa.remote_id = Some(s.remote_id);
        sa.next_request_id = s.next_request_id;
        sa.expected_request_id = s.expected_request_id;
        sa.last_response = s.last_response;
        sa.fragmentation.peer_supported = s.peer_fragments;
        sa.nat = s.nat;
        sa.crypto = Some(IkeCrypto {
            proposal: s.proposal,
            suite,
            keys: s.keys,
            iv_counter: s.iv_counter,
        });
        sa.children = children;
        sa.phase = Phase::Established(Established::new(AuthVerified::restored()));
        let adopted = self.index_resumed(&sa);
        self.ids_above(&sa);
        if let Some(d) = s.rekey_in {
            self.timers
                .schedule(TimerKey::IkeRekey(sa.id), now.saturating_add(d));
        }
        self.rearm_dpd(now, &sa);
        if sa.nat.here {
            self.schedule_nat_keepalive(now, sa.id);
        }
        self.index_contact(&sa);
        engine_log!(
            self,
            Some(sa.id),
            LogGroup::Ike,
            "IKE_SA {} resumed from the saved state between {}...{} with {} CHILD_SA(s)",
            sa.log_name(),
            sa.local,
            sa.remote,
            sa.children.len()
        );
        self.announce_resumed(&sa);
        let id = sa.id;
        self.sas.insert(id, sa);
        Ok((id, adopted))
    }

    /// Fills the lookup tables for a resumed SA; returns its children's kernel objects.
    fn index_resumed(&mut self, sa: &IkeSa) -> Vec<AdoptedChild> {
        self.by_spi.insert(sa.our_spi(), sa.id);
        let (local, remote) = (sa.local.ip(), sa.remote.ip());
        let mut adopted = Vec::new();
        for c in &sa.children {
            self.children.insert(c.id, sa.id);
            self.by_kernel_spi.insert((local, c.spi_in), c.id);
            self.by_kernel_spi.insert((remote, c.spi_out), c.id);
            let Some(sel) = c.proposal.selected() else {
                continue;
            };
            let mk = |direction, src, dst, spi| {
                Box::new(SaInstall {
                    child: c.id,
                    reqid: c.reqid,
                    direction,
                    src,
                    dst,
                    spi,
                    encr: sel.encr,
                    encr_key: Secret::default(),
                    integ: sel.integ,
                    integ_key: Secret::default(),
                    esn: sel.esn,
                    replay_window: 32,
                    mode: c.config.mode,
                    local_ts: c.local_ts.clone(),
                    remote_ts: c.remote_ts.clone(),
                    lifetimes: super::sa::kernel_lifetimes(&c.config.lifetimes, Duration::ZERO),
                    hw_offload: c.config.hw_offload,
                    encap: Self::encap_ports(sa, direction == Direction::Out),
                    marks: c.config.marks,
                })
            };
            adopted.push(AdoptedChild {
                ike: sa.id,
                child: c.id,
                sa_in: mk(Direction::In, remote, local, c.spi_in),
                sa_out: mk(Direction::Out, local, remote, c.spi_out),
                policies: c
                    .installed
                    .iter()
                    .filter_map(|i| match i {
                        Installed::Policy(p) => Some(p.clone()),
                        Installed::Sa { .. } => None,
                    })
                    .collect(),
            });
        }
        adopted
    }

    /// New ids stay above the resumed ones (ids are never reused by one engine).
    fn ids_above(&mut self, sa: &IkeSa) {
        self.next_ike_id = self.next_ike_id.max(sa.id.0.saturating_add(1));
        for c in &sa.children {
            self.raise_next_child_id(c.id.0.max(c.reqid).saturating_add(1));
        }
    }

    /// The events a newly established SA gives, so the caller's view is rebuilt.
    fn announce_resumed(&mut self, sa: &IkeSa) {
        self.event(Event::IkeUp {
            sa: sa.id,
            name: sa.config.name.clone(),
            local: sa.local,
            remote: sa.remote,
        });
        for c in &sa.children {
            self.event(Event::ChildUp {
                ike: sa.id,
                child: c.id,
                name: c.config.name.clone(),
                spi_in: c.spi_in,
                spi_out: c.spi_out,
                local_ts: c.local_ts.clone(),
                remote_ts: c.remote_ts.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// A body that passes the checksum but holds anything at all: decoded without a
        /// panic, and with as many SAs claimed as the attacker likes, without allocating them.
        #[test]
        fn hostile_bodies_with_a_valid_checksum_never_panic(
            claimed in any::<u32>(),
            body in prop::collection::vec(any::<u8>(), 0..600),
        ) {
            let mut w = Writer::default();
            w.u32(claimed);
            w.raw(&body);
            let framed = w.finish();
            let _ = decode(&framed);
        }

        /// Plausible SA records with random fields: refused or decoded, never a panic.
        #[test]
        fn hostile_sa_records_never_panic(fields in prop::collection::vec(any::<u8>(), 0..400)) {
            let mut w = Writer::default();
            w.u32(1);
            w.u32(7);
            w.str("BFL-BFR");
            w.raw(&fields);
            let _ = decode(&w.finish());
        }
    }

    #[test]
    fn an_empty_snapshot_round_trips() {
        let w = {
            let mut w = Writer::default();
            w.u32(0);
            w
        };
        assert_eq!(validate(&w.finish()), Ok(0));
    }
}
