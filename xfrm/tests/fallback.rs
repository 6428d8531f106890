//! `install_child` offload resolution and rollback against a model of the kernel's XFRM
//! offload rules (shared/reference/xfrm-offload.md §3.1-3.2, §7): a veth (no xfrmdev ops:
//! packet SA and policy refused with EINVAL, crypto SA silently software), an mlx5 with
//! packet offload, an mlx5 without it, plus injected failures. The model decodes our real
//! request bytes with the crate's own parser and answers GETSA/GETPOLICY with what it
//! stored, so these tests exercise the same code paths as the kernel would.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use iked_xfrm::client::{ClientOptions, DeviceProbe, Transport};
use iked_xfrm::consts::*;
use iked_xfrm::ethtool::FeatureState;
use iked_xfrm::msg::Request;
use iked_xfrm::parse;
use iked_xfrm::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Device {
    /// No xfrmdev_ops.
    Veth,
    /// mlx5 with crypto and packet offload.
    Mlx5,
    /// mlx5 without packet offload capability.
    Mlx5CryptoOnly,
}

#[derive(Default)]
struct Model {
    sas: BTreeMap<u32, Vec<u8>>,
    larval: Vec<u32>,
    policies: BTreeMap<(Vec<u8>, u8), Vec<u8>>,
    ops: Vec<String>,
    fail_offloaded_out_policy: bool,
    fail_out_policy: bool,
}

struct ModelKernel {
    device: Device,
    state: Arc<Mutex<Model>>,
}

fn nack(object: XfrmObject, errno: i32, message: Option<&str>) -> XfrmError {
    XfrmError::Kernel {
        object,
        errno,
        message: message.map(str::to_string),
        bad_attribute_offset: None,
    }
}

/// Re-emit `payload` (fixed part of `head` bytes + attributes) without XFRMA_OFFLOAD_DEV.
fn strip_offload(payload: &[u8], head: usize) -> Vec<u8> {
    let mut out = payload[..head].to_vec();
    for (kind, value) in parse::attributes(&payload[head..]).map(Result::unwrap) {
        if kind == XFRMA_OFFLOAD_DEV {
            continue;
        }
        out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    }
    out
}

impl Transport for ModelKernel {
    fn request_ack(&mut self, req: Request, object: XfrmObject) -> Result<(), XfrmError> {
        let msg = parse::messages(req.as_bytes()).next().unwrap().unwrap();
        let mut st = self.state.lock().unwrap();
        let payload = msg.payload.to_vec();
        match msg.message_type {
            XFRM_MSG_NEWSA | XFRM_MSG_UPDSA => {
                let sa = parse::sa_state(&payload).unwrap();
                let spi = sa.spi.0;
                let update = msg.message_type == XFRM_MSG_UPDSA;
                st.ops.push(format!(
                    "{} {spi:08x} {}",
                    if update { "UPDSA" } else { "NEWSA" },
                    sa.offload_mode()
                ));
                if update && !st.larval.contains(&spi) {
                    return Err(nack(object, libc::ESRCH, None));
                }
                if !update && (st.sas.contains_key(&spi) || st.larval.contains(&spi)) {
                    return Err(nack(object, libc::EEXIST, None));
                }
                let stored = match (self.device, sa.offload_mode()) {
                    (_, OffloadMode::None) => payload,
                    (Device::Veth, OffloadMode::Packet) => {
                        return Err(nack(object, libc::EINVAL, None));
                    }
                    (Device::Veth, OffloadMode::Crypto) => strip_offload(&payload, 224),
                    (Device::Mlx5CryptoOnly, OffloadMode::Packet) => {
                        return Err(nack(
                            object,
                            libc::EINVAL,
                            Some("mlx5_core: Packet offload is not supported"),
                        ));
                    }
                    _ => payload,
                };
                st.larval.retain(|s| *s != spi);
                st.sas.insert(spi, stored);
                Ok(())
            }
            XFRM_MSG_DELSA => {
                let spi = u32::from_be_bytes(payload[16..20].try_into().unwrap());
                st.ops.push(format!("DELSA {spi:08x}"));
                st.sas
                    .remove(&spi)
                    .map(|_| ())
                    .ok_or_else(|| nack(object, libc::ESRCH, None))
            }
            XFRM_MSG_NEWPOLICY | XFRM_MSG_UPDPOLICY => {
                let update = msg.message_type == XFRM_MSG_UPDPOLICY;
                let pol = parse::policy_state(&payload).unwrap();
                let key = (payload[..56].to_vec(), pol.direction);
                let offloaded = pol.offload.is_some();
                st.ops.push(format!(
                    "{} dir {} {}",
                    if update { "UPDPOLICY" } else { "NEWPOLICY" },
                    pol.direction,
                    if offloaded { "packet" } else { "sw" }
                ));
                if !update && st.policies.contains_key(&key) {
                    return Err(nack(object, libc::EEXIST, None));
                }
                if pol.direction == XFRM_POLICY_OUT
                    && (st.fail_out_policy || (st.fail_offloaded_out_policy && offloaded))
                {
                    return Err(nack(object, libc::EINVAL, Some("injected failure")));
                }
                if offloaded {
                    match self.device {
                        Device::Veth => {
                            return Err(nack(
                                object,
                                libc::EINVAL,
                                Some("Policy offload is not supported"),
                            ));
                        }
                        Device::Mlx5CryptoOnly => {
                            return Err(nack(
                                object,
                                libc::EINVAL,
                                Some("mlx5_core: Packet offload is not supported"),
                            ));
                        }
                        Device::Mlx5 => {}
                    }
                }
                st.policies.insert(key, payload);
                Ok(())
            }
            XFRM_MSG_DELPOLICY => {
                let key = (payload[..56].to_vec(), payload[60]);
                st.ops.push(format!("DELPOLICY dir {}", payload[60]));
                st.policies
                    .remove(&key)
                    .map(|_| ())
                    .ok_or_else(|| nack(object, libc::ENOENT, None))
            }
            t => panic!("model: unexpected ack request {t:#x}"),
        }
    }

