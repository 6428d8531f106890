//! VICI server transport: accepts unix-socket clients, frames and decodes their packets, keeps
//! their event registrations, and hands each command to the daemon core as a [`ControlRequest`].
//!
//! Contract:
//! - The server owns no daemon state. Commands travel to the core over an mpsc channel; the core
//!   streams events through the request's [`Responder`] and completes it with the response.
//! - One command at a time per connection (VICI has no request ids): the next packet of a client
//!   is read only after its current command was answered.
//! - Hostile input never stops the daemon: an oversized segment gets an error response and the
//!   connection is closed (the stream cannot be resynchronised); an undecodable packet gets an
//!   error response and the connection continues; an unknown command gets `CMD_UNKNOWN`.
//! - Broadcast events (`ike-updown`, `log`, ...) reach only the clients registered for them.
//! - Memory is bounded per client and in total: at most [`MAX_CLIENTS`] connections at once (more
//!   are closed on accept, with a warning); a message body is read as it arrives, never
//!   allocated at its announced size first; and a client that leaves more than
//!   [`EVENT_BACKLOG`] packets unread while events stream to it (broadcast events, a command's
//!   `control-log`) is disconnected with a warning, so a subscriber that never reads cannot make
//!   the daemon grow. A listing's own events (`list-sa`, ...) are a finite snapshot the client
//!   asked for and are never dropped.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Notify, Semaphore, broadcast, mpsc, oneshot};

use super::codec::{self, CodecError, Message, Packet};

/// Events a client may register for: the streaming events of commands and the broadcast ones.
pub const KNOWN_EVENTS: &[&str] = &[
    "control-log",
    "log",
    "list-sa",
    "list-conn",
    "list-policy",
    "list-cert",
    "list-authority",
    "ike-updown",
    "ike-rekey",
    "ike-update",
    "child-updown",
    "child-rekey",
    "ike-state-established",
    "ike-state-destroying",
    "child-state-installing",
    "child-state-installed",
    "child-state-updating",
    "child-state-rekeying",
    "child-state-rekeyed",
    "child-state-destroying",
];

/// Concurrent VICI connections; one more is closed as soon as it is accepted. charon serves its
/// clients from a fixed thread pool; the tools that drive it (swanctl, ikectl, OVS's monitor)
/// hold one connection each, so this leaves room for many at once.
pub const MAX_CLIENTS: usize = 64;

/// Packets a client may leave unread while events stream to it; past that it is disconnected.
/// 1,024 log events are about 300 KB.
pub const EVENT_BACKLOG: usize = 1024;

/// Listing events: the finite answer to the client's own command, never counted against
/// [`EVENT_BACKLOG`] (a `list-sas` of 100,000 SAs streams 100,000 of them).
const LISTING_EVENTS: &[&str] = &[
    "list-sa",
    "list-conn",
    "list-policy",
    "list-cert",
    "list-authority",
];

/// One client's outgoing queue: unbounded for responses and listings, bounded (by
/// disconnecting the client) for streamed events.
#[derive(Debug, Clone)]
struct Outbox {
    tx: mpsc::UnboundedSender<Packet>,
    /// Packets queued and not yet written to the socket.
    queued: Arc<AtomicUsize>,
    overflow: Arc<Overflow>,
}

/// Set once when a client fell [`EVENT_BACKLOG`] packets behind; wakes its reader to close it.
#[derive(Debug, Default)]
struct Overflow {
    hit: AtomicBool,
    wake: Notify,
}

impl Outbox {
    /// Queues a response or a listing event: always kept.
    fn send(&self, packet: Packet) -> bool {
        self.queued.fetch_add(1, Ordering::Relaxed);
        self.tx.send(packet).is_ok()
    }

    /// Queues a streamed event, or disconnects the client when it is too far behind.
    fn send_event(&self, packet: Packet) -> bool {
        if self.queued.load(Ordering::Relaxed) >= EVENT_BACKLOG {
            if !self.overflow.hit.swap(true, Ordering::Relaxed) {
                self.overflow.wake.notify_one();
            }
            return false;
        }
        self.send(packet)
    }

    fn is_closed(&self) -> bool {
        self.tx.is_closed() || self.overflow.hit.load(Ordering::Relaxed)
    }
}

/// A broadcast event: its name and message.
#[derive(Clone, Debug)]
pub struct BroadcastEvent {
    pub name: &'static str,
    pub message: Message,
}

/// Stream events and the final response for one command.
#[derive(Debug)]
pub struct Responder {
    out: Outbox,
    registered: Arc<Mutex<HashSet<String>>>,
    done: oneshot::Sender<Reply>,
}

/// How a command ended.
#[derive(Debug)]
pub enum Reply {
    Response(Message),
    UnknownCommand,
}

