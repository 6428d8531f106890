//! A blocking netlink request socket (XFRM or route) on top of `netlink-sys`.
//!
//! Contract: one request in flight at a time; each request gets a fresh sequence number and
//! replies with other sequence numbers are dropped. Kernel refusals come back as
//! [`XfrmError::Kernel`] with the errno, the extended-ack text (`NETLINK_EXT_ACK` is enabled)
//! and the object the caller names. A receive timeout bounds every wait, so a lost reply
//! cannot hang the daemon's blocking thread.

use std::os::fd::AsRawFd;
use std::time::Duration;

use netlink_sys::{Socket, SocketAddr};

use crate::consts::*;
use crate::error::{ParseError, XfrmError, XfrmObject};
use crate::msg::Request;
use crate::parse;

/// Receive buffer size: XFRM replies and dump batches fit well within it.
const RECV_BUFFER: usize = 64 * 1024;

/// How long a request waits for its reply.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A connected, bound netlink socket.
pub struct NetlinkSocket {
    socket: Socket,
    next_seq: u32,
    buffer: Vec<u8>,
}

impl std::fmt::Debug for NetlinkSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NetlinkSocket(fd {})", self.socket.as_raw_fd())
    }
}

fn socket_error(context: &'static str) -> impl FnOnce(std::io::Error) -> XfrmError {
    move |source| XfrmError::Socket { context, source }
}

impl NetlinkSocket {
    /// Open a `NETLINK_XFRM` request socket.
    pub fn xfrm() -> Result<Self, XfrmError> {
        Self::open(netlink_sys::constants::NETLINK_XFRM, 0)
    }

    /// Open a `NETLINK_ROUTE` request socket.
    pub fn route() -> Result<Self, XfrmError> {
        Self::open(netlink_sys::constants::NETLINK_ROUTE, 0)
    }

    /// Open a socket subscribed to multicast `groups` (group numbers, not masks).
    pub fn subscribed(protocol: isize, groups: &[u32]) -> Result<Self, XfrmError> {
        let sock = Self::open(protocol, 0)?;
        for group in groups {
            sock.socket
                .add_membership(*group)
                .map_err(socket_error("joining multicast group"))?;
        }
        Ok(sock)
    }

    fn open(protocol: isize, groups: u32) -> Result<Self, XfrmError> {
        let mut socket = Socket::new(protocol).map_err(socket_error("socket"))?;
        socket
            .bind(&SocketAddr::new(0, groups))
            .map_err(socket_error("bind"))?;
        // Best effort, as strongSwan: older kernels lack these options.
        let _ = socket.set_ext_ack(true);
        let _ = socket.set_cap_ack(true);
        let sock = NetlinkSocket {
            socket,
            next_seq: 1,
            buffer: Vec::with_capacity(RECV_BUFFER),
        };
        sock.set_timeout(Some(DEFAULT_TIMEOUT))?;
        Ok(sock)
    }