    fn request_reply(
        &mut self,
        req: Request,
        reply_type: u16,
        object: XfrmObject,
    ) -> Result<Vec<u8>, XfrmError> {
        let msg = parse::messages(req.as_bytes()).next().unwrap().unwrap();
        let mut st = self.state.lock().unwrap();
        let payload = msg.payload;
        match (msg.message_type, reply_type) {
            (XFRM_MSG_ALLOCSPI, XFRM_MSG_NEWSA) => {
                let spi = 0xc000_0abc + st.larval.len() as u32;
                st.larval.push(spi);
                let mut info = payload[..224].to_vec();
                info[72..76].copy_from_slice(&spi.to_be_bytes());
                Ok(info)
            }
            (XFRM_MSG_GETSA, XFRM_MSG_NEWSA) => {
                let spi = u32::from_be_bytes(payload[16..20].try_into().unwrap());
                st.sas
                    .get(&spi)
                    .cloned()
                    .ok_or_else(|| nack(object, libc::ESRCH, None))
            }
            (XFRM_MSG_GETPOLICY, XFRM_MSG_NEWPOLICY) => {
                let key = (payload[..56].to_vec(), payload[60]);
                st.policies
                    .get(&key)
                    .cloned()
                    .ok_or_else(|| nack(object, libc::ENOENT, None))
            }
            (t, r) => panic!("model: unexpected request {t:#x} expecting {r:#x}"),
        }
    }
}

struct ModelDevices {
    esp_active: bool,
}

impl DeviceProbe for ModelDevices {
    fn device_for(
        &self,
        _local: IpAddr,
        explicit: Option<&str>,
    ) -> Result<(u32, String), XfrmError> {
        Ok((7, explicit.unwrap_or("p0").to_string()))
    }

    fn esp_offload(&self, _ifname: &str) -> Result<Option<FeatureState>, XfrmError> {
        Ok(Some(FeatureState {
            available: self.esp_active,
            active: self.esp_active,
            fixed: !self.esp_active,
        }))
    }
}