impl Responder {
    /// Streams an event to this client if it registered for `name`.
    pub fn event(&self, name: &str, message: Message) {
        if self.is_registered(name) {
            let packet = Packet::Event {
                event: name.to_owned(),
                message,
            };
            if LISTING_EVENTS.contains(&name) {
                self.out.send(packet);
            } else {
                self.out.send_event(packet);
            }
        }
    }

    pub fn is_registered(&self, name: &str) -> bool {
        self.registered
            .lock()
            .map(|set| set.contains(name))
            .unwrap_or(false)
    }

    /// Whether the client is still connected (a streaming command may stop early if not).
    pub fn is_connected(&self) -> bool {
        !self.out.is_closed()
    }

    pub fn respond(self, message: Message) {
        let _ = self.done.send(Reply::Response(message));
    }

    pub fn unknown_command(self) {
        let _ = self.done.send(Reply::UnknownCommand);
    }
}

/// One client command for the daemon core.
#[derive(Debug)]
pub struct ControlRequest {
    pub command: String,
    pub message: Message,
    pub responder: Responder,
}

/// `success = no, errmsg = ...`, the shape of every failed VICI command.
pub fn error_response(errmsg: impl AsRef<str>) -> Message {
    Message::new()
        .kv("success", "no")
        .kv("errmsg", errmsg.as_ref())
}

/// `success = yes`.
pub fn success_response() -> Message {
    Message::new().kv("success", "yes")
}

/// Binds the control socket, replacing a stale socket file left by a previous run, and makes
/// it accessible to root only (as charon does: the socket grants full control).
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o770))?;
    Ok(listener)
}

/// Accepts clients forever. Each client gets its own task; none can stall another. At most
/// [`MAX_CLIENTS`] are served at once.
pub async fn serve(
    listener: UnixListener,
    requests: mpsc::Sender<ControlRequest>,
    events: broadcast::Sender<BroadcastEvent>,
) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    let refused = AtomicU64::new(0);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    // Closing the stream tells the client at once (EOF) rather than leaving it
                    // to wait; the warning is rate-limited to powers of two so that a client
                    // looping on connect cannot flood the log.
                    drop(stream);
                    let n = refused.fetch_add(1, Ordering::Relaxed) + 1;
                    if n.is_power_of_two() {
                        tracing::warn!(
                            target: "CFG",
                            "VICI connection refused: {MAX_CLIENTS} clients already connected \
                             ({n} refused so far)"
                        );
                    }
                    continue;
                };
                let requests = requests.clone();
                let events = events.subscribe();
                tokio::spawn(async move {
                    handle_client(stream, requests, events).await;
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::warn!(target: "CFG", "accepting VICI client failed: {e}");
                // Avoid a hot loop when out of file descriptors.
                tokio::task::yield_now().await;
            }
        }
    }
}

async fn handle_client(
    stream: UnixStream,
    requests: mpsc::Sender<ControlRequest>,
    events: broadcast::Receiver<BroadcastEvent>,
) {
    let (mut reader, writer) = stream.into_split();
    let (tx, out_rx) = mpsc::unbounded_channel::<Packet>();
    let out_tx = Outbox {
        tx,
        queued: Arc::default(),
        overflow: Arc::default(),
    };
    let queued = out_tx.queued.clone();
    let overflow = out_tx.overflow.clone();
    let registered: Arc<Mutex<HashSet<String>>> = Arc::default();

    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let writer_task = tokio::spawn(write_packets(writer, out_rx, queued, stop_rx));
    let broadcast_task = tokio::spawn(forward_broadcasts(
        events,
        out_tx.clone(),
        registered.clone(),
    ));

    loop {
        let mut header = [0u8; 4];
        tokio::select! {
            read = reader.read_exact(&mut header) => if read.is_err() { break },
            _ = overflow.wake.notified() => break,
        }
        let len = match codec::segment_len(header) {
            Ok(len) => len,
            Err(e) => {
                let _ = out_tx.send(Packet::CmdResponse(error_response(e.to_string())));
                break;
            }
        };
        // Grown as the bytes arrive: a client announcing a large segment and sending nothing
        // costs nothing.
        let mut body = Vec::with_capacity(len.min(4096));
        let mut segment = (&mut reader).take(len as u64);
        let read = tokio::select! {
            read = segment.read_to_end(&mut body) => read,
            _ = overflow.wake.notified() => break,
        };
        if read.is_err() || body.len() != len {
            break;
        }
        let packet = match codec::decode_packet(&body) {
            Ok(packet) => packet,
            Err(e) => {
                let _ = out_tx.send(Packet::CmdResponse(error_response(format!(
                    "malformed VICI packet: {e}"
                ))));
                continue;
            }
        };
        match packet {
            Packet::EventRegister(name) | Packet::EventUnregister(name)
                if !KNOWN_EVENTS.contains(&name.as_str()) =>
            {
                let _ = out_tx.send(Packet::EventUnknown);
            }
            Packet::EventRegister(name) => {
                if let Ok(mut set) = registered.lock() {
                    set.insert(name);
                }
                let _ = out_tx.send(Packet::EventConfirm);
            }
            Packet::EventUnregister(name) => {
                if let Ok(mut set) = registered.lock() {
                    set.remove(&name);
                }
                let _ = out_tx.send(Packet::EventConfirm);
            }
            Packet::CmdRequest { command, message } => {
                let (done_tx, done_rx) = oneshot::channel();
                let request = ControlRequest {
                    command,
                    message,
                    responder: Responder {
                        out: out_tx.clone(),
                        registered: registered.clone(),
                        done: done_tx,
                    },
                };
                if requests.send(request).await.is_err() {
                    let _ =
                        out_tx.send(Packet::CmdResponse(error_response("daemon shutting down")));
                    break;
                }
                let reply = tokio::select! {
                    reply = done_rx => match reply {
                        Ok(Reply::Response(message)) => Packet::CmdResponse(message),
                        Ok(Reply::UnknownCommand) => Packet::CmdUnknown,
                        Err(_) => Packet::CmdResponse(error_response("command aborted")),
                    },
                    _ = overflow.wake.notified() => break,
                };
                let _ = out_tx.send(reply);
            }
            // Server-to-client packet types make no sense from a client.
            other => {
                let _ = out_tx.send(Packet::CmdResponse(error_response(format!(
                    "unexpected packet from client: {}",
                    packet_kind(&other)
                ))));
            }
        }
    }
    broadcast_task.abort();
    if overflow.hit.load(Ordering::Relaxed) {
        // The client does not read: flushing could block forever, so drop what is queued.
        tracing::warn!(
            target: "CFG",
            "VICI client disconnected: it left {EVENT_BACKLOG} messages unread"
        );
        writer_task.abort();
        return;
    }
    drop(out_tx);
    // Flush what is queued (e.g. the error for an oversized segment) before closing.
    let _ = stop_tx.send(());
    let _ = writer_task.await;
}

