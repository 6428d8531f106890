//! [`XfrmClient`]: the API the daemon calls, and [`EventMonitor`] for kernel events.
//!
//! Contract:
//! - Blocking calls; run them on a blocking thread. One client = one netlink socket.
//! - [`XfrmClient::install_child`] installs both SAs and their policies of one CHILD_SA and
//!   settles on one offload mode for all of them: `packet` (SAs with `XFRM_OFFLOAD_PACKET`,
//!   in/out policies offloaded, fwd never), `crypto` (SAs offloaded, policies in software)
//!   or `none`. An attempt that fails at any object is rolled back completely before the
//!   next mode is tried (`auto`: packet, crypto, none) or the error is returned. After
//!   install the SAs are read back and the mode actually in force is reported (the kernel
//!   silently installs a software SA when a crypto-offload device has no xfrm ops).
//! - Only objects this client created are ever deleted; nothing is flushed.
//! - Namespaces: the netlink socket belongs to the namespace of the thread that created the
//!   client; device lookups (interface holding the local address, ethtool) use the calling
//!   thread's namespace. Call `install_child` from a thread in the same namespace.

use std::net::IpAddr;

use tracing::{debug, info, warn};

use crate::consts::*;
use crate::error::{XfrmError, XfrmObject};
use crate::ethtool;
use crate::link;
use crate::msg::{
    self, PolicyAction, PolicyId, PolicySpec, Request, SaId, SaSpec, SpiRequest, TemplateSpec,
};
use crate::parse::{self, PolicyState, SaCounters, SaState, XfrmEvent};
use crate::priority::{self, PriorityClass};
use crate::socket::NetlinkSocket;
use crate::types::*;

/// strongSwan's default SPI range (`spi_min`/`spi_max`).
pub const SPI_MIN: u32 = 0xc000_0000;
/// Upper end of the SPI range.
pub const SPI_MAX: u32 = 0xcfff_ffff;
/// Priority of IKE bypass policies on offload devices (strongSwan uses 32).
pub const IKE_BYPASS_PRIORITY: u32 = 32;

/// Everything needed to install one CHILD_SA.
#[derive(Debug, Clone)]
pub struct ChildInstall {
    /// Our outer address.
    pub local: IpAddr,
    /// Peer's outer address.
    pub remote: IpAddr,
    /// Transport or tunnel.
    pub mode: Mode,
    /// ESP (AH is representable but untested).
    pub protocol: IpsecProtocol,
    /// Request id shared by the SAs and the policy templates (must be non-zero for packet
    /// offload: mlx5 steers by it).
    pub reqid: u32,
    /// Inbound SPI (ours).
    pub spi_in: Spi,
    /// `spi_in` came from [`XfrmClient::alloc_spi`] (a larval SA exists; use UPDSA).
    pub spi_in_allocated: bool,
    /// Outbound SPI (the peer's).
    pub spi_out: Spi,
    /// Inbound transform and keys.
    pub transform_in: EspTransform,
    /// Outbound transform and keys.
    pub transform_out: EspTransform,
    /// Extended sequence numbers.
    pub esn: bool,
    /// Replay window (strongSwan default 32).
    pub replay_window: u32,
    /// Inbound SA lifetimes.
    pub lifetimes_in: Lifetimes,
    /// Outbound SA lifetimes.
    pub lifetimes_out: Lifetimes,
    /// Policy selectors in the outbound orientation (local -> remote); one IN and one OUT
    /// policy (plus FWD in tunnel mode) per entry. The first entry also gives the SA
    /// selector in transport mode (host to host, protocol and ports cleared, as strongSwan).
    pub selectors: Vec<TrafficSelector>,
    /// Manual policy priority (strongSwan `priority`), else computed as strongSwan does.
    pub priority: Option<u32>,
    /// Install FWD policies in the outbound direction too (tunnel mode only; strongSwan
    /// installs no FWD policies in transport mode).
    pub policies_fwd_out: bool,
    /// Inbound mark.
    pub mark_in: Option<Mark>,
    /// Outbound mark.
    pub mark_out: Option<Mark>,
    /// Inbound XFRM interface id.
    pub if_id_in: Option<u32>,
    /// Outbound XFRM interface id.
    pub if_id_out: Option<u32>,
    /// Output mark the inbound SA sets (`set_mark_in`).
    pub set_mark_in: Option<Mark>,
    /// Output mark the outbound SA sets (`set_mark_out`).
    pub set_mark_out: Option<Mark>,
    /// `mark_in_sa`: the inbound SA carries `mark_in` too. Without it, as in charon's
    /// child_sa.c, only the inbound policies match on `mark_in`; the inbound SA has no mark.
    pub mark_in_sa: bool,
    /// NAT-T: (local UDP port, remote UDP port).
    pub nat_t_ports: Option<(u16, u16)>,
    /// `hw_offload` setting.
    pub hw_offload: HwOffload,
    /// Explicit offload device; default: the interface holding `local`.
    pub offload_device: Option<String>,
    /// Sequence number of the ACQUIRE being answered.
    pub acquire_seq: u32,
    /// Transport mode: put the first selector's protocol and ports into the SA selectors too
    /// (charon's `kernel-netlink.set_proto_port_transport_sa`); otherwise they are cleared.
    pub proto_port_transport_sa: bool,
}

