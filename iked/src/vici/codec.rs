//! VICI wire codec: transport framing, packet layer and message element encoding, as described
//! in strongSwan's `src/libcharon/plugins/vici/README.md`.
//!
//! Contract:
//! - [`decode_packet`] and [`Message::decode`] never panic and never trust a length field: every
//!   length is checked against the bytes actually present, and nesting is bounded by
//!   [`MAX_DEPTH`] so a hostile peer cannot exhaust the stack.
//! - [`encode_packet`] refuses to produce anything the decoder would reject (names longer than
//!   255 bytes, values longer than 65535 bytes, segments larger than [`MAX_SEGMENT`]).
//! - A [`Message`] keeps its keys in insertion order, because VICI consumers (swanctl, the Python
//!   `vici` package) rely on the order (proposal lists, auth rounds `local-1`, `local-2`, ...).
//! - Outside tests the module denies the panicking clippy lints (unwrap, expect, panic,
//!   indexing, unchecked arithmetic): any local user may write to the socket.
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

use thiserror::Error;

/// Largest transport segment (the data after the 4-byte length header) charon accepts: 512 KiB.
pub const MAX_SEGMENT: usize = 512 * 1024;
/// Deepest section nesting we accept. charon's own messages nest at most 5 levels.
pub const MAX_DEPTH: usize = 32;

const SECTION_START: u8 = 1;
const SECTION_END: u8 = 2;
const KEY_VALUE: u8 = 3;
const LIST_START: u8 = 4;
const LIST_ITEM: u8 = 5;
const LIST_END: u8 = 6;

/// Why a VICI byte sequence was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("truncated VICI data: needed {needed} more bytes")]
    Truncated { needed: usize },
    #[error("VICI segment of {0} bytes exceeds the {MAX_SEGMENT}-byte limit")]
    TooLarge(usize),
    #[error("unknown VICI packet type {0}")]
    UnknownPacketType(u8),
    #[error("unknown VICI message element type {0}")]
    UnknownElement(u8),
    #[error("unbalanced VICI message: {0}")]
    Unbalanced(&'static str),
    #[error("VICI sections nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("VICI name is not ASCII")]
    NonAsciiName,
    #[error("VICI name of {0} bytes exceeds 255 bytes")]
    NameTooLong(usize),
    #[error("VICI value of {0} bytes exceeds 65535 bytes")]
    ValueTooLong(usize),
    #[error("trailing bytes after VICI packet of type {0}")]
    TrailingBytes(u8),
}

/// One entry of a section: a key/value, a list of values or a sub-section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Value(Vec<u8>),
    List(Vec<Vec<u8>>),
    Section(Message),
}

/// A VICI message: an ordered section tree (the implicit root section).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    entries: Vec<(String, Item)>,
}

impl Message {
    pub fn new() -> Self {
        Self::default()
    }

    /// The entries in wire order.
    pub fn entries(&self) -> &[(String, Item)] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Appends an entry, replacing an existing one of the same key in place (keys are unique
    /// within a section).
    pub fn insert(&mut self, key: impl Into<String>, item: Item) {
        let key = key.into();
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| *k == key) {
            slot.1 = item;
        } else {
            self.entries.push((key, item));
        }
    }

    /// Builder form of [`Message::insert`] for a string value.
    pub fn kv(mut self, key: impl Into<String>, value: impl AsRef<[u8]>) -> Self {
        self.insert(key, Item::Value(value.as_ref().to_vec()));
        self
    }

    /// Builder form for a list of string values.
    pub fn list<I, V>(mut self, key: impl Into<String>, values: I) -> Self
    where
        I: IntoIterator<Item = V>,
        V: AsRef<[u8]>,
    {
        let values = values.into_iter().map(|v| v.as_ref().to_vec()).collect();
        self.insert(key, Item::List(values));
        self
    }

    /// Builder form for a sub-section.
    pub fn section(mut self, key: impl Into<String>, section: Message) -> Self {
        self.insert(key, Item::Section(section));
        self
    }