/// A client's writer: encodes and writes its queued packets in order until the queue closes,
/// or, once `stop` fires (the client is gone), until what is queued is flushed.
async fn write_packets(
    mut writer: tokio::net::unix::OwnedWriteHalf,
    mut out_rx: mpsc::UnboundedReceiver<Packet>,
    queued: Arc<AtomicUsize>,
    mut stop_rx: oneshot::Receiver<()>,
) {
    let mut stopping = false;
    loop {
        let packet = if stopping {
            match out_rx.try_recv() {
                Ok(packet) => packet,
                Err(_) => break,
            }
        } else {
            tokio::select! {
                biased;
                packet = out_rx.recv() => match packet {
                    Some(packet) => packet,
                    None => break,
                },
                // The client is gone: flush what is queued, then drop the queue so that
                // pending commands see `is_connected() == false`.
                _ = &mut stop_rx => {
                    stopping = true;
                    continue;
                }
            }
        };
        let bytes = match codec::encode_packet(&packet) {
            Ok(bytes) => bytes,
            Err(e) => match codec::encode_packet(&Packet::CmdResponse(error_response(format!(
                "response not encodable: {e}"
            )))) {
                Ok(bytes) => bytes,
                Err(_) => continue,
            },
        };
        if writer.write_all(&bytes).await.is_err() {
            break;
        }
        queued.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Hands a client the broadcast events it registered for.
async fn forward_broadcasts(
    mut events: broadcast::Receiver<BroadcastEvent>,
    broadcast_out: Outbox,
    broadcast_registered: Arc<Mutex<HashSet<String>>>,
) {
    loop {
        match events.recv().await {
            Ok(event) => {
                let wanted = broadcast_registered
                    .lock()
                    .map(|set| set.contains(event.name))
                    .unwrap_or(false);
                if wanted
                    && !broadcast_out.send_event(Packet::Event {
                        event: event.name.to_owned(),
                        message: event.message,
                    })
                {
                    break;
                }
            }
            // A slow client misses events rather than slowing the daemon down.
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => break,
        }
    }
}

fn packet_kind(packet: &Packet) -> &'static str {
    match packet {
        Packet::CmdRequest { .. } => "CMD_REQUEST",
        Packet::CmdResponse(_) => "CMD_RESPONSE",
        Packet::CmdUnknown => "CMD_UNKNOWN",
        Packet::EventRegister(_) => "EVENT_REGISTER",
        Packet::EventUnregister(_) => "EVENT_UNREGISTER",
        Packet::EventConfirm => "EVENT_CONFIRM",
        Packet::EventUnknown => "EVENT_UNKNOWN",
        Packet::Event { .. } => "EVENT",
    }
}

/// Kept for callers that want the codec's error type without importing the codec module.
pub type ServerCodecError = CodecError;
