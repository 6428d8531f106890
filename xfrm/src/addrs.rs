//! Address change notifications (`RTNLGRP_IPV4_IFADDR`, `RTNLGRP_IPV6_IFADDR`).
//!
//! Contract: [`AddressMonitor`] only says *that* addresses changed (any `RTM_NEWADDR` or
//! `RTM_DELADDR`); the caller then checks the addresses it cares about, which also covers
//! changes that a full socket buffer made it miss.

use crate::error::XfrmError;
use crate::socket::NetlinkSocket;

/// `RTNLGRP_IPV4_IFADDR`.
pub const RTNLGRP_IPV4_IFADDR: u32 = 5;
/// `RTNLGRP_IPV6_IFADDR`.
pub const RTNLGRP_IPV6_IFADDR: u32 = 9;

/// A socket subscribed to address events in the caller's network namespace.
#[derive(Debug)]
pub struct AddressMonitor {
    socket: NetlinkSocket,
}

impl AddressMonitor {
    /// Subscribes (non-blocking, for an event loop).
    pub fn new() -> Result<Self, XfrmError> {
        let socket = NetlinkSocket::subscribed(
            netlink_sys::constants::NETLINK_ROUTE,
            &[RTNLGRP_IPV4_IFADDR, RTNLGRP_IPV6_IFADDR],
        )?;
        socket.set_nonblocking(true)?;
        Ok(AddressMonitor { socket })
    }

    /// The raw fd, for an event loop.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.raw_fd()
    }

    /// Reads every queued datagram; true if there was at least one. A full receive buffer
    /// (`ENOBUFS`: events were lost) counts as a change too.
    pub fn drain(&mut self) -> bool {
        let mut any = false;
        loop {
            match self.socket.recv_datagram() {
                Ok(_) => any = true,
                Err(e) if e.is_would_block() => return any,
                Err(_) => return true,
            }
        }
    }
}