/// A CHILD_SA as installed; pass it back to [`XfrmClient::remove_child`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledChild {
    /// The mode the child settled on (what was requested and accepted).
    pub offload: OffloadMode,
    /// Offload mode the kernel reports for the inbound SA.
    pub sa_in_offload: OffloadMode,
    /// Offload mode the kernel reports for the outbound SA.
    pub sa_out_offload: OffloadMode,
    /// Offload device (index, name), if any offload was attempted.
    pub device: Option<(u32, String)>,
    /// Inbound SA.
    pub sa_in: SaId,
    /// Outbound SA.
    pub sa_out: SaId,
    /// Policies, in installation order.
    pub policies: Vec<PolicyId>,
    /// The same policies as installed (no secrets), so a failed rekey can restore them.
    pub policy_specs: Vec<PolicySpec>,
    /// Why more capable modes were abandoned (`auto`), for logs.
    pub fallback_reasons: Vec<String>,
}

/// Client options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    /// Send `XFRMA_SA_DIR` (default: kernel release ≥ 6.10, as strongSwan decides).
    pub sa_dir: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            sa_dir: kernel_supports_sa_dir(),
        }
    }
}

/// Kernel release ≥ 6.10 (first with `XFRMA_SA_DIR`), read from `uname`.
pub fn kernel_supports_sa_dir() -> bool {
    kernel_release().is_some_and(|(major, minor)| (major, minor) >= (6, 10))
}

fn kernel_release() -> Option<(u32, u32)> {
    // SAFETY: utsname is plain old data; uname fills it and we check the return code.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return None;
    }
    let bytes: Vec<u8> = uts
        .release
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    parse_release(&String::from_utf8_lossy(&bytes))
}