    /// Bound every receive by `timeout` (`None` blocks forever).
    pub fn set_timeout(&self, timeout: Option<Duration>) -> Result<(), XfrmError> {
        let tv = match timeout {
            Some(d) => libc::timeval {
                tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_usec: libc::suseconds_t::from(d.subsec_micros()),
            },
            None => libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
        };
        // SAFETY: the fd is owned by `self.socket` and open; `tv` is a valid timeval that
        // lives across the call and its exact size is passed.
        let rc = unsafe {
            libc::setsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(XfrmError::Socket {
                context: "SO_RCVTIMEO",
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// Sets the kernel's receive buffer for this socket to `bytes` (`SO_RCVBUF`; the kernel
    /// doubles it and caps it at `rmem_max`), charon's `receive_buffer_size` of its event
    /// socket: events beyond it are dropped and the next receive fails with `ENOBUFS`.
    pub fn set_receive_buffer(&self, bytes: usize) -> Result<(), XfrmError> {
        let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
        // SAFETY: the fd is owned by `self.socket` and open; `size` is a valid c_int that
        // lives across the call and its exact size is passed.
        let rc = unsafe {
            libc::setsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&size as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(XfrmError::Socket {
                context: "SO_RCVBUF",
                source: std::io::Error::last_os_error(),
            });
        }
        Ok(())
    }

    /// Switch to non-blocking receives (for an event loop such as tokio's `AsyncFd`):
    /// a receive with nothing queued then fails with an error for which
    /// [`XfrmError::is_would_block`] is true.
    pub fn set_nonblocking(&self, nonblocking: bool) -> Result<(), XfrmError> {
        self.socket
            .set_non_blocking(nonblocking)
            .map_err(socket_error("O_NONBLOCK"))
    }

    /// The raw fd, for polling from an event loop.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.socket.as_raw_fd()
    }

    fn send(&mut self, req: &mut Request) -> Result<u32, XfrmError> {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        req.set_sequence(seq);
        let kernel = SocketAddr::new(0, 0);
        self.socket
            .send_to(req.as_bytes(), &kernel, 0)
            .map_err(socket_error("send"))?;
        Ok(seq)
    }

    /// Receive one datagram (blocking up to the timeout).
    pub fn recv_datagram(&mut self) -> Result<&[u8], XfrmError> {
        self.buffer.clear();
        self.buffer.reserve(RECV_BUFFER);
        let n = loop {
            match self.socket.recv(&mut self.buffer, 0) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(socket_error("recv")(e)),
            }
        };
        let n = n.min(self.buffer.len());
        Ok(&self.buffer[..n])
    }

    /// Send a request that expects only an ACK.
    pub fn request_ack(&mut self, mut req: Request, object: XfrmObject) -> Result<(), XfrmError> {
        let seq = self.send(&mut req)?;
        drop(req); // zeroizes key bytes as soon as they are sent
        loop {
            let datagram = self.recv_datagram()?;
            for msg in parse::messages(datagram) {
                let msg = msg?;
                if msg.seq != seq {
                    continue;
                }
                if msg.message_type == NLMSG_ERROR {
                    return ack_result(&msg, object);
                }
            }
        }
    }

    /// Send a request answered by one message of type `reply_type`; returns its payload.
    pub fn request_reply(
        &mut self,
        mut req: Request,
        reply_type: u16,
        object: XfrmObject,
    ) -> Result<Vec<u8>, XfrmError> {
        let seq = self.send(&mut req)?;
        drop(req);
        loop {
            let datagram = self.recv_datagram()?;
            for msg in parse::messages(datagram) {
                let msg = msg?;
                if msg.seq != seq {
                    continue;
                }
                if msg.message_type == NLMSG_ERROR {
                    ack_result(&msg, object.clone())?;
                    return Err(ParseError::MissingReply.into());
                }
                if msg.message_type == reply_type {
                    return Ok(msg.payload.to_vec());
                }
                return Err(ParseError::UnexpectedType(msg.message_type).into());
            }
        }
    }

    /// Send a dump request; returns `(type, payload)` of every entry.
    pub fn request_dump(
        &mut self,
        mut req: Request,
        object: XfrmObject,
    ) -> Result<Vec<(u16, Vec<u8>)>, XfrmError> {
        let seq = self.send(&mut req)?;
        let mut out = Vec::new();
        loop {
            let datagram = self.recv_datagram()?;
            for msg in parse::messages(datagram) {
                let msg = msg?;
                if msg.seq != seq {
                    continue;
                }
                match msg.message_type {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        ack_result(&msg, object.clone())?;
                        return Ok(out);
                    }
                    NLMSG_NOOP => {}
                    t => out.push((t, msg.payload.to_vec())),
                }
            }
        }
    }

    /// Build a raw request for protocols whose builders live elsewhere (rtnetlink).
    pub fn send_raw(&mut self, bytes: &mut [u8]) -> Result<u32, XfrmError> {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1).max(1);
        if bytes.len() >= NLMSG_HDR_LEN {
            bytes[8..12].copy_from_slice(&seq.to_ne_bytes());
        }
        let kernel = SocketAddr::new(0, 0);
        self.socket
            .send_to(bytes, &kernel, 0)
            .map_err(socket_error("send"))?;
        Ok(seq)
    }
}

/// Turn an `NLMSG_ERROR` into `Ok(())` (ACK) or a typed kernel error.
pub fn ack_result(msg: &parse::NlMessage<'_>, object: XfrmObject) -> Result<(), XfrmError> {
    let ack = parse::kernel_ack(msg.flags, msg.payload)?;
    if ack.errno == 0 {
        return Ok(());
    }
    Err(XfrmError::Kernel {
        object,
        errno: ack.errno,
        message: ack.message,
        bad_attribute_offset: ack.bad_attribute_offset,
    })
}
