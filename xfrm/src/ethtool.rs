//! Device feature probing with the `SIOCETHTOOL` ioctl, as strongSwan does
//! (`netlink_find_offload_feature` / `netlink_detect_offload`): look up the bit of the
//! `esp-hw-offload` string in the `ETH_SS_FEATURES` string set, then read the device's
//! feature words with `ETHTOOL_GFEATURES`.
//!
//! Contract: read-only queries on a named interface in the caller's network namespace.
//! Buffers are sized from the kernel's own counts, bounded, and every read is checked.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::error::XfrmError;

/// Feature string of `NETIF_F_HW_ESP`.
pub const ESP_HW_OFFLOAD: &str = "esp-hw-offload";

const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GSTRINGS: u32 = 0x1b;
const ETHTOOL_GSSET_INFO: u32 = 0x37;
const ETHTOOL_GFEATURES: u32 = 0x3a;
const ETH_SS_FEATURES: u32 = 4;
const ETH_GSTRING_LEN: usize = 32;
/// Upper bound on feature strings accepted from the kernel (Linux has ~70).
const MAX_FEATURES: usize = 1024;

/// State of one device feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureState {
    /// The device could turn it on.
    pub available: bool,
    /// It is on.
    pub active: bool,
    /// The user cannot change it (ethtool's "[fixed]").
    pub fixed: bool,
}

#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

fn socket() -> Result<OwnedFd, XfrmError> {
    // SAFETY: plain socket(2) call; the result is checked before it is wrapped.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(XfrmError::Socket {
            context: "ethtool socket",
            source: std::io::Error::last_os_error(),
        });
    }
    // SAFETY: `fd` is a freshly created, owned descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn ethtool(fd: &OwnedFd, ifname: &str, data: &mut [u32]) -> Result<(), XfrmError> {
    let bytes = ifname.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ {
        return Err(XfrmError::NoSuchInterface(ifname.to_string()));
    }
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: data.as_mut_ptr().cast(),
        _pad: [0; 16],
    };
    req.name[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: `req` is a valid ifreq whose data pointer refers to `data`, which outlives
    // the call and is as large as the command structure the kernel reads and writes
    // (each caller sizes it from the counts the kernel reported).
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), SIOCETHTOOL as _, &mut req as *mut IfReq) };
    if rc < 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ENODEV) {
            return Err(XfrmError::NoSuchInterface(ifname.to_string()));
        }
        return Err(XfrmError::Socket {
            context: "SIOCETHTOOL",
            source: err,
        });
    }
    Ok(())
}

/// Names of the feature bits, in bit order.
pub fn feature_names(ifname: &str) -> Result<Vec<String>, XfrmError> {
    let fd = socket()?;
    // struct ethtool_sset_info { u32 cmd; u32 reserved; u64 sset_mask; u32 data[1]; }
    let mut sset = [0u32; 5];
    sset[0] = ETHTOOL_GSSET_INFO;
    let mask = (1u64 << ETH_SS_FEATURES).to_ne_bytes();
    sset[2] = u32::from_ne_bytes([mask[0], mask[1], mask[2], mask[3]]);
    sset[3] = u32::from_ne_bytes([mask[4], mask[5], mask[6], mask[7]]);
    ethtool(&fd, ifname, &mut sset)?;
    let count = (sset[4] as usize).min(MAX_FEATURES);
    // struct ethtool_gstrings { u32 cmd; u32 string_set; u32 len; u8 data[len * 32]; }
    let mut strings = vec![0u32; 3 + count * ETH_GSTRING_LEN / 4];
    strings[0] = ETHTOOL_GSTRINGS;
    strings[1] = ETH_SS_FEATURES;
    strings[2] = count as u32;
    ethtool(&fd, ifname, &mut strings)?;
    let returned = (strings[2] as usize).min(count);
    let raw: Vec<u8> = strings[3..].iter().flat_map(|w| w.to_ne_bytes()).collect();
    Ok(raw
        .chunks_exact(ETH_GSTRING_LEN)
        .take(returned)
        .map(|s| {
            let end = s.iter().position(|b| *b == 0).unwrap_or(s.len());
            String::from_utf8_lossy(&s[..end]).into_owned()
        })
        .collect())
}

/// State of the feature named `feature` on `ifname`; `None` if the kernel has no such feature.
pub fn feature_state(ifname: &str, feature: &str) -> Result<Option<FeatureState>, XfrmError> {
    let names = feature_names(ifname)?;
    let Some(bit) = names.iter().position(|n| n == feature) else {
        return Ok(None);
    };
    let fd = socket()?;
    let blocks = names.len().div_ceil(32);
    // struct ethtool_gfeatures { u32 cmd; u32 size; struct { u32 available, requested,
    // active, never_changed; } features[size]; }
    let mut buf = vec![0u32; 2 + 4 * blocks];
    buf[0] = ETHTOOL_GFEATURES;
    buf[1] = blocks as u32;
    ethtool(&fd, ifname, &mut buf)?;
    let block = 2 + 4 * (bit / 32);
    let mask = 1u32 << (bit % 32);
    let word = |i: usize| buf.get(block + i).copied().unwrap_or(0) & mask != 0;
    Ok(Some(FeatureState {
        available: word(0),
        active: word(2),
        // ethtool prints "[fixed]" for bits outside hw_features or in NETIF_F_NEVER_CHANGE.
        fixed: !word(0) || word(3),
    }))
}

/// `esp-hw-offload` state of `ifname`.
pub fn esp_offload(ifname: &str) -> Result<Option<FeatureState>, XfrmError> {
    feature_state(ifname, ESP_HW_OFFLOAD)
}