fn client(device: Device, esp_active: bool) -> (XfrmClient, Arc<Mutex<Model>>) {
    let state = Arc::new(Mutex::new(Model::default()));
    let client = XfrmClient::with_parts(
        Box::new(ModelKernel {
            device,
            state: state.clone(),
        }),
        Box::new(ModelDevices { esp_active }),
        ClientOptions { sa_dir: true },
    );
    (client, state)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn child(hw_offload: HwOffload) -> client::ChildInstall {
    let local = ip("192.168.50.1");
    let remote = ip("192.168.50.2");
    client::ChildInstall {
        local,
        remote,
        mode: Mode::Transport,
        protocol: IpsecProtocol::Esp,
        reqid: 1,
        spi_in: Spi(0xc0000011),
        spi_in_allocated: false,
        spi_out: Spi(0xc0000022),
        transform_in: EspTransform::Aead {
            name: "rfc4106(gcm(aes))".into(),
            key: SecretKey::new(vec![1; 20]),
            icv_bits: 128,
        },
        transform_out: EspTransform::Aead {
            name: "rfc4106(gcm(aes))".into(),
            key: SecretKey::new(vec![2; 20]),
            icv_bits: 128,
        },
        esn: true,
        replay_window: 32,
        lifetimes_in: Lifetimes::default(),
        lifetimes_out: Lifetimes::default(),
        selectors: vec![TrafficSelector::host_to_host(local, remote).with_proto(
            17,
            Port::ANY,
            Port::exact(4789),
        )],
        priority: None,
        policies_fwd_out: true,
        mark_in: None,
        mark_out: None,
        if_id_in: None,
        if_id_out: None,
        set_mark_in: None,
        set_mark_out: None,
        mark_in_sa: false,
        nat_t_ports: None,
        hw_offload,
        offload_device: None,
        acquire_seq: 0,
        proto_port_transport_sa: false,
    }
}

/// Every stored object's offload mode: (SA modes, policy offloaded flags).
fn modes(state: &Arc<Mutex<Model>>) -> (Vec<OffloadMode>, Vec<bool>) {
    let st = state.lock().unwrap();
    let sas = st
        .sas
        .values()
        .map(|p| parse::sa_state(p).unwrap().offload_mode())
        .collect();
    let pols = st
        .policies
        .values()
        .map(|p| parse::policy_state(p).unwrap().offload.is_some())
        .collect();
    (sas, pols)
}

#[test]
fn auto_on_mlx5_settles_on_packet_for_all_four_objects() {
    let (mut c, state) = client(Device::Mlx5, true);
    let installed = c.install_child(&child(HwOffload::Auto)).unwrap();
    assert_eq!(installed.offload, OffloadMode::Packet);
    assert_eq!(installed.sa_in_offload, OffloadMode::Packet);
    assert_eq!(installed.sa_out_offload, OffloadMode::Packet);
    assert_eq!(installed.device, Some((7, "p0".into())));
    assert!(installed.fallback_reasons.is_empty());
    assert_eq!(modes(&state), (vec![OffloadMode::Packet; 2], vec![true; 2]));
    c.remove_child(&installed).unwrap();
    assert_eq!(modes(&state), (vec![], vec![]));
}

#[test]
fn auto_without_packet_capability_falls_back_to_crypto_without_mixing_modes() {
    let (mut c, state) = client(Device::Mlx5CryptoOnly, true);
    let installed = c.install_child(&child(HwOffload::Auto)).unwrap();
    assert_eq!(installed.offload, OffloadMode::Crypto);
    assert_eq!(installed.sa_in_offload, OffloadMode::Crypto);
    assert_eq!(installed.sa_out_offload, OffloadMode::Crypto);
    assert_eq!(installed.fallback_reasons.len(), 1);
    assert!(
        installed.fallback_reasons[0].contains("mlx5_core: Packet offload is not supported"),
        "{:?}",
        installed.fallback_reasons
    );
    // Crypto mode: SAs offloaded, policies in software, nothing left from the packet try.
    assert_eq!(
        modes(&state),
        (vec![OffloadMode::Crypto; 2], vec![false; 2])
    );
}

#[test]
fn auto_on_veth_ends_in_software() {
    let (mut c, state) = client(Device::Veth, false);
    let installed = c.install_child(&child(HwOffload::Auto)).unwrap();
    assert_eq!(installed.offload, OffloadMode::None);
    assert_eq!(installed.device, None);
    assert_eq!(
        installed.fallback_reasons.len(),
        2,
        "{:?}",
        installed.fallback_reasons
    );
    assert!(installed.fallback_reasons[1].contains("esp-hw-offload"));
    assert_eq!(modes(&state), (vec![OffloadMode::None; 2], vec![false; 2]));
}

#[test]
fn packet_failure_at_the_last_object_rolls_everything_back() {
    let (mut c, state) = client(Device::Mlx5, true);
    state.lock().unwrap().fail_out_policy = true;
    let err = c.install_child(&child(HwOffload::Packet)).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("out policy") && text.contains("injected failure"),
        "{text}"
    );
    assert_eq!(modes(&state), (vec![], vec![]), "nothing left installed");
    let ops = state.lock().unwrap().ops.clone();
    assert_eq!(
        ops,
        vec![
            "NEWSA c0000011 packet",
            "NEWPOLICY dir 0 packet",
            "NEWSA c0000022 packet",
            "NEWPOLICY dir 1 packet",
            "DELPOLICY dir 0",
            "DELSA c0000022",
            "DELSA c0000011",
        ]
    );
}