    pub fn get(&self, key: &str) -> Option<&Item> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A key's value as text, if it is a key/value with UTF-8 content.
    pub fn get_str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            Item::Value(v) => std::str::from_utf8(v).ok(),
            _ => None,
        }
    }

    pub fn get_section(&self, key: &str) -> Option<&Message> {
        match self.get(key)? {
            Item::Section(s) => Some(s),
            _ => None,
        }
    }

    /// A list's items as text (non-UTF-8 items are skipped); a plain value counts as a
    /// one-item list, as charon accepts both forms for list-valued options.
    pub fn get_list(&self, key: &str) -> Vec<String> {
        match self.get(key) {
            Some(Item::List(items)) => items
                .iter()
                .filter_map(|i| std::str::from_utf8(i).ok().map(str::to_owned))
                .collect(),
            Some(Item::Value(v)) => std::str::from_utf8(v)
                .map(|s| vec![s.to_owned()])
                .unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// `yes`/`no` style boolean, as charon parses them (`yes`, `true`, `enabled`, `1`).
    pub fn get_bool(&self, key: &str) -> Option<bool> {
        self.get_str(key).map(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "yes" | "true" | "enabled" | "1"
            )
        })
    }

    /// Encodes the element sequence (without any packet header).
    pub fn encode(&self, out: &mut Vec<u8>) -> Result<(), CodecError> {
        for (key, item) in &self.entries {
            match item {
                Item::Value(v) => {
                    out.push(KEY_VALUE);
                    put_name(out, key)?;
                    put_value(out, v)?;
                }
                Item::List(items) => {
                    out.push(LIST_START);
                    put_name(out, key)?;
                    for v in items {
                        out.push(LIST_ITEM);
                        put_value(out, v)?;
                    }
                    out.push(LIST_END);
                }
                Item::Section(s) => {
                    out.push(SECTION_START);
                    put_name(out, key)?;
                    s.encode(out)?;
                    out.push(SECTION_END);
                }
            }
        }
        Ok(())
    }

    /// Decodes an element sequence that spans all of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<Message, CodecError> {
        let mut reader = Reader { bytes, pos: 0 };
        // Iterative parse with an explicit stack of open sections: bounded depth, no recursion.
        let mut stack: Vec<(String, Message)> = Vec::new();
        let mut current = Message::new();
        while !reader.at_end() {
            let element = reader.u8()?;
            match element {
                SECTION_START => {
                    if stack.len() >= MAX_DEPTH {
                        return Err(CodecError::TooDeep);
                    }
                    let name = reader.name()?;
                    stack.push((name, std::mem::take(&mut current)));
                }
                SECTION_END => {
                    let (name, mut parent) = stack
                        .pop()
                        .ok_or(CodecError::Unbalanced("SECTION_END without SECTION_START"))?;
                    parent.insert(name, Item::Section(std::mem::take(&mut current)));
                    current = parent;
                }
                KEY_VALUE => {
                    let name = reader.name()?;
                    let value = reader.value()?;
                    current.insert(name, Item::Value(value));
                }
                LIST_START => {
                    let name = reader.name()?;
                    let mut items = Vec::new();
                    loop {
                        match reader.u8()? {
                            LIST_ITEM => items.push(reader.value()?),
                            LIST_END => break,
                            _ => {
                                return Err(CodecError::Unbalanced(
                                    "only list items may appear inside a list",
                                ));
                            }
                        }
                    }
                    current.insert(name, Item::List(items));
                }
                LIST_ITEM => return Err(CodecError::Unbalanced("LIST_ITEM outside a list")),
                LIST_END => return Err(CodecError::Unbalanced("LIST_END outside a list")),
                other => return Err(CodecError::UnknownElement(other)),
            }
        }
        if !stack.is_empty() {
            return Err(CodecError::Unbalanced("unterminated section"));
        }
        Ok(current)
    }
}

fn put_name(out: &mut Vec<u8>, name: &str) -> Result<(), CodecError> {
    if !name.is_ascii() {
        return Err(CodecError::NonAsciiName);
    }
    let len = u8::try_from(name.len()).map_err(|_| CodecError::NameTooLong(name.len()))?;
    out.push(len);
    out.extend_from_slice(name.as_bytes());
    Ok(())
}

