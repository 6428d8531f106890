//! IKE's UDP sockets: port 500 and the NAT-T port 4500, per local address, IPv4 and IPv6.
//!
//! Contract:
//! - [`Sockets::bind`] binds every configured local address (or the wildcards when none is
//!   configured) on both ports; each socket gets a receive task that forwards datagrams as
//!   [`Received`] into one channel, so the event loop has a single input.
//! - On the NAT-T port, IKE messages carry the 4-byte non-ESP marker (RFC 3948): it is
//!   stripped on receive and added on send. One-byte NAT keepalives (0xff) are dropped on
//!   receive and sent as they are (the engine's keepalive is a [`NAT_KEEPALIVE`] payload, which
//!   no IKE message can be), as charon's socket-default does; other traffic there is
//!   ESP-in-UDP, which the kernel consumes (`UDP_ENCAP_ESPINUDP`).
//! - A datagram received on a wildcard socket is attributed to the address it was sent to
//!   (IP_PKTINFO / IPV6_RECVPKTINFO), and a reply from that address leaves with it as its
//!   source (the same control message on send), as charon's socket-default does: on a host
//!   with several addresses the peer always hears back from the address it talked to.
//! - Every datagram from the network passes here first (then `nat_t::classify` and the
//!   engine): outside tests the module denies the panicking clippy lints (unwrap, expect,
//!   panic, indexing, unchecked arithmetic).
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

use std::collections::HashMap;
use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrStorage, recvmsg, sendmsg,
};
use tokio::io::Interest;

use iked_ike::wire::nat_t::{self, NatTPayload};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

/// A datagram for the engine.
#[derive(Debug)]
pub struct Received {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Ports in use (charon's `port` and `port_nat_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    pub ike: u16,
    pub nat_t: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Self {
            ike: 500,
            nat_t: 4500,
        }
    }
}

/// The bound sockets.
pub struct Sockets {
    ports: Ports,
    sockets: HashMap<SocketAddr, Arc<UdpSocket>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Sockets {
    /// Binds `addrs` (wildcards if empty) on both ports.
    pub async fn bind(
        addrs: &[IpAddr],
        ports: Ports,
        sink: mpsc::Sender<Received>,
    ) -> std::io::Result<Self> {
        let mut set = Sockets {
            ports,
            sockets: HashMap::new(),
            tasks: Vec::new(),
        };
        let wildcard = addrs.is_empty();
        let addrs: Vec<IpAddr> = if wildcard {
            vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ]
        } else {
            addrs.to_vec()
        };
        for addr in addrs {
            for port in [ports.ike, ports.nat_t] {
                let local = SocketAddr::new(addr, port);
                let socket = match bind_one(local, port == ports.nat_t) {
                    Ok(s) => Arc::new(s),
                    // A host without IPv6 still serves IPv4.
                    Err(e) if wildcard && addr.is_ipv6() => {
                        tracing::warn!(target: "NET", "not listening on {local}: {e}");
                        continue;
                    }
                    Err(e) => return Err(std::io::Error::new(e.kind(), format!("{local}: {e}"))),
                };
                let bound = socket.local_addr()?;
                tracing::info!(target: "NET", "listening on {bound}");
                set.tasks.push(tokio::spawn(receive_loop(
                    socket.clone(),
                    bound,
                    port == ports.nat_t,
                    sink.clone(),
                )));
                set.sockets.insert(bound, socket);
            }
        }
        Ok(set)
    }

    /// Binds further concrete addresses next to the ones bound (an address that appeared on
    /// the host); all or none of them.
    pub async fn add(
        &mut self,
        addrs: &[IpAddr],
        sink: mpsc::Sender<Received>,
    ) -> std::io::Result<()> {
        if addrs.is_empty() {
            return Ok(());
        }
        let mut more = Sockets::bind(addrs, self.ports, sink).await?;
        // Taken over, so that dropping `more` aborts nothing.
        self.sockets.extend(std::mem::take(&mut more.sockets));
        self.tasks.append(&mut more.tasks);
        Ok(())
    }

    /// Local addresses the sockets are bound to.
    pub fn bound(&self) -> Vec<SocketAddr> {
        self.sockets.keys().copied().collect()
    }