#[test]
fn auto_retries_in_crypto_when_only_the_offloaded_out_policy_fails() {
    let (mut c, state) = client(Device::Mlx5, true);
    state.lock().unwrap().fail_offloaded_out_policy = true;
    let mut ch = child(HwOffload::Auto);
    // An allocated SPI: the first attempt UPDSAs the larval SA; after its rollback the
    // larval SA is gone, so the crypto attempt must create the SA anew.
    let spi = c
        .alloc_spi(ch.remote, ch.local, IpsecProtocol::Esp, ch.reqid)
        .unwrap();
    ch.spi_in = spi;
    ch.spi_in_allocated = true;
    let installed = c.install_child(&ch).unwrap();
    assert_eq!(installed.offload, OffloadMode::Crypto);
    assert_eq!(
        modes(&state),
        (vec![OffloadMode::Crypto; 2], vec![false; 2])
    );
    let ops = state.lock().unwrap().ops.clone();
    assert_eq!(ops[0], format!("UPDSA {:08x} packet", spi.0));
    assert!(
        ops.contains(&format!("NEWSA {:08x} crypto", spi.0)),
        "crypto attempt re-creates the inbound SA: {ops:?}"
    );
}

#[test]
fn crypto_that_the_kernel_silently_installs_in_software_is_refused() {
    // A device that advertises esp-hw-offload but whose kernel path falls back silently
    // (modelled as veth semantics with the feature on): the read-back catches it.
    let (mut c, state) = client(Device::Veth, true);
    let err = c.install_child(&child(HwOffload::Crypto)).unwrap_err();
    assert!(
        matches!(
            err,
            XfrmError::OffloadNotApplied {
                wanted: OffloadMode::Crypto,
                actual: OffloadMode::None,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(modes(&state), (vec![], vec![]));
}

#[test]
fn no_offload_never_touches_devices_or_offload_attributes() {
    let (mut c, state) = client(Device::Veth, false);
    let installed = c.install_child(&child(HwOffload::No)).unwrap();
    assert_eq!(installed.offload, OffloadMode::None);
    assert_eq!(installed.device, None);
    let ops = state.lock().unwrap().ops.clone();
    assert!(
        ops.iter()
            .all(|o| !o.contains("packet") && !o.contains("crypto")),
        "{ops:?}"
    );
}

/// SPI pinned in the stored OUT policy's template (bytes 16..20 of the first xfrm_user_tmpl).
fn out_policy_template_spi(state: &Arc<Mutex<Model>>) -> u32 {
    let st = state.lock().unwrap();
    let payload = st
        .policies
        .iter()
        .find(|((_, dir), _)| *dir == XFRM_POLICY_OUT)
        .map(|(_, p)| p.clone())
        .unwrap();
    let (_, tmpl) = parse::attributes(&payload[168..])
        .map(Result::unwrap)
        .find(|(kind, _)| *kind == XFRMA_TMPL)
        .unwrap();
    u32::from_be_bytes(tmpl[16..20].try_into().unwrap())
}

fn rekeyed(old: &client::ChildInstall) -> client::ChildInstall {
    let mut new = old.clone();
    new.spi_in = Spi(0xc0000033);
    new.spi_out = Spi(0xc0000044);
    new.transform_in = EspTransform::Aead {
        name: "rfc4106(gcm(aes))".into(),
        key: SecretKey::new(vec![3; 20]),
        icv_bits: 128,
    };
    new
}

#[test]
fn rekey_keeps_the_mode_switches_the_out_template_and_keeps_old_sas() {
    let (mut c, state) = client(Device::Mlx5, true);
    let first = child(HwOffload::Packet);
    let old = c.install_child(&first).unwrap();
    assert_eq!(out_policy_template_spi(&state), 0xc0000022);
    let new = c.rekey_child(&old, &rekeyed(&first)).unwrap();
    assert_eq!(new.offload, OffloadMode::Packet);
    assert_eq!(new.sa_out.spi, Spi(0xc0000044));
    assert_eq!(new.policies, old.policies);
    assert_eq!(out_policy_template_spi(&state), 0xc0000044);
    // Old and new SAs coexist until the caller retires the old pair.
    assert_eq!(modes(&state), (vec![OffloadMode::Packet; 4], vec![true; 2]));
    c.remove_sas(&[old.sa_in, old.sa_out]).unwrap();
    assert_eq!(state.lock().unwrap().sas.len(), 2);
    c.remove_child(&new).unwrap();
    assert_eq!(modes(&state), (vec![], vec![]));
}

#[test]
fn failed_rekey_restores_the_old_child() {
    let (mut c, state) = client(Device::Mlx5, true);
    let first = child(HwOffload::Packet);
    let old = c.install_child(&first).unwrap();
    state.lock().unwrap().fail_out_policy = true;
    let err = c.rekey_child(&old, &rekeyed(&first)).unwrap_err();
    assert!(err.to_string().contains("injected failure"), "{err}");
    // Only the old SAs remain, the OUT policy still points at the old outbound SA, and
    // the IN policy (updated before the failure) was restored to the old spec.
    let st = state.lock().unwrap();
    assert_eq!(
        st.sas.keys().copied().collect::<Vec<_>>(),
        vec![0xc0000011, 0xc0000022]
    );
    drop(st);
    assert_eq!(out_policy_template_spi(&state), 0xc0000022);
    let ops = state.lock().unwrap().ops.clone();
    let tail: Vec<&str> = ops.iter().rev().take(4).rev().map(String::as_str).collect();
    assert_eq!(
        tail,
        vec![
            "UPDPOLICY dir 1 packet",
            "UPDPOLICY dir 0 packet",
            "DELSA c0000044",
            "DELSA c0000033",
        ]
    );
}

/// A second client on the same kernel state: a new iked process after one that crashed.
fn restarted(device: Device, state: &Arc<Mutex<Model>>) -> XfrmClient {
    XfrmClient::with_parts(
        Box::new(ModelKernel {
            device,
            state: state.clone(),
        }),
        Box::new(ModelDevices { esp_active: false }),
        ClientOptions { sa_dir: true },
    )
}

/// The same child renegotiated by a new instance: new SPIs, same selectors.
fn renegotiated() -> client::ChildInstall {
    let mut c = child(HwOffload::No);
    c.spi_in = Spi(0xc0000033);
    c.spi_out = Spi(0xc0000044);
    c
}

#[test]
fn policies_left_by_a_crashed_instance_are_updated_not_refused() {
    let (mut crashed, state) = client(Device::Veth, false);
    crashed.install_child(&child(HwOffload::No)).unwrap();
    // The instance dies without removing anything; a new one installs the same child.
    drop(crashed);
    state.lock().unwrap().ops.clear();
    let mut c = restarted(Device::Veth, &state);
    let installed = c.install_child(&renegotiated()).unwrap();
    let ops = state.lock().unwrap().ops.clone();
    // Each policy is tried as new, found to exist, and updated in place.
    assert_eq!(
        ops.iter().filter(|o| o.starts_with("NEWPOLICY")).count(),
        2,
        "{ops:?}"
    );
    assert_eq!(
        ops.iter().filter(|o| o.starts_with("UPDPOLICY")).count(),
        2,
        "{ops:?}"
    );
    // The policies now belong to the new instance: removing its child removes them.
    c.remove_child(&installed).unwrap();
    assert!(state.lock().unwrap().policies.is_empty());
}

#[test]
fn a_policy_this_instance_installed_is_never_taken_over() {
    let (mut c, state) = client(Device::Veth, false);
    let first = c.install_child(&child(HwOffload::No)).unwrap();
    // A second child with the same selectors (another negotiation of ours) is refused, and
    // rolls back only what it added: the first child's policies stay.
    let err = c.install_child(&renegotiated()).unwrap_err();
    assert!(err.is_exists(), "{err}");
    assert_eq!(state.lock().unwrap().policies.len(), 2);
    assert!(
        !state
            .lock()
            .unwrap()
            .ops
            .iter()
            .any(|o| o.starts_with("UPDPOLICY")),
        "one of our own policies was overwritten"
    );
    c.remove_child(&first).unwrap();
    assert!(state.lock().unwrap().policies.is_empty());
}
