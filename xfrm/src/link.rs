//! The rtnetlink side the XFRM code needs: interface names and indexes, which interface
//! holds a local address (strongSwan picks the offload device that way), and link up/down
//! events. The kernel flushes packet-offloaded SAs and policies of a device that goes down
//! *without* any XFRM event, so the daemon must watch these link events.
//!
//! Contract: read-only; messages are built and parsed with `netlink-packet-route` 0.34 on
//! top of this crate's checked netlink framing.

use std::ffi::{CStr, CString};
use std::net::IpAddr;

use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload, ParseableParametrized,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};

use crate::consts::*;
use crate::error::{XfrmError, XfrmObject};
use crate::parse;
use crate::socket::NetlinkSocket;

/// `RTNLGRP_LINK`.
pub const RTNLGRP_LINK: u32 = 1;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;

/// Index of interface `name`.
pub fn ifindex(name: &str) -> Result<u32, XfrmError> {
    let c = CString::new(name).map_err(|_| XfrmError::NoSuchInterface(name.to_string()))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if index == 0 {
        return Err(XfrmError::NoSuchInterface(name.to_string()));
    }
    Ok(index)
}

/// Name of interface `index`.
pub fn ifname(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: `buf` has IF_NAMESIZE bytes, as if_indextoname requires; the result is
    // checked for NULL before the buffer is read as a C string.
    let ptr = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if ptr.is_null() {
        return None;
    }
    // SAFETY: on success the kernel wrote a NUL-terminated name into `buf`.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

fn dump(request: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>, XfrmError> {
    let mut sock = NetlinkSocket::route()?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(request));
    msg.finalize();
    let mut bytes = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut bytes);
    let seq = sock.send_raw(&mut bytes)?;
    let mut out = Vec::new();
    loop {
        let datagram = sock.recv_datagram()?;
        for m in parse::messages(datagram) {
            let m = m?;
            if m.seq != seq {
                continue;
            }
            match m.message_type {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    crate::socket::ack_result(&m, XfrmObject::Other("rtnetlink dump"))?;
                    return Ok(out);
                }
                t => {
                    // Entries the library cannot decode are skipped, not fatal.
                    if let Ok(parsed) = RouteNetlinkMessage::parse_with_param(m.payload, t) {
                        out.push(parsed);
                    }
                }
            }
        }
    }
}

/// The interface that holds `addr` (index and name), as strongSwan's `get_interface`.
pub fn interface_for_address(addr: IpAddr) -> Result<(u32, String), XfrmError> {
    let entries = dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()))?;
    for entry in entries {
        if let RouteNetlinkMessage::NewAddress(a) = entry {
            let holds = a.attributes.iter().any(|attr| match attr {
                AddressAttribute::Local(ip) | AddressAttribute::Address(ip) => *ip == addr,
                _ => false,
            });
            if holds {
                let index = a.header.index;
                let name = ifname(index).unwrap_or_else(|| format!("if#{index}"));
                return Ok((index, name));
            }
        }
    }
    Err(XfrmError::NoInterfaceForAddress(addr))
}

/// A link state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkEvent {
    /// Interface index.
    pub index: u32,
    /// Interface name, if the message carried it.
    pub name: Option<String>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Carrier present (`IFF_LOWER_UP`).
    pub lower_up: bool,
    /// The interface was removed (`RTM_DELLINK`).
    pub removed: bool,
}

fn link_event(link: &LinkMessage, removed: bool) -> LinkEvent {
    let name = link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    });
    LinkEvent {
        index: link.header.index,
        name,
        up: link.header.flags.contains(LinkFlags::Up),
        lower_up: link.header.flags.contains(LinkFlags::LowerUp),
        removed,
    }
}

/// Current state of every link (for the initial table).
pub fn links() -> Result<Vec<LinkEvent>, XfrmError> {
    let entries = dump(RouteNetlinkMessage::GetLink(LinkMessage::default()))?;
    Ok(entries
        .iter()
        .filter_map(|e| match e {
            RouteNetlinkMessage::NewLink(l) => Some(link_event(l, false)),
            _ => None,
        })
        .collect())
}

/// Decode link events from one rtnetlink datagram (others are ignored).
pub fn link_events(datagram: &[u8]) -> Vec<LinkEvent> {
    let mut out = Vec::new();
    for m in parse::messages(datagram).flatten() {
        if m.message_type != RTM_NEWLINK && m.message_type != RTM_DELLINK {
            continue;
        }
        if let Ok(RouteNetlinkMessage::NewLink(l) | RouteNetlinkMessage::DelLink(l)) =
            RouteNetlinkMessage::parse_with_param(m.payload, m.message_type)
        {
            out.push(link_event(&l, m.message_type == RTM_DELLINK));
        }
    }
    out
}

/// A socket subscribed to link events.
#[derive(Debug)]
pub struct LinkMonitor {
    socket: NetlinkSocket,
}

impl LinkMonitor {
    /// Subscribe to `RTNLGRP_LINK`.
    pub fn new() -> Result<Self, XfrmError> {
        let socket =
            NetlinkSocket::subscribed(netlink_sys::constants::NETLINK_ROUTE, &[RTNLGRP_LINK])?;
        Ok(LinkMonitor { socket })
    }

    /// Bound waits (`None` = block).
    pub fn set_timeout(&self, timeout: Option<std::time::Duration>) -> Result<(), XfrmError> {
        self.socket.set_timeout(timeout)
    }

    /// Non-blocking receives for an event loop (see [`NetlinkSocket::set_nonblocking`]).
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<(), XfrmError> {
        self.socket.set_nonblocking(nonblocking)
    }

    /// The raw fd, for an event loop.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.raw_fd()
    }

    /// Wait for the next batch of link events.
    pub fn next_events(&mut self) -> Result<Vec<LinkEvent>, XfrmError> {
        let datagram = self.socket.recv_datagram()?;
        Ok(link_events(datagram))
    }
}