    /// Sends an IKE message (or a NAT keepalive) from `local` to `remote`, adding the
    /// non-ESP marker to IKE messages on NAT-T.
    pub async fn send(
        &self,
        local: SocketAddr,
        remote: SocketAddr,
        bytes: &[u8],
    ) -> std::io::Result<()> {
        // The engine speaks in IKE's well-known ports; map them onto the configured ones.
        let port = match local.port() {
            0 | 500 => self.ports.ike,
            4500 => self.ports.nat_t,
            p => p,
        };
        let wildcard = SocketAddr::new(
            if remote.is_ipv4() {
                IpAddr::V4(Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V6(Ipv6Addr::UNSPECIFIED)
            },
            port,
        );
        let (socket, from) = match self.sockets.get(&SocketAddr::new(local.ip(), port)) {
            Some(socket) => (socket, None),
            // A wildcard socket sends from the engine's local address, not from whatever the
            // routing table would pick.
            None => (
                self.sockets.get(&wildcard).ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::AddrNotAvailable,
                        format!("no socket bound to {local}"),
                    )
                })?,
                Some(local.ip()).filter(|ip| !ip.is_unspecified()),
            ),
        };
        let framed;
        let bytes = if port == self.ports.nat_t {
            framed = nat_t::frame(bytes);
            &framed[..]
        } else {
            bytes
        };
        match from {
            None => {
                socket.send_to(bytes, remote).await?;
            }
            Some(from) => {
                socket
                    .async_io(Interest::WRITABLE, || {
                        send_from(socket.as_raw_fd(), bytes, from, remote)
                    })
                    .await?;
            }
        }
        Ok(())
    }
}

impl Drop for Sockets {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn bind_one(local: SocketAddr, nat_t: bool) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(local), Type::DGRAM, Some(Protocol::UDP))?;
    if local.is_ipv6() {
        // Separate IPv4 and IPv6 sockets on the same port: without V6ONLY the IPv6
        // wildcard would also claim IPv4 and collide with the IPv4 socket.
        socket.set_only_v6(true)?;
    }
    socket.bind(&local.into())?;
    socket.set_nonblocking(true)?;
    grow_receive_buffer(&socket);
    if local.ip().is_unspecified() {
        // Which of the host's addresses each datagram was sent to.
        let (level, name) = if local.is_ipv6() {
            (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
        } else {
            (libc::IPPROTO_IP, libc::IP_PKTINFO)
        };
        set_int_option(socket.as_raw_fd(), level, name, 1)?;
    }
    let std_socket: std::net::UdpSocket = socket.into();
    if nat_t {
        enable_esp_in_udp(&std_socket);
    }
    UdpSocket::from_std(std_socket)
}

/// Receive buffer asked for on each IKE socket. The daemon answers from one thread; while it is
/// busy (a burst of set-ups, an IKE_SA_INIT flood it answers with cookies) datagrams queue here,
/// and the kernel default (`net.core.rmem_default`, 208 KiB of accounting) holds only a few
/// hundred. Memory is only used while datagrams wait.
const RECEIVE_BUFFER: libc::c_int = 4 << 20;

/// `SO_RCVBUF` is capped at `net.core.rmem_max`; `SO_RCVBUFFORCE` is not, and needs the
/// CAP_NET_ADMIN the daemon holds for XFRM anyway. Without it, take what the cap allows.
fn grow_receive_buffer(socket: &socket2::Socket) {
    use std::os::fd::AsRawFd;
    let forced = set_int_option(
        socket.as_raw_fd(),
        libc::SOL_SOCKET,
        libc::SO_RCVBUFFORCE,
        RECEIVE_BUFFER,
    );
    if forced.is_err()
        && let Err(e) = socket.set_recv_buffer_size(RECEIVE_BUFFER as usize)
    {
        tracing::debug!(target: "NET", "enlarging the IKE socket receive buffer failed: {e}");
    }
}

/// Lets the kernel decapsulate ESP-in-UDP arriving on the NAT-T socket, as charon does.
fn enable_esp_in_udp(socket: &std::net::UdpSocket) {
    use std::os::fd::AsRawFd;
    // linux/udp.h: UDP_ENCAP = 100 (socket option), UDP_ENCAP_ESPINUDP = 2 (RFC 3948).
    const UDP_ENCAP: libc::c_int = 100;
    const UDP_ENCAP_ESPINUDP: libc::c_int = 2;
    if let Err(e) = set_int_option(
        socket.as_raw_fd(),
        libc::IPPROTO_UDP,
        UDP_ENCAP,
        UDP_ENCAP_ESPINUDP,
    ) {
        tracing::warn!(
            target: "NET",
            "enabling UDP encapsulation on the NAT-T socket failed: {e}"
        );
    }
}

