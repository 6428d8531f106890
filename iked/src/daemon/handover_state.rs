//! Hitless restart: the daemon's own state handed over beside the engine's snapshot.
//!
//! Contract: [`DaemonState`] carries what the next iked needs to take the kernel objects over
//! as the same objects, not as new ones next to them:
//! - the unique marks and interface ids in use (`%unique`, `%unique-dir`) per reqid and the
//!   allocator's counters: an adopted CHILD_SA is found in the kernel by its SPI *and* mark,
//!   and a trap policy is the same kernel object only with the same mark; without them a new
//!   process could hand out other values (the adoption fails, a trap is installed twice) or
//!   reuse values still in use;
//! - the reqid of every installed trap by (connection, child), and the next trap reqid: the
//!   new process installs each trap with the reqid (so the marks) it had, whatever reloads the
//!   earlier one went through.
//!
//! Nothing in it is secret. [`DaemonState::decode`] refuses truncated or trailing bytes; a
//! refused state only costs the unique values (logged, clean recovery for what depends on
//! them).

use iked_ike::marks::{Mark, ResolvedMarks};

use super::marks::MarkAllocator;

/// Why a daemon state was not used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StateError {
    #[error("daemon state truncated")]
    Truncated,
    #[error("daemon state has {0} trailing bytes")]
    Trailing(usize),
    #[error("daemon state names a trap with a non-UTF-8 name")]
    Name,
}

/// The daemon's part of a hand-over (module contract).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DaemonState {
    pub marks: MarkAllocator,
    pub next_trap_reqid: u32,
    /// (connection, child, reqid) of every installed trap.
    pub traps: Vec<(String, String, u32)>,
}

/// Upper bound on counts read back, so a hostile length cannot make us allocate much.
const MAX_ITEMS: u32 = 1 << 20;

fn put_mark(out: &mut Vec<u8>, m: Option<Mark>) {
    match m {
        Some(m) => {
            out.push(1);
            out.extend_from_slice(&m.value.to_be_bytes());
            out.extend_from_slice(&m.mask.to_be_bytes());
        }
        None => out.push(0),
    }
}

fn put_id(out: &mut Vec<u8>, id: Option<u32>) {
    match id {
        Some(v) => {
            out.push(1);
            out.extend_from_slice(&v.to_be_bytes());
        }
        None => out.push(0),
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over the encoded bytes.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], StateError> {
        if self.0.len() < n {
            return Err(StateError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, StateError> {
        self.take(1)?.first().copied().ok_or(StateError::Truncated)
    }

    fn u32(&mut self) -> Result<u32, StateError> {
        let b = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(b);
        Ok(u32::from_be_bytes(a))
    }

    fn count(&mut self) -> Result<u32, StateError> {
        let n = self.u32()?;
        // Each item takes at least one byte: a larger count cannot be honest.
        if n > MAX_ITEMS || n as usize > self.0.len() {
            return Err(StateError::Truncated);
        }
        Ok(n)
    }

    fn mark(&mut self) -> Result<Option<Mark>, StateError> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(Mark {
                value: self.u32()?,
                mask: self.u32()?,
            }),
        })
    }

    fn id(&mut self) -> Result<Option<u32>, StateError> {
        Ok(match self.u8()? {
            0 => None,
            _ => Some(self.u32()?),
        })
    }

    fn string(&mut self) -> Result<String, StateError> {
        let n = self.count()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| StateError::Name)
    }
}

