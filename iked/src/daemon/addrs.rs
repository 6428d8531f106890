//! Local addresses that are not on the host yet (issue 16 §2).
//!
//! Contract:
//! - An address is there when a socket can be bound to it ([`is_local`]), which is what the
//!   daemon needs of it.
//! - A connection waits ([`waiting_for`]) when its `local_addrs` name concrete addresses and
//!   none of them is on the host; `%any`, subnets and ranges never wait. A waiting connection
//!   is loaded (it can answer nothing yet, having no socket) and its `start_action = trap`
//!   policies are installed (the kernel takes policies for any address), but
//!   `start_action = start` is held back until an address appears, then run: charon starts
//!   as well and uses the address once it is there.
//! - [`Watch`] wakes the event loop on every address change (`RTM_NEWADDR`/`RTM_DELADDR`,
//!   through a non-blocking netlink socket registered with tokio, so the loop never blocks on
//!   it); the loop then binds the addresses that became usable and lets the core start what
//!   no longer waits.

use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};

use tokio::io::unix::AsyncFd;

/// Whether this host can use `ip` as a source address now: a UDP socket binds to it (an
/// address in a local route such as 127.0.0.2 counts; a tentative IPv6 address does not yet).
pub fn is_local(ip: IpAddr) -> bool {
    match std::net::UdpSocket::bind((ip, 0)) {
        Ok(_) => true,
        Err(e) => e.kind() != std::io::ErrorKind::AddrNotAvailable,
    }
}

/// The concrete local addresses `conn` waits for: empty unless it names some and none is
/// usable (`local` tells which are).
pub fn waiting_for(conn: &iked_conf::Connection, local: &dyn Fn(IpAddr) -> bool) -> Vec<IpAddr> {
    let mut concrete = Vec::new();
    for a in &conn.local_addrs {
        match a {
            iked_conf::addr::AddrSpec::Addr(ip) if !ip.is_unspecified() => concrete.push(*ip),
            // Anything wider matches whatever address the host has.
            _ => return Vec::new(),
        }
    }
    if concrete.iter().any(|ip| local(*ip)) {
        return Vec::new();
    }
    concrete
}

/// Of the addresses to bind, those usable now (the others are logged by the caller).
pub fn bindable(wanted: &[IpAddr], local: &dyn Fn(IpAddr) -> bool) -> Vec<IpAddr> {
    wanted.iter().copied().filter(|a| local(*a)).collect()
}

struct Monitor(iked_xfrm::addrs::AddressMonitor);

impl AsRawFd for Monitor {
    fn as_raw_fd(&self) -> RawFd {
        self.0.raw_fd()
    }
}

/// Wakes on address changes.
pub struct Watch {
    fd: AsyncFd<Monitor>,
}

impl Watch {
    /// Subscribes in the daemon's namespace; `None` (logged) if that is impossible, in which
    /// case addresses that appear later are only picked up on a reload.
    pub fn open() -> Option<Self> {
        let opened = iked_xfrm::addrs::AddressMonitor::new()
            .map_err(|e| e.to_string())
            .and_then(|m| {
                // SAFETY: the fd is the monitor's netlink socket, which `Monitor` owns and
                // keeps open, unchanged, for as long as the `AsyncFd` holds it.
                unsafe { AsyncFd::register(Monitor(m)) }.map_err(|e| e.into_parts().1.to_string())
            });
        match opened {
            Ok(fd) => Some(Watch { fd }),
            Err(e) => {
                tracing::warn!(target: "NET", "watching address changes failed: {e}");
                None
            }
        }
    }

    /// Waits until addresses changed.
    pub async fn changed(&mut self) {
        loop {
            let Ok(mut guard) = self.fd.readable_mut().await else {
                return std::future::pending().await;
            };
            let any = guard.get_inner_mut().0.drain();
            guard.clear_ready();
            if any {
                return;
            }
        }
    }
}

/// [`Watch::changed`] on an optional watch (pending forever without one).
pub async fn changed(watch: &mut Option<Watch>) {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(local: &str) -> iked_conf::Connection {
        let text = format!("connections {{ c {{\n local_addrs = {local}\n}} }}");
        iked_conf::load_str("t.conf", &text)
            .unwrap()
            .config
            .connections
            .remove(0)
    }

    #[test]
    fn only_concrete_addresses_that_are_all_missing_wait() {
        let here: IpAddr = "192.0.2.1".parse().unwrap();
        let local = move |ip: IpAddr| ip == here;
        assert_eq!(
            waiting_for(&conn("198.51.100.7"), &local),
            ["198.51.100.7".parse::<IpAddr>().unwrap()]
        );
        assert!(waiting_for(&conn("198.51.100.7, 192.0.2.1"), &local).is_empty());
        assert!(waiting_for(&conn("%any"), &local).is_empty());
        assert!(waiting_for(&conn("0.0.0.0/0"), &local).is_empty());
        assert_eq!(
            bindable(&["198.51.100.7".parse().unwrap(), here], &local),
            [here]
        );
    }

    #[test]
    fn loopback_addresses_are_local_a_documentation_address_is_not() {
        assert!(is_local("127.0.0.1".parse().unwrap()));
        // In 127.0.0.0/8's local route without being configured: usable, as for the tests'
        // second daemon.
        assert!(is_local("127.0.0.2".parse().unwrap()));
        assert!(!is_local("198.51.100.77".parse().unwrap()));
    }
}