/// `setsockopt` with an `int` value (socket2 has no call for these two options).
fn set_int_option(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> std::io::Result<()> {
    // SAFETY: callers pass the fd of a socket they own and keep open across the call; the
    // option value points to a c_int that lives across the call and its size is passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The source address the kernel would use towards `remote` (for initiating from
/// `local_addrs = %any`): a connected, never used UDP socket asks the routing table without
/// sending anything.
pub fn route_source(remote: SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = if remote.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let probe = std::net::UdpSocket::bind(any).ok()?;
    probe.connect(remote).ok()?;
    probe.local_addr().ok().map(|a| a.ip())
}

async fn receive_loop(
    socket: Arc<UdpSocket>,
    bound: SocketAddr,
    nat_t: bool,
    sink: mpsc::Sender<Received>,
) {
    let mut buf = vec![0u8; 65536];
    // Reused for every datagram: the receive path allocates nothing but the datagram's copy.
    let mut control = nix::cmsg_space!(libc::in_pktinfo, libc::in6_pktinfo);
    loop {
        let (len, remote, destination) = match socket
            .async_io(Interest::READABLE, || {
                recv_with_destination(socket.as_raw_fd(), &mut buf, &mut control)
            })
            .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(target: "NET", "receiving on {bound} failed: {e}");
                continue;
            }
        };
        let Some(data) = buf.get(..len) else {
            continue;
        };
        let ike = if nat_t {
            match nat_t::classify(data) {
                NatTPayload::Ike(ike) => ike,
                NatTPayload::Keepalive | NatTPayload::Esp => continue,
            }
        } else {
            data
        };
        let local_ip = match destination {
            Some(ip) if bound.ip().is_unspecified() => ip,
            _ => bound.ip(),
        };
        let received = Received {
            local: SocketAddr::new(local_ip, bound.port()),
            remote,
            bytes: ike.to_vec(),
        };
        if sink.send(received).await.is_err() {
            return;
        }
    }
}

/// Receives one datagram: its length, its source and (on sockets with IP_PKTINFO /
/// IPV6_RECVPKTINFO) the local address it was sent to.
fn recv_with_destination(
    fd: RawFd,
    buf: &mut [u8],
    control: &mut [u8],
) -> std::io::Result<(usize, SocketAddr, Option<IpAddr>)> {
    let mut iov = [IoSliceMut::new(buf)];
    let msg = recvmsg::<SockaddrStorage>(fd, &mut iov, Some(control), MsgFlags::empty())
        .map_err(std::io::Error::from)?;
    let remote = msg
        .address
        .as_ref()
        .and_then(socket_addr)
        .ok_or_else(|| std::io::Error::other("datagram without an IP source address"))?;
    let mut destination = None;
    // A truncated control buffer (ENOBUFS) only loses the destination: the wildcard address
    // then stands for it, as before this was known.
    if let Ok(cmsgs) = msg.cmsgs() {
        for cmsg in cmsgs {
            match cmsg {
                ControlMessageOwned::Ipv4PacketInfo(info) => {
                    destination = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                        info.ipi_addr.s_addr,
                    ))));
                }
                ControlMessageOwned::Ipv6PacketInfo(info) => {
                    destination = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                }
                _ => {}
            }
        }
    }
    Ok((msg.bytes, remote, destination))
}

/// Sends `bytes` to `remote` with `from` as the source address (IP_PKTINFO / IPV6_PKTINFO).
fn send_from(fd: RawFd, bytes: &[u8], from: IpAddr, remote: SocketAddr) -> std::io::Result<usize> {
    let iov = [IoSlice::new(bytes)];
    let to = SockaddrStorage::from(remote);
    let sent = match from {
        IpAddr::V4(from) => {
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr {
                    s_addr: u32::from(from).to_be(),
                },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            sendmsg(
                fd,
                &iov,
                &[ControlMessage::Ipv4PacketInfo(&info)],
                MsgFlags::empty(),
                Some(&to),
            )
        }
        IpAddr::V6(from) => {
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr {
                    s6_addr: from.octets(),
                },
                ipi6_ifindex: 0,
            };
            sendmsg(
                fd,
                &iov,
                &[ControlMessage::Ipv6PacketInfo(&info)],
                MsgFlags::empty(),
                Some(&to),
            )
        }
    };
    sent.map_err(std::io::Error::from)
}