fn put_value(out: &mut Vec<u8>, value: &[u8]) -> Result<(), CodecError> {
    let len = u16::try_from(value.len()).map_err(|_| CodecError::ValueTooLong(value.len()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let taken = rest.get(..n).ok_or(CodecError::Truncated {
            needed: n.saturating_sub(rest.len()),
        })?;
        self.pos = self.pos.saturating_add(n);
        Ok(taken)
    }

    fn u8(&mut self) -> Result<u8, CodecError> {
        let [b] = self.take_array::<1>()?;
        Ok(b)
    }

    fn take_array<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let bytes = self.take(N)?;
        bytes
            .try_into()
            .map_err(|_| CodecError::Truncated { needed: N })
    }

    fn name(&mut self) -> Result<String, CodecError> {
        let len = usize::from(self.u8()?);
        let raw = self.take(len)?;
        if !raw.is_ascii() {
            return Err(CodecError::NonAsciiName);
        }
        // ASCII is valid UTF-8, so this conversion cannot lose anything.
        Ok(String::from_utf8_lossy(raw).into_owned())
    }

    fn value(&mut self) -> Result<Vec<u8>, CodecError> {
        let len = usize::from(u16::from_be_bytes(self.take_array::<2>()?));
        Ok(self.take(len)?.to_vec())
    }
}

/// The VICI packet layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    CmdRequest { command: String, message: Message },
    CmdResponse(Message),
    CmdUnknown,
    EventRegister(String),
    EventUnregister(String),
    EventConfirm,
    EventUnknown,
    Event { event: String, message: Message },
}

impl Packet {
    fn type_byte(&self) -> u8 {
        match self {
            Packet::CmdRequest { .. } => 0,
            Packet::CmdResponse(_) => 1,
            Packet::CmdUnknown => 2,
            Packet::EventRegister(_) => 3,
            Packet::EventUnregister(_) => 4,
            Packet::EventConfirm => 5,
            Packet::EventUnknown => 6,
            Packet::Event { .. } => 7,
        }
    }
}

/// Encodes a packet as one transport segment, including the 4-byte big-endian length header.
pub fn encode_packet(packet: &Packet) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![0, 0, 0, 0, packet.type_byte()];
    match packet {
        Packet::CmdRequest {
            command: name,
            message,
        }
        | Packet::Event {
            event: name,
            message,
        } => {
            put_name(&mut out, name)?;
            message.encode(&mut out)?;
        }
        Packet::CmdResponse(message) => message.encode(&mut out)?,
        Packet::EventRegister(name) | Packet::EventUnregister(name) => put_name(&mut out, name)?,
        Packet::CmdUnknown | Packet::EventConfirm | Packet::EventUnknown => {}
    }
    let body_len = out.len().saturating_sub(4);
    if body_len > MAX_SEGMENT {
        return Err(CodecError::TooLarge(body_len));
    }
    // body_len <= MAX_SEGMENT, so it fits in u32.
    let [b0, b1, b2, b3] = (body_len as u32).to_be_bytes();
    out.splice(..4, [b0, b1, b2, b3]);
    Ok(out)
}

/// Decodes one packet from a segment body (the bytes after the length header).
pub fn decode_packet(segment: &[u8]) -> Result<Packet, CodecError> {
    if segment.len() > MAX_SEGMENT {
        return Err(CodecError::TooLarge(segment.len()));
    }
    let mut reader = Reader {
        bytes: segment,
        pos: 0,
    };
    let kind = reader.u8()?;
    let rest = |r: &Reader<'_>| segment.get(r.pos..).unwrap_or_default();
    let packet = match kind {
        0 => {
            let command = reader.name()?;
            Packet::CmdRequest {
                command,
                message: Message::decode(rest(&reader))?,
            }
        }
        1 => Packet::CmdResponse(Message::decode(rest(&reader))?),
        2 => Packet::CmdUnknown,
        3 => Packet::EventRegister(reader.name()?),
        4 => Packet::EventUnregister(reader.name()?),
        5 => Packet::EventConfirm,
        6 => Packet::EventUnknown,
        7 => {
            let event = reader.name()?;
            Packet::Event {
                event,
                message: Message::decode(rest(&reader))?,
            }
        }
        other => return Err(CodecError::UnknownPacketType(other)),
    };
    // Message-carrying packets consume everything; the others must not carry trailing junk.
    if matches!(kind, 2..=6) && !reader.at_end() {
        return Err(CodecError::TrailingBytes(kind));
    }
    Ok(packet)
}

