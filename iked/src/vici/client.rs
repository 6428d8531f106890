//! Blocking VICI client over a unix stream socket, used by `ikectl` (and by tests).
//!
//! Contract: one command at a time per connection (VICI has no request ids). Streaming
//! commands (`initiate`, `list-sas`, ...) register for their event first, hand each event to a
//! callback until the command's response arrives, then unregister, as libvici does.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use super::codec::{self, CodecError, Message, Packet};

/// charon's default control socket, kept so stock tools find us without options.
pub const DEFAULT_SOCKET: &str = "/var/run/charon.vici";

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("connecting to {path}: {source}")]
    Connect {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("VICI I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("VICI encoding: {0}")]
    Codec(#[from] CodecError),
    #[error("unsupported VICI URI {0:?} (only unix:// is supported)")]
    Uri(String),
    #[error("command {0:?} is unknown to the daemon")]
    UnknownCommand(String),
    #[error("event {0:?} is unknown to the daemon")]
    UnknownEvent(String),
    #[error("unexpected VICI packet: {0}")]
    Unexpected(String),
}

/// Turns a swanctl-style `--uri` (`unix:///path`) or a bare path into a socket path.
pub fn socket_path_from_uri(uri: &str) -> Result<PathBuf, ClientError> {
    if let Some(path) = uri.strip_prefix("unix://") {
        Ok(PathBuf::from(path))
    } else if uri.starts_with('/') {
        Ok(PathBuf::from(uri))
    } else {
        Err(ClientError::Uri(uri.to_owned()))
    }
}

pub struct Client {
    stream: UnixStream,
}

impl Client {
    pub fn connect(path: &Path) -> Result<Self, ClientError> {
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.to_owned(),
            source,
        })?;
        Ok(Self { stream })
    }

    /// Limits how long a single read may block (None: forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.stream.set_read_timeout(timeout)?;
        Ok(())
    }

    pub fn send(&mut self, packet: &Packet) -> Result<(), ClientError> {
        let bytes = codec::encode_packet(packet)?;
        self.stream.write_all(&bytes)?;
        Ok(())
    }

    pub fn receive(&mut self) -> Result<Packet, ClientError> {
        let mut header = [0u8; 4];
        self.stream.read_exact(&mut header)?;
        let len = codec::segment_len(header)?;
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body)?;
        Ok(codec::decode_packet(&body)?)
    }

    /// A plain request/response command.
    pub fn request(&mut self, command: &str, message: Message) -> Result<Message, ClientError> {
        self.streamed(command, message, None, |_| {})
    }

    /// A command that streams `event` messages before its response.
    pub fn streamed(
        &mut self,
        command: &str,
        message: Message,
        event: Option<&str>,
        on_event: impl FnMut(&Message),
    ) -> Result<Message, ClientError> {
        if let Some(event) = event {
            self.register(event)?;
        }
        let response = self.exchange(command, message, event, on_event)?;
        if let Some(event) = event {
            self.unregister(event)?;
        }
        Ok(response)
    }

    /// Sends one command and reads until its response, handing events named `event` (already
    /// registered by the caller) to `on_event`.
    pub fn exchange(
        &mut self,
        command: &str,
        message: Message,
        event: Option<&str>,
        mut on_event: impl FnMut(&Message),
    ) -> Result<Message, ClientError> {
        self.send(&Packet::CmdRequest {
            command: command.to_owned(),
            message,
        })?;
        let response = loop {
            match self.receive()? {
                Packet::Event {
                    event: name,
                    message,
                } if Some(name.as_str()) == event => on_event(&message),
                // Events of other registrations may interleave; they are not ours to show.
                Packet::Event { .. } => {}
                Packet::CmdResponse(message) => break message,
                Packet::CmdUnknown => return Err(ClientError::UnknownCommand(command.into())),
                other => return Err(ClientError::Unexpected(format!("{other:?}"))),
            }
        };
        Ok(response)
    }

    pub fn register(&mut self, event: &str) -> Result<(), ClientError> {
        self.send(&Packet::EventRegister(event.to_owned()))?;
        self.await_confirm(event)
    }

    pub fn unregister(&mut self, event: &str) -> Result<(), ClientError> {
        self.send(&Packet::EventUnregister(event.to_owned()))?;
        self.await_confirm(event)
    }

    fn await_confirm(&mut self, event: &str) -> Result<(), ClientError> {
        loop {
            match self.receive()? {
                Packet::EventConfirm => return Ok(()),
                Packet::EventUnknown => return Err(ClientError::UnknownEvent(event.into())),
                // A registered event can race with the confirmation; drop it.
                Packet::Event { .. } => {}
                other => return Err(ClientError::Unexpected(format!("{other:?}"))),
            }
        }
    }

    /// Waits for the next event of any registered kind.
    pub fn next_event(&mut self) -> Result<(String, Message), ClientError> {
        match self.receive()? {
            Packet::Event { event, message } => Ok((event, message)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }
}

/// `success = yes` check shared by every command that answers with success/errmsg.
pub fn check_success(response: &Message) -> Result<(), String> {
    if response.get_bool("success") == Some(true) {
        Ok(())
    } else {
        Err(response
            .get_str("errmsg")
            .unwrap_or("command failed")
            .to_owned())
    }
}