fn socket_addr(address: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = address.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    address
        .as_sockaddr_in6()
        .map(|v6| SocketAddr::V6((*v6).into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With CAP_NET_ADMIN (tests run as root, like the daemon) the buffer exceeds the
    /// `rmem_max` cap; the kernel reports twice the size asked for (its bookkeeping share).
    #[tokio::test(flavor = "current_thread")]
    async fn ike_sockets_get_a_large_receive_buffer() {
        let socket = bind_one("127.0.0.1:0".parse().unwrap(), false).unwrap();
        let size = socket2::SockRef::from(&socket).recv_buffer_size().unwrap();
        if runs_as_root() {
            assert!(size >= RECEIVE_BUFFER as usize, "receive buffer {size}");
        } else {
            assert!(size > 0);
        }
    }

    fn runs_as_root() -> bool {
        std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                == Some("0")
        })
    }

    /// On a wildcard socket, a request sent to one of the host's addresses (127.0.0.2 here,
    /// the second address of `lo`) is attributed to that address, and the reply leaves from
    /// it; the routing table would have picked 127.0.0.1 towards a peer on 127.0.0.1.
    #[tokio::test(flavor = "current_thread")]
    async fn wildcard_sockets_answer_from_the_address_asked() {
        let (tx, mut rx) = mpsc::channel(4);
        let free = || {
            std::net::UdpSocket::bind("0.0.0.0:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port()
        };
        let ports = Ports {
            ike: free(),
            nat_t: free(),
        };
        let sockets = Sockets::bind(&[], ports, tx).await.unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let asked: IpAddr = "127.0.0.2".parse().unwrap();
        peer.send_to(b"request", SocketAddr::new(asked, ports.ike))
            .unwrap();
        let got = rx.recv().await.unwrap();
        assert_eq!(got.local, SocketAddr::new(asked, ports.ike));
        assert_eq!(got.remote, peer.local_addr().unwrap());
        sockets.send(got.local, got.remote, b"reply").await.unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"reply");
        assert_eq!(from, SocketAddr::new(asked, ports.ike));
        // The NAT-T port too (with its marker).
        peer.send_to(b"\0\0\0\0request", SocketAddr::new(asked, ports.nat_t))
            .unwrap();
        let got = rx.recv().await.unwrap();
        assert_eq!(got.local, SocketAddr::new(asked, ports.nat_t));
        sockets.send(got.local, got.remote, b"reply").await.unwrap();
        let (n, from) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\0\0\0\0reply");
        assert_eq!(from, SocketAddr::new(asked, ports.nat_t));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn marker_added_and_stripped_over_loopback() {
        let (tx, mut rx) = mpsc::channel(4);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        // Ephemeral ports keep the test free of privileges: find two free ones first.
        let p1 = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let p2 = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ports = Ports { ike: p1, nat_t: p2 };
        let sockets = Sockets::bind(&[lo], ports, tx).await.unwrap();
        let peer = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let peer_addr = peer.local_addr().unwrap();
        sockets
            .send(SocketAddr::new(lo, p2), peer_addr, b"ike")
            .await
            .unwrap();
        let mut buf = [0u8; 16];
        let (n, _) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\0\0\0\0ike");
        sockets
            .send(SocketAddr::new(lo, p2), peer_addr, &nat_t::NAT_KEEPALIVE)
            .await
            .unwrap();
        let (n, _) = peer.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], [0xff], "keepalives go out without the marker");
        peer.send_to(b"\0\0\0\0hello", SocketAddr::new(lo, p2))
            .unwrap();
        peer.send_to(&[0xff], SocketAddr::new(lo, p2)).unwrap();
        peer.send_to(b"plain", SocketAddr::new(lo, p1)).unwrap();
        let first = rx.recv().await.unwrap();
        let second = rx.recv().await.unwrap();
        let mut got = vec![
            (first.local.port(), first.bytes),
            (second.local.port(), second.bytes),
        ];
        got.sort();
        let mut want = vec![(p2, b"hello".to_vec()), (p1, b"plain".to_vec())];
        want.sort();
        assert_eq!(got, want, "keepalive dropped, marker stripped");
    }
}