/// Parses a 4-byte transport header into the segment length, enforcing [`MAX_SEGMENT`].
pub fn segment_len(header: [u8; 4]) -> Result<usize, CodecError> {
    let len = u32::from_be_bytes(header) as usize;
    if len > MAX_SEGMENT {
        return Err(CodecError::TooLarge(len));
    }
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The encoding example from strongSwan's `src/libcharon/plugins/vici/README.md`
    /// ("Encoding example"), transcribed byte by byte.
    fn readme_example_bytes() -> Vec<u8> {
        let mut b = vec![3, 4];
        b.extend_from_slice(b"key1");
        b.extend_from_slice(&[0, 6]);
        b.extend_from_slice(b"value1");
        b.extend_from_slice(&[1, 8]);
        b.extend_from_slice(b"section1");
        b.extend_from_slice(&[1, 11]);
        b.extend_from_slice(b"sub-section");
        b.extend_from_slice(&[3, 4]);
        b.extend_from_slice(b"key2");
        b.extend_from_slice(&[0, 6]);
        b.extend_from_slice(b"value2");
        b.push(2);
        b.extend_from_slice(&[4, 5]);
        b.extend_from_slice(b"list1");
        b.extend_from_slice(&[5, 0, 5]);
        b.extend_from_slice(b"item1");
        b.extend_from_slice(&[5, 0, 5]);
        b.extend_from_slice(b"item2");
        b.push(6);
        b.push(2);
        b
    }

    fn readme_example_message() -> Message {
        Message::new().kv("key1", "value1").section(
            "section1",
            Message::new()
                .section("sub-section", Message::new().kv("key2", "value2"))
                .list("list1", ["item1", "item2"]),
        )
    }

    #[test]
    fn readme_example_encodes_to_readme_bytes() {
        let mut out = Vec::new();
        readme_example_message().encode(&mut out).unwrap();
        assert_eq!(out, readme_example_bytes());
    }

    #[test]
    fn readme_example_decodes() {
        let msg = Message::decode(&readme_example_bytes()).unwrap();
        assert_eq!(msg, readme_example_message());
        let sub = msg
            .get_section("section1")
            .and_then(|s| s.get_section("sub-section"))
            .unwrap();
        assert_eq!(sub.get_str("key2"), Some("value2"));
        assert_eq!(
            msg.get_section("section1").unwrap().get_list("list1"),
            vec!["item1", "item2"]
        );
    }

    #[test]
    fn packets_round_trip() {
        let packets = [
            Packet::CmdRequest {
                command: "version".into(),
                message: Message::new(),
            },
            Packet::CmdRequest {
                command: "load-conn".into(),
                message: readme_example_message(),
            },
            Packet::CmdResponse(Message::new().kv("success", "yes")),
            Packet::CmdUnknown,
            Packet::EventRegister("control-log".into()),
            Packet::EventUnregister("list-sa".into()),
            Packet::EventConfirm,
            Packet::EventUnknown,
            Packet::Event {
                event: "ike-updown".into(),
                message: readme_example_message(),
            },
        ];
        for p in packets {
            let bytes = encode_packet(&p).unwrap();
            let len = segment_len(bytes[..4].try_into().unwrap()).unwrap();
            assert_eq!(len, bytes.len() - 4);
            assert_eq!(decode_packet(&bytes[4..]).unwrap(), p);
        }
    }

    #[test]
    fn version_request_bytes() {
        // CMD_REQUEST(0), name length 7, "version", empty message; header says 9 bytes.
        let bytes = encode_packet(&Packet::CmdRequest {
            command: "version".into(),
            message: Message::new(),
        })
        .unwrap();
        assert_eq!(bytes, b"\x00\x00\x00\x09\x00\x07version");
    }

    #[test]
    fn rejects_malformed_messages() {
        assert!(matches!(
            Message::decode(&[3, 4, b'k']),
            Err(CodecError::Truncated { .. })
        ));
        // Value length claims 0xffff bytes but only 1 follows.
        assert!(matches!(
            Message::decode(&[3, 1, b'k', 0xff, 0xff, b'v']),
            Err(CodecError::Truncated { .. })
        ));
        assert_eq!(
            Message::decode(&[2]),
            Err(CodecError::Unbalanced("SECTION_END without SECTION_START"))
        );
        assert_eq!(
            Message::decode(&[1, 1, b's']),
            Err(CodecError::Unbalanced("unterminated section"))
        );
        assert!(matches!(
            Message::decode(&[4, 1, b'l', 3]),
            Err(CodecError::Unbalanced(_))
        ));
        assert_eq!(Message::decode(&[9]), Err(CodecError::UnknownElement(9)));
        assert_eq!(
            Message::decode(&[3, 1, 0xc3, 0, 0]),
            Err(CodecError::NonAsciiName)
        );
        assert_eq!(decode_packet(&[8]), Err(CodecError::UnknownPacketType(8)));
        assert_eq!(decode_packet(&[5, 1]), Err(CodecError::TrailingBytes(5)));
        assert!(decode_packet(&[]).is_err());
    }

    #[test]
    fn rejects_deep_nesting() {
        let mut bytes = Vec::new();
        for _ in 0..=MAX_DEPTH {
            bytes.extend_from_slice(&[1, 1, b's']);
        }
        assert_eq!(Message::decode(&bytes), Err(CodecError::TooDeep));
    }

    #[test]
    fn enforces_size_limits() {
        assert_eq!(
            segment_len(((MAX_SEGMENT + 1) as u32).to_be_bytes()),
            Err(CodecError::TooLarge(MAX_SEGMENT + 1))
        );
        let long_name = "x".repeat(256);
        assert_eq!(
            encode_packet(&Packet::EventRegister(long_name)),
            Err(CodecError::NameTooLong(256))
        );
        let big = Message::new().kv("k", vec![0u8; 70_000]);
        assert_eq!(
            big.encode(&mut Vec::new()),
            Err(CodecError::ValueTooLong(70_000))
        );
        let mut many = Message::new();
        for i in 0..10 {
            many.insert(format!("k{i}"), Item::Value(vec![0u8; 60_000]));
        }
        assert!(matches!(
            encode_packet(&Packet::CmdResponse(many)),
            Err(CodecError::TooLarge(_))
        ));
    }

    #[test]
    fn decoder_never_panics_on_prefixes_and_mutations() {
        let good = encode_packet(&Packet::Event {
            event: "list-sa".into(),
            message: readme_example_message(),
        })
        .unwrap();
        let body = &good[4..];
        for cut in 0..body.len() {
            let _ = decode_packet(&body[..cut]);
        }
        for i in 0..body.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut m = body.to_vec();
                m[i] ^= flip;
                let _ = decode_packet(&m);
            }
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn name() -> impl Strategy<Value = String> {
            "[a-z0-9_-]{0,20}"
        }

        fn value() -> impl Strategy<Value = Vec<u8>> {
            proptest::collection::vec(any::<u8>(), 0..64)
        }

        fn message() -> impl Strategy<Value = Message> {
            let leaf = proptest::collection::vec(
                (
                    name(),
                    prop_oneof![
                        value().prop_map(Item::Value),
                        proptest::collection::vec(value(), 0..4).prop_map(Item::List),
                    ],
                ),
                0..6,
            )
            .prop_map(from_entries);
            leaf.prop_recursive(4, 64, 6, |inner| {
                proptest::collection::vec(
                    (
                        name(),
                        prop_oneof![value().prop_map(Item::Value), inner.prop_map(Item::Section),],
                    ),
                    0..6,
                )
                .prop_map(from_entries)
            })
        }

        fn from_entries(entries: Vec<(String, Item)>) -> Message {
            let mut m = Message::new();
            for (k, v) in entries {
                m.insert(k, v);
            }
            m
        }

        proptest! {
            #[test]
            fn any_message_round_trips(msg in message(), event in "[a-z-]{1,30}") {
                let packet = Packet::Event { event, message: msg };
                let bytes = encode_packet(&packet).unwrap();
                prop_assert_eq!(decode_packet(&bytes[4..]).unwrap(), packet);
            }

            #[test]
            fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = decode_packet(&bytes);
                let _ = Message::decode(&bytes);
            }
        }
    }
}