impl DaemonState {
    /// The bytes for the hand-over file.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let (next_mark, next_if_id, used) = self.marks.parts();
        out.extend_from_slice(&next_mark.to_be_bytes());
        out.extend_from_slice(&next_if_id.to_be_bytes());
        out.extend_from_slice(&(used.len() as u32).to_be_bytes());
        for (reqid, m) in &used {
            out.extend_from_slice(&reqid.to_be_bytes());
            for mark in [m.mark_in, m.mark_out, m.set_mark_in, m.set_mark_out] {
                put_mark(&mut out, mark);
            }
            put_id(&mut out, m.if_id_in);
            put_id(&mut out, m.if_id_out);
            out.push(u8::from(m.mark_in_sa));
        }
        out.extend_from_slice(&self.next_trap_reqid.to_be_bytes());
        out.extend_from_slice(&(self.traps.len() as u32).to_be_bytes());
        for (conn, child, reqid) in &self.traps {
            put_str(&mut out, conn);
            put_str(&mut out, child);
            out.extend_from_slice(&reqid.to_be_bytes());
        }
        out
    }

    /// Parses [`DaemonState::encode`]'s bytes (module contract).
    pub fn decode(bytes: &[u8]) -> Result<Self, StateError> {
        let mut r = Reader(bytes);
        let next_mark = r.u32()?;
        let next_if_id = r.u32()?;
        let mut used = Vec::new();
        for _ in 0..r.count()? {
            let reqid = r.u32()?;
            let marks = ResolvedMarks {
                mark_in: r.mark()?,
                mark_out: r.mark()?,
                set_mark_in: r.mark()?,
                set_mark_out: r.mark()?,
                if_id_in: r.id()?,
                if_id_out: r.id()?,
                mark_in_sa: r.u8()? != 0,
            };
            used.push((reqid, marks));
        }
        let next_trap_reqid = r.u32()?;
        let mut traps = Vec::new();
        for _ in 0..r.count()? {
            let conn = r.string()?;
            let child = r.string()?;
            traps.push((conn, child, r.u32()?));
        }
        if !r.0.is_empty() {
            return Err(StateError::Trailing(r.0.len()));
        }
        Ok(Self {
            marks: MarkAllocator::from_parts(next_mark, next_if_id, used),
            next_trap_reqid,
            traps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iked_ike::marks::{ChildMarks, MarkSpec, MarkValue};

    fn sample() -> DaemonState {
        let mut marks = MarkAllocator::default();
        let unique = ChildMarks {
            mark_in: MarkSpec {
                value: MarkValue::Unique,
                mask: 0xffff_ffff,
            },
            mark_out: MarkSpec {
                value: MarkValue::Unique,
                mask: 0xffff_ffff,
            },
            ..ChildMarks::default()
        };
        // Two reqids, the first released: the counter is past values no longer in use.
        marks.resolve(7, &unique);
        marks.resolve(9, &unique);
        marks.release(7);
        DaemonState {
            marks,
            next_trap_reqid: (1 << 24) + 3,
            traps: vec![("BFL-BFR".into(), "bf-out".into(), (1 << 24) + 2)],
        }
    }

    #[test]
    fn the_state_round_trips_and_the_next_allocator_goes_on_after_the_earlier_one() {
        let state = sample();
        let mut back = DaemonState::decode(&state.encode()).unwrap();
        assert_eq!(back, state);
        let (next, _, used) = back.marks.parts();
        assert_eq!(next, 2, "two unique marks handed out before");
        assert_eq!(used.len(), 1);
        // A new reqid gets a value the earlier process never used, the adopted one keeps its.
        let unique = ChildMarks {
            mark_out: MarkSpec {
                value: MarkValue::Unique,
                mask: 0xffff_ffff,
            },
            ..ChildMarks::default()
        };
        let fresh = back.marks.resolve(11, &unique);
        assert_eq!(fresh.mark_out.map(|m| m.value), Some(3));
        let kept = back.marks.resolve(9, &unique);
        assert_eq!(kept.mark_out.map(|m| m.value), Some(2));
    }

    #[test]
    fn truncated_trailing_and_hostile_states_are_refused() {
        let bytes = sample().encode();
        for n in 0..bytes.len() {
            assert!(DaemonState::decode(&bytes[..n]).is_err(), "{n} bytes");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(DaemonState::decode(&longer), Err(StateError::Trailing(1)));
        // A count far beyond the bytes there is refused without allocating for it.
        let mut hostile = vec![0u8; 8];
        hostile.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(DaemonState::decode(&hostile), Err(StateError::Truncated));
    }
}