/// Parse "6.12.117+deb12-amd64" into (6, 12).
pub fn parse_release(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// How requests reach the kernel: the netlink socket in production, a model in tests.
pub trait Transport: Send {
    /// Send a request answered by an ACK/NACK.
    fn request_ack(&mut self, req: Request, object: XfrmObject) -> Result<(), XfrmError>;
    /// Send a request answered by one message of `reply_type`; return its payload.
    fn request_reply(
        &mut self,
        req: Request,
        reply_type: u16,
        object: XfrmObject,
    ) -> Result<Vec<u8>, XfrmError>;
    /// Send a dump request; return `(type, payload)` of every entry. Transports that
    /// cannot dump refuse.
    fn request_dump(
        &mut self,
        req: Request,
        object: XfrmObject,
    ) -> Result<Vec<(u16, Vec<u8>)>, XfrmError> {
        let _ = (req, object);
        Err(XfrmError::InvalidRequest(
            "this transport cannot dump".into(),
        ))
    }
}

impl Transport for NetlinkSocket {
    fn request_dump(
        &mut self,
        req: Request,
        object: XfrmObject,
    ) -> Result<Vec<(u16, Vec<u8>)>, XfrmError> {
        NetlinkSocket::request_dump(self, req, object)
    }

    fn request_ack(&mut self, req: Request, object: XfrmObject) -> Result<(), XfrmError> {
        NetlinkSocket::request_ack(self, req, object)
    }

    fn request_reply(
        &mut self,
        req: Request,
        reply_type: u16,
        object: XfrmObject,
    ) -> Result<Vec<u8>, XfrmError> {
        NetlinkSocket::request_reply(self, req, reply_type, object)
    }
}

/// How offload devices are found and probed: the system in production, a model in tests.
pub trait DeviceProbe: Send {
    /// The offload device (index, name): `explicit` if given, else the interface holding
    /// `local`.
    fn device_for(&self, local: IpAddr, explicit: Option<&str>)
    -> Result<(u32, String), XfrmError>;
    /// State of `esp-hw-offload` on `ifname` (`None`: the kernel has no such feature).
    fn esp_offload(&self, ifname: &str) -> Result<Option<ethtool::FeatureState>, XfrmError>;
}

/// The real system: rtnetlink and `SIOCETHTOOL` in the calling thread's namespace.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemDevices;

impl DeviceProbe for SystemDevices {
    fn device_for(
        &self,
        local: IpAddr,
        explicit: Option<&str>,
    ) -> Result<(u32, String), XfrmError> {
        match explicit {
            Some(name) => Ok((link::ifindex(name)?, name.to_string())),
            None => link::interface_for_address(local),
        }
    }

    fn esp_offload(&self, ifname: &str) -> Result<Option<ethtool::FeatureState>, XfrmError> {
        ethtool::esp_offload(ifname)
    }
}

/// The netlink XFRM client.
pub struct XfrmClient {
    transport: Box<dyn Transport>,
    devices: Box<dyn DeviceProbe>,
    options: ClientOptions,
    /// Policies this client added and has not deleted. A policy with the same id that is not
    /// in this set (left by an instance that crashed, or by another tool) is updated in place
    /// by [`XfrmClient::add_policy`], as charon's kernel-netlink does; one of ours is not, so
    /// two of our children never silently share a policy.
    owned_policies: std::collections::HashSet<PolicyId>,
}

impl std::fmt::Debug for XfrmClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XfrmClient")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl XfrmClient {
    /// Open a client in the caller's network namespace with default options.
    pub fn new() -> Result<Self, XfrmError> {
        Self::with_options(ClientOptions::default())
    }

    /// Open a client with explicit options.
    pub fn with_options(options: ClientOptions) -> Result<Self, XfrmError> {
        Ok(XfrmClient {
            transport: Box::new(NetlinkSocket::xfrm()?),
            devices: Box::new(SystemDevices),
            options,
            owned_policies: Default::default(),
        })
    }

    /// A client over any transport and device probe (tests, fault injection).
    pub fn with_parts(
        transport: Box<dyn Transport>,
        devices: Box<dyn DeviceProbe>,
        options: ClientOptions,
    ) -> Self {
        XfrmClient {
            transport,
            devices,
            options,
            owned_policies: Default::default(),
        }
    }

    /// Options in force.
    pub fn options(&self) -> ClientOptions {
        self.options
    }

    /// Allocate an inbound SPI (a larval SA from `remote` to `local`) in strongSwan's range.
    pub fn alloc_spi(
        &mut self,
        remote: IpAddr,
        local: IpAddr,
        protocol: IpsecProtocol,
        reqid: u32,
    ) -> Result<Spi, XfrmError> {
        self.alloc_spi_in_range(remote, local, protocol, reqid, SPI_MIN, SPI_MAX, 0)
    }

    /// Allocate an inbound SPI within `[min, max]`, answering ACQUIRE `acquire_seq`.
    #[allow(clippy::too_many_arguments)]
    pub fn alloc_spi_in_range(
        &mut self,
        remote: IpAddr,
        local: IpAddr,
        protocol: IpsecProtocol,
        reqid: u32,
        min: u32,
        max: u32,
        acquire_seq: u32,
    ) -> Result<Spi, XfrmError> {
        let req = msg::alloc_spi(&SpiRequest {
            src: remote,
            dst: local,
            protocol,
            reqid,
            min,
            max,
            set_sa_dir: self.options.sa_dir,
            acquire_seq,
        });
        let object = XfrmObject::SpiAllocation {
            src: remote,
            dst: local,
        };
        let reply = self.transport.request_reply(req, XFRM_MSG_NEWSA, object)?;
        let state = parse::sa_state(&reply)?;
        Ok(state.spi)
    }

    /// Add (or update) one SA. As strongSwan, an UPDSA the kernel answers with ESRCH (no
    /// larval SA any more) is retried once as NEWSA.
    pub fn add_sa(&mut self, spec: &SaSpec) -> Result<(), XfrmError> {
        let result = self
            .transport
            .request_ack(msg::add_sa(spec)?, spec.object());
        match result {
            Err(e) if spec.update && e.is_not_found() => {
                let mut again = spec.clone();
                again.update = false;
                self.transport
                    .request_ack(msg::add_sa(&again)?, spec.object())
            }
            other => other,
        }
    }

    /// Delete one SA.
    pub fn delete_sa(&mut self, id: &SaId) -> Result<(), XfrmError> {
        self.transport
            .request_ack(msg::delete_sa(id), sa_object(id))
    }

    /// Read one SA back.
    pub fn get_sa(&mut self, id: &SaId) -> Result<SaState, XfrmError> {
        let reply = self
            .transport
            .request_reply(msg::get_sa(id), XFRM_MSG_NEWSA, sa_object(id))?;
        Ok(parse::sa_state(&reply)?)
    }

    /// Traffic counters of one SA.
    pub fn sa_counters(&mut self, id: &SaId) -> Result<SaCounters, XfrmError> {
        Ok(self.get_sa(id)?.counters)
    }

    /// Add one policy. When the kernel already holds a policy with the same selector,
    /// direction, mark and interface that this client did not add (a crashed instance's), it
    /// is updated in place (XFRM_MSG_UPDPOLICY) rather than refused: charon does the same
    /// ("policy already exists, try to update it"), and without it a restart after a crash
    /// could never re-install its children. A policy this client added itself still refuses
    /// (`EEXIST`).
    pub fn add_policy(&mut self, spec: &PolicySpec) -> Result<(), XfrmError> {
        let id = spec.id();
        match self.add_policy_exclusive(spec) {
            Err(e) if e.is_exists() && !spec.update && !self.owned_policies.contains(&id) => {
                warn!(policy = %policy_object(&id), "policy already exists, updating it");
                let mut again = spec.clone();
                again.update = true;
                self.transport
                    .request_ack(msg::add_policy(&again), again.object())?;
                self.owned_policies.insert(id);
                Ok(())
            }
            other => other,
        }
    }

    /// Add one policy, refusing (`EEXIST`) to touch one that exists.
    fn add_policy_exclusive(&mut self, spec: &PolicySpec) -> Result<(), XfrmError> {
        self.transport
            .request_ack(msg::add_policy(spec), spec.object())?;
        self.owned_policies.insert(spec.id());
        Ok(())
    }

    /// Delete one policy.
    pub fn delete_policy(&mut self, id: &PolicyId) -> Result<(), XfrmError> {
        let result = self
            .transport
            .request_ack(msg::delete_policy(id), policy_object(id));
        if result.is_ok() || result.as_ref().is_err_and(XfrmError::is_not_found) {
            self.owned_policies.remove(id);
        }
        result
    }

    /// Takes over a policy an earlier iked handed over (hitless restart): it is then this
    /// client's, as if it had added it (removed with its child, never swept as stale).
    pub fn adopt_policy(&mut self, id: PolicyId) {
        self.owned_policies.insert(id);
    }

    /// Whether this client added (or took over) the policy `id` and has not removed it.
    pub fn owns_policy(&self, id: &PolicyId) -> bool {
        self.owned_policies.contains(id)
    }

    /// Read one policy back.
    pub fn get_policy(&mut self, id: &PolicyId) -> Result<PolicyState, XfrmError> {
        let reply = self.transport.request_reply(
            msg::get_policy(id),
            XFRM_MSG_NEWPOLICY,
            policy_object(id),
        )?;
        Ok(parse::policy_state(&reply)?)
    }

    /// Every SA in the namespace (read-only; e.g. to find our reqids after a restart).
    /// Entries that do not parse are skipped with a warning.
    pub fn list_sas(&mut self) -> Result<Vec<SaState>, XfrmError> {
        let entries = self
            .transport
            .request_dump(msg::dump_sas(), XfrmObject::Other("SA dump"))?;
        Ok(entries
            .into_iter()
            .filter(|(t, _)| *t == XFRM_MSG_NEWSA)
            .filter_map(|(_, p)| {
                parse::sa_state(&p)
                    .map_err(|e| warn!(error = %e, "unparsable SA dump entry"))
                    .ok()
            })
            .collect())
    }

    /// Every policy in the namespace (read-only).
    pub fn list_policies(&mut self) -> Result<Vec<PolicyState>, XfrmError> {
        let entries = self
            .transport
            .request_dump(msg::dump_policies(), XfrmObject::Other("policy dump"))?;
        Ok(entries
            .into_iter()
            .filter(|(t, _)| *t == XFRM_MSG_NEWPOLICY)
            .filter_map(|(_, p)| {
                parse::policy_state(&p)
                    .map_err(|e| warn!(error = %e, "unparsable policy dump entry"))
                    .ok()
            })
            .collect())
    }

    /// Install the IKE bypass policies strongSwan puts on packet-offload devices (UDP
    /// `ports` in and out, pinned to `ifindex`, offloaded, no template) so that the NIC's
    /// SPD lets IKE through. Call again when the link comes back up: the kernel drops
    /// offloaded policies of a device that goes down. Already-present policies count as
    /// installed. Returns the ids to remove later.
    pub fn install_ike_bypass(
        &mut self,
        ifindex: u32,
        family: u16,
        ports: &[u16],
    ) -> Result<Vec<PolicyId>, XfrmError> {
        let ifindex_i32 = i32::try_from(ifindex)
            .map_err(|_| XfrmError::InvalidRequest(format!("ifindex {ifindex} out of range")))?;
        let any = if family == AF_INET6 {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        };
        let mut installed = Vec::new();
        for port in ports {
            for direction in [PolicyDirection::In, PolicyDirection::Out] {
                let mut selector = TrafficSelector {
                    src: any,
                    dst: any,
                    ifindex: ifindex_i32,
                    ..TrafficSelector::default()
                };
                selector.proto = IPPROTO_UDP;
                if direction == PolicyDirection::In {
                    selector.dport = Port::exact(*port);
                } else {
                    selector.sport = Port::exact(*port);
                }
                let spec = PolicySpec {
                    selector,
                    direction,
                    priority: IKE_BYPASS_PRIORITY,
                    action: PolicyAction::Allow,
                    templates: Vec::new(),
                    mark: None,
                    if_id: None,
                    offload_ifindex: Some(ifindex_i32),
                    update: false,
                };
                // Exclusive: an existing bypass (the operator's, or an earlier instance's)
                // serves as well and stays theirs.
                match self.add_policy_exclusive(&spec) {
                    Ok(()) => installed.push(spec.id()),
                    Err(e) if e.is_exists() => {}
                    Err(e) => {
                        let _ = self.remove_policies(&installed);
                        return Err(e);
                    }
                }
            }
        }
        Ok(installed)
    }

    /// Delete policies, ignoring ones already gone; returns the first other error.
    pub fn remove_policies(&mut self, ids: &[PolicyId]) -> Result<(), XfrmError> {
        let mut first_error = None;
        for id in ids.iter().rev() {
            match self.delete_policy(id) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    warn!(error = %e, "deleting policy failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Install both SAs and the policies of a CHILD_SA, settling on one offload mode.
    pub fn install_child(&mut self, child: &ChildInstall) -> Result<InstalledChild, XfrmError> {
        self.install_child_over(child, &[])
    }

    /// [`XfrmClient::install_child`], where the child's policies whose ids are in `replace`
    /// take over policies already installed with those ids (the caller's trap policies for
    /// the same traffic, as charon's routed policies give way to the SA's) instead of failing
    /// with EEXIST. A failed install removes them like its own.
    pub fn install_child_over(
        &mut self,
        child: &ChildInstall,
        replace: &[PolicyId],
    ) -> Result<InstalledChild, XfrmError> {
        validate_child(child)?;
        let modes: &[OffloadMode] = match child.hw_offload {
            HwOffload::No => &[OffloadMode::None],
            HwOffload::Crypto => &[OffloadMode::Crypto],
            HwOffload::Packet => &[OffloadMode::Packet],
            HwOffload::Auto => &[OffloadMode::Packet, OffloadMode::Crypto, OffloadMode::None],
        };
        let mut fallback_reasons = Vec::new();
        let mut device: Option<(u32, String)> = None;
        let mut in_sa_larval = child.spi_in_allocated;
        let mut last_error = None;

        for (i, &mode) in modes.iter().enumerate() {
            let last_attempt = i + 1 == modes.len();
            if mode != OffloadMode::None && device.is_none() {
                match self
                    .devices
                    .device_for(child.local, child.offload_device.as_deref())
                {
                    Ok(d) => device = Some(d),
                    Err(e) if !last_attempt => {
                        fallback_reasons.push(format!("{mode}: {e}"));
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            if mode == OffloadMode::Crypto
                && let Some((_, name)) = &device
                && let Err(e) = require_esp_offload(self.devices.as_ref(), name, mode)
            {
                if last_attempt {
                    return Err(e);
                }
                fallback_reasons.push(format!("{mode}: {e}"));
                continue;
            }
            let ifindex = device.as_ref().map(|(i, _)| *i);
            match self.try_install(child, mode, ifindex, &mut in_sa_larval, replace) {
                Ok(mut installed) => {
                    installed.device = if mode == OffloadMode::None {
                        None
                    } else {
                        device.clone()
                    };
                    installed.fallback_reasons = fallback_reasons;
                    info!(
                        reqid = child.reqid,
                        spi_in = %child.spi_in,
                        spi_out = %child.spi_out,
                        offload = %installed.offload,
                        "CHILD_SA installed"
                    );
                    return Ok(installed);
                }
                Err(e) => {
                    if !last_attempt {
                        debug!(error = %e, %mode, "offload attempt failed, falling back");
                        fallback_reasons.push(format!("{mode}: {e}"));
                    }
                    last_error = Some(e);
                    if matches!(last_error, Some(XfrmError::RollbackFailed { .. })) {
                        break; // never stack attempts on top of leftovers
                    }
                }
            }
        }
        Err(last_error
            .unwrap_or_else(|| XfrmError::InvalidRequest("no offload mode to try".into())))
    }

    fn try_install(
        &mut self,
        child: &ChildInstall,
        mode: OffloadMode,
        ifindex: Option<u32>,
        in_sa_larval: &mut bool,
        replace: &[PolicyId],
    ) -> Result<InstalledChild, XfrmError> {
        let ifindex = match (mode, ifindex) {
            (OffloadMode::None, _) => None,
            (_, Some(i)) => Some(
                i32::try_from(i)
                    .map_err(|_| XfrmError::InvalidRequest(format!("ifindex {i} out of range")))?,
            ),
            (_, None) => return Err(XfrmError::InvalidRequest("offload without a device".into())),
        };
        let (sa_in, sa_out) =
            child_sa_specs(child, mode, ifindex, self.options.sa_dir, *in_sa_larval);
        let mut policies = child_policy_specs(child, mode, ifindex);
        for p in policies.iter_mut() {
            p.update = replace.contains(&p.id());
        }
        let mut done = Done::default();

        let result = (|| -> Result<(), XfrmError> {
            // Packet-offload order (xfrm-offload.md §8): IN SA, IN policies, OUT SA, OUT
            // and FWD policies.
            self.add_sa(&sa_in)?;
            done.sa_in = true;
            *in_sa_larval = false;
            for p in policies
                .iter()
                .filter(|p| p.direction == PolicyDirection::In)
            {
                self.add_policy(p)?;
                done.policies.push(p.id());
            }
            self.add_sa(&sa_out)?;
            done.sa_out = true;
            for p in policies
                .iter()
                .filter(|p| p.direction != PolicyDirection::In)
            {
                self.add_policy(p)?;
                done.policies.push(p.id());
            }
            Ok(())
        })();
        let sa_in_id = sa_id(&sa_in);
        let sa_out_id = sa_id(&sa_out);
        let verified = result.and_then(|()| {
            let in_mode = self.get_sa(&sa_in_id)?.offload_mode();
            let out_mode = self.get_sa(&sa_out_id)?.offload_mode();
            for (object, actual) in [(sa_in.object(), in_mode), (sa_out.object(), out_mode)] {
                if actual != mode {
                    return Err(XfrmError::OffloadNotApplied {
                        object,
                        wanted: mode,
                        actual,
                    });
                }
            }
            // Policies: offloaded exactly when the mode is packet and they are IN/OUT.
            // (A kernel without CONFIG_XFRM_OFFLOAD accepts and ignores the request.)
            for id in &done.policies {
                let want = mode == OffloadMode::Packet && id.direction != PolicyDirection::Fwd;
                let state = self.get_policy(id)?;
                let has = state
                    .offload
                    .is_some_and(|o| o.flags & XFRM_OFFLOAD_PACKET != 0);
                if want != has {
                    return Err(XfrmError::OffloadNotApplied {
                        object: policy_object(id),
                        wanted: if want {
                            OffloadMode::Packet
                        } else {
                            OffloadMode::None
                        },
                        actual: if has {
                            OffloadMode::Packet
                        } else {
                            OffloadMode::None
                        },
                    });
                }
            }
            Ok((in_mode, out_mode))
        });
        match verified {
            Ok((sa_in_offload, sa_out_offload)) => Ok(InstalledChild {
                offload: mode,
                sa_in_offload,
                sa_out_offload,
                device: None,
                sa_in: sa_in_id,
                sa_out: sa_out_id,
                policies: done.policies,
                policy_specs: policies,
                fallback_reasons: Vec::new(),
            }),
            Err(cause) => Err(self.fail_with_rollback(cause, &done, &sa_in_id, &sa_out_id)),
        }
    }

    fn roll_back(&mut self, done: &Done, sa_in: &SaId, sa_out: &SaId) -> Vec<String> {
        let mut leftovers = Vec::new();
        for id in done.policies.iter().rev() {
            if let Err(e) = self.delete_policy(id)
                && !e.is_not_found()
            {
                leftovers.push(e.to_string());
            }
        }
        for (installed, id) in [(done.sa_out, sa_out), (done.sa_in, sa_in)] {
            if installed
                && let Err(e) = self.delete_sa(id)
                && !e.is_not_found()
            {
                leftovers.push(e.to_string());
            }
        }
        leftovers
    }

    /// Rekey a CHILD_SA in place: install `new`'s two SAs in the offload mode and on the
    /// device `old` settled on, then point the existing policies at them with UPDPOLICY
    /// (the OUT template carries the new SPI). The old SAs stay installed so that packets in
    /// flight still decrypt; delete them with [`XfrmClient::remove_sas`] when the IKE rekey
    /// completes. On failure the new SAs are removed and policies already switched are
    /// restored to `old`'s, leaving `old` in force.
    pub fn rekey_child(
        &mut self,
        old: &InstalledChild,
        new: &ChildInstall,
    ) -> Result<InstalledChild, XfrmError> {
        validate_child(new)?;
        let mode = old.offload;
        let ifindex = match (&old.device, mode) {
            (_, OffloadMode::None) => None,
            (Some((i, _)), _) => Some(
                i32::try_from(*i)
                    .map_err(|_| XfrmError::InvalidRequest(format!("ifindex {i} out of range")))?,
            ),
            (None, _) => {
                return Err(XfrmError::InvalidRequest(
                    "offloaded child without a device".into(),
                ));
            }
        };
        let mut specs = child_policy_specs(new, mode, ifindex);
        let new_ids: Vec<PolicyId> = specs.iter().map(PolicySpec::id).collect();
        if new_ids != old.policies {
            return Err(XfrmError::InvalidRequest(
                "a rekey must keep the child's selectors; install a new child instead".into(),
            ));
        }
        for spec in &mut specs {
            spec.update = true;
        }
        let (sa_in, sa_out) = child_sa_specs(
            new,
            mode,
            ifindex,
            self.options.sa_dir,
            new.spi_in_allocated,
        );
        let (sa_in_id, sa_out_id) = (sa_id(&sa_in), sa_id(&sa_out));
        let mut done = Done::default();
        let installed = (|| -> Result<(OffloadMode, OffloadMode), XfrmError> {
            self.add_sa(&sa_in)?;
            done.sa_in = true;
            self.add_sa(&sa_out)?;
            done.sa_out = true;
            let in_mode = self.get_sa(&sa_in_id)?.offload_mode();
            let out_mode = self.get_sa(&sa_out_id)?.offload_mode();
            for (object, actual) in [(sa_in.object(), in_mode), (sa_out.object(), out_mode)] {
                if actual != mode {
                    return Err(XfrmError::OffloadNotApplied {
                        object,
                        wanted: mode,
                        actual,
                    });
                }
            }
            Ok((in_mode, out_mode))
        })();
        let (sa_in_offload, sa_out_offload) = match installed {
            Ok(modes) => modes,
            Err(cause) => return Err(self.fail_with_rollback(cause, &done, &sa_in_id, &sa_out_id)),
        };
        for (i, spec) in specs.iter().enumerate() {
            if let Err(cause) = self.add_policy(spec) {
                let mut leftovers = Vec::new();
                for previous in old.policy_specs.iter().take(i) {
                    let mut restore = previous.clone();
                    restore.update = true;
                    if let Err(e) = self.add_policy(&restore) {
                        leftovers.push(format!("restoring {}: {e}", restore.object()));
                    }
                }
                let cause = self.fail_with_rollback(cause, &done, &sa_in_id, &sa_out_id);
                return Err(if leftovers.is_empty() {
                    cause
                } else {
                    XfrmError::RollbackFailed {
                        cause: Box::new(cause),
                        leftovers: leftovers.join("; "),
                    }
                });
            }
        }
        info!(
            reqid = new.reqid,
            spi_in = %new.spi_in,
            spi_out = %new.spi_out,
            offload = %mode,
            "CHILD_SA rekeyed"
        );
        Ok(InstalledChild {
            offload: mode,
            sa_in_offload,
            sa_out_offload,
            device: old.device.clone(),
            sa_in: sa_in_id,
            sa_out: sa_out_id,
            policies: new_ids,
            policy_specs: specs
                .into_iter()
                .map(|mut s| {
                    s.update = false;
                    s
                })
                .collect(),
            fallback_reasons: Vec::new(),
        })
    }

    fn fail_with_rollback(
        &mut self,
        cause: XfrmError,
        done: &Done,
        sa_in: &SaId,
        sa_out: &SaId,
    ) -> XfrmError {
        let leftovers = self.roll_back(done, sa_in, sa_out);
        if leftovers.is_empty() {
            cause
        } else {
            XfrmError::RollbackFailed {
                cause: Box::new(cause),
                leftovers: leftovers.join("; "),
            }
        }
    }

    /// Delete SAs (e.g. the old pair after a rekey), ignoring ones already gone; returns the
    /// first other error.
    pub fn remove_sas(&mut self, ids: &[SaId]) -> Result<(), XfrmError> {
        let mut first_error = None;
        for id in ids {
            match self.delete_sa(id) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Remove a CHILD_SA: policies first (so no packet goes out in clear between the two
    /// steps... it is dropped for lack of an SA instead), then the SAs. Objects already gone
    /// (hard expiry, device down) are not errors.
    pub fn remove_child(&mut self, child: &InstalledChild) -> Result<(), XfrmError> {
        let mut first_error = self.remove_policies(&child.policies).err();
        for id in [&child.sa_out, &child.sa_in] {
            match self.delete_sa(id) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// A monitor for XFRM events (ACQUIRE, EXPIRE, MAPPING) in this namespace.
    pub fn events(&self) -> Result<EventMonitor, XfrmError> {
        EventMonitor::new()
    }
}

#[derive(Default)]
struct Done {
    sa_in: bool,
    sa_out: bool,
    policies: Vec<PolicyId>,
}

fn sa_object(id: &SaId) -> XfrmObject {
    XfrmObject::SaById {
        spi: id.spi,
        dst: id.dst,
    }
}

fn policy_object(id: &PolicyId) -> XfrmObject {
    XfrmObject::Policy {
        direction: id.direction,
        selector: id.selector,
    }
}

fn sa_id(spec: &SaSpec) -> SaId {
    SaId {
        dst: spec.dst,
        spi: spec.spi,
        protocol: spec.protocol,
        mark: spec.mark,
    }
}

fn validate_child(child: &ChildInstall) -> Result<(), XfrmError> {
    if child.local.is_ipv4() != child.remote.is_ipv4() {
        return Err(XfrmError::InvalidRequest(
            "local and remote families differ".into(),
        ));
    }
    if child.selectors.is_empty() {
        return Err(XfrmError::InvalidRequest(
            "a CHILD_SA needs at least one selector".into(),
        ));
    }
    if matches!(child.hw_offload, HwOffload::Packet) && child.reqid == 0 {
        return Err(XfrmError::InvalidRequest(
            "packet offload needs a non-zero reqid".into(),
        ));
    }
    Ok(())
}

fn require_esp_offload(
    devices: &dyn DeviceProbe,
    ifname: &str,
    wanted: OffloadMode,
) -> Result<(), XfrmError> {
    let reason = match devices.esp_offload(ifname)? {
        None => format!("kernel has no feature {}", ethtool::ESP_HW_OFFLOAD),
        Some(state) if state.active => return Ok(()),
        Some(state) if state.fixed => format!("feature {} is off [fixed]", ethtool::ESP_HW_OFFLOAD),
        Some(_) => format!("feature {} is off", ethtool::ESP_HW_OFFLOAD),
    };
    Err(XfrmError::OffloadUnsupported {
        device: ifname.to_string(),
        wanted,
        reason,
    })
}

/// The two SA specs of a child for one offload mode (public for tests and dry runs).
pub fn child_sa_specs(
    child: &ChildInstall,
    mode: OffloadMode,
    ifindex: Option<i32>,
    sa_dir: bool,
    in_sa_larval: bool,
) -> (SaSpec, SaSpec) {
    let offload = match (mode, ifindex) {
        (OffloadMode::None, _) | (_, None) => None,
        (m, Some(ifindex)) => Some(OffloadRequest {
            ifindex,
            packet: m == OffloadMode::Packet,
        }),
    };
    // Transport-mode SA selectors are host to host with protocol/ports cleared, as
    // strongSwan does unless set_proto_port_transport_sa is set: then, as charon's
    // kernel-netlink, they carry the (first) selector's protocol and ports, mirrored inbound.
    let sa_selector = |src: IpAddr, dst: IpAddr| match child.mode {
        Mode::Transport => {
            let sel = TrafficSelector::host_to_host(src, dst);
            Some(match child.selectors.first() {
                Some(ts) if child.proto_port_transport_sa => {
                    if src == child.local {
                        sel.with_proto(ts.proto, ts.sport, ts.dport)
                    } else {
                        sel.with_proto(ts.proto, ts.dport, ts.sport)
                    }
                }
                _ => sel,
            })
        }
        Mode::Tunnel => None,
    };
    let encap = |out: bool| {
        child.nat_t_ports.map(|(local, remote)| NatTEncap {
            sport: if out { local } else { remote },
            dport: if out { remote } else { local },
            original_address: None,
        })
    };
    let sa_in = SaSpec {
        src: child.remote,
        dst: child.local,
        spi: child.spi_in,
        protocol: child.protocol,
        mode: child.mode,
        reqid: child.reqid,
        direction: SaDirection::In,
        selector: sa_selector(child.remote, child.local),
        transform: child.transform_in.clone(),
        esn: child.esn,
        replay_window: child.replay_window,
        lifetimes: child.lifetimes_in,
        mark: if child.mark_in_sa {
            child.mark_in
        } else {
            None
        },
        if_id: child.if_id_in,
        set_mark: child.set_mark_in,
        encap: encap(false),
        offload,
        set_sa_dir: sa_dir,
        update: in_sa_larval,
        acquire_seq: child.acquire_seq,
    };
    let sa_out = SaSpec {
        src: child.local,
        dst: child.remote,
        spi: child.spi_out,
        protocol: child.protocol,
        mode: child.mode,
        reqid: child.reqid,
        direction: SaDirection::Out,
        selector: sa_selector(child.local, child.remote),
        transform: child.transform_out.clone(),
        esn: child.esn,
        replay_window: child.replay_window,
        lifetimes: child.lifetimes_out,
        mark: child.mark_out,
        if_id: child.if_id_out,
        set_mark: child.set_mark_out,
        encap: encap(true),
        offload,
        set_sa_dir: sa_dir,
        update: false,
        acquire_seq: child.acquire_seq,
    };
    (sa_in, sa_out)
}

/// The policy specs of a child for one offload mode: for each selector IN and OUT (and
/// FWD in tunnel mode); packet offload on IN/OUT only.
pub fn child_policy_specs(
    child: &ChildInstall,
    mode: OffloadMode,
    ifindex: Option<i32>,
) -> Vec<PolicySpec> {
    let offload_ifindex = if mode == OffloadMode::Packet {
        ifindex
    } else {
        None
    };
    let tunnel = child.mode == Mode::Tunnel;
    let template = |direction: PolicyDirection| {
        let (src, dst) = match direction {
            PolicyDirection::Out => (child.local, child.remote),
            _ => (child.remote, child.local),
        };
        TemplateSpec {
            src: tunnel.then_some(src),
            dst: tunnel.then_some(dst),
            spi: (direction == PolicyDirection::Out).then_some(child.spi_out),
            protocol: child.protocol,
            mode: child.mode,
            reqid: child.reqid,
            optional: false,
        }
    };
    let mut out = Vec::new();
    for ts in &child.selectors {
        let prio = |sel: &TrafficSelector, class| {
            child
                .priority
                .unwrap_or_else(|| priority::priority(sel, class))
        };
        let inbound = ts.reversed();
        out.push(PolicySpec {
            selector: inbound,
            direction: PolicyDirection::In,
            priority: prio(&inbound, PriorityClass::Default),
            action: PolicyAction::Allow,
            templates: vec![template(PolicyDirection::In)],
            mark: child.mark_in,
            if_id: child.if_id_in,
            offload_ifindex,
            update: false,
        });
        out.push(PolicySpec {
            selector: *ts,
            direction: PolicyDirection::Out,
            priority: prio(ts, PriorityClass::Default),
            action: PolicyAction::Allow,
            templates: vec![template(PolicyDirection::Out)],
            mark: child.mark_out,
            if_id: child.if_id_out,
            offload_ifindex,
            update: false,
        });
        if tunnel {
            // FWD policies are enforced by the kernel, never offloaded (strongSwan).
            out.push(PolicySpec {
                selector: inbound,
                direction: PolicyDirection::Fwd,
                priority: prio(&inbound, PriorityClass::Default),
                action: PolicyAction::Allow,
                templates: vec![template(PolicyDirection::In)],
                mark: child.mark_in,
                if_id: child.if_id_in,
                offload_ifindex: None,
                update: false,
            });
            if child.policies_fwd_out {
                let mut t = template(PolicyDirection::Out);
                t.reqid = 0; // strongSwan: fwd-out acts as a bypass for drop policies
                t.spi = None;
                out.push(PolicySpec {
                    selector: *ts,
                    direction: PolicyDirection::Fwd,
                    priority: prio(ts, PriorityClass::Routed),
                    action: PolicyAction::Allow,
                    templates: vec![t],
                    mark: child.mark_out,
                    if_id: child.if_id_out,
                    offload_ifindex: None,
                    update: false,
                });
            }
        }
    }
    out
}

/// A socket subscribed to XFRM ACQUIRE, EXPIRE and MAPPING events.
#[derive(Debug)]
pub struct EventMonitor {
    socket: NetlinkSocket,
}

impl EventMonitor {
    /// Subscribe in the caller's network namespace.
    pub fn new() -> Result<Self, XfrmError> {
        let socket = NetlinkSocket::subscribed(
            netlink_sys::constants::NETLINK_XFRM,
            &[XFRMNLGRP_ACQUIRE, XFRMNLGRP_EXPIRE, XFRMNLGRP_MAPPING],
        )?;
        Ok(EventMonitor { socket })
    }

    /// Bound waits (`None` = block).
    pub fn set_timeout(&self, timeout: Option<std::time::Duration>) -> Result<(), XfrmError> {
        self.socket.set_timeout(timeout)
    }

    /// The socket's receive buffer (see [`NetlinkSocket::set_receive_buffer`]).
    pub fn set_receive_buffer(&self, bytes: usize) -> Result<(), XfrmError> {
        self.socket.set_receive_buffer(bytes)
    }

    /// Non-blocking receives for an event loop (see [`NetlinkSocket::set_nonblocking`]).
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<(), XfrmError> {
        self.socket.set_nonblocking(nonblocking)
    }

    /// The raw fd, for an event loop.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.raw_fd()
    }

    /// Wait for the next datagram and decode its events; malformed ones are logged and
    /// skipped.
    pub fn next_events(&mut self) -> Result<Vec<XfrmEvent>, XfrmError> {
        let datagram = self.socket.recv_datagram()?;
        let mut out = Vec::new();
        for event in parse::events(datagram) {
            match event {
                Ok(e) => out.push(e),
                Err(e) => warn!(error = %e, "malformed XFRM event skipped"),
            }
        }
        Ok(out)
    }
}
