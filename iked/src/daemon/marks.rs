//! Resolves a child's configured marks and interface ids to the values the kernel gets.
//!
//! Contract: fixed values pass through; `%unique`/`%unique-dir` get fresh values from one
//! counter for marks and one for interface ids (as charon's `unique_mark`/`unique_if_id`,
//! starting at 1), once per reqid: the engine keeps a CHILD_SA's reqid across rekeys, so a
//! rekeyed CHILD_SA keeps its marks and its policies stay the same objects. Only resolutions
//! that used a unique value are remembered (others are recomputed for free), and
//! [`MarkAllocator::release`] forgets a reqid when its last CHILD_SA is gone.

use std::collections::HashMap;

use iked_ike::marks::{ChildMarks, IfIdSpec, MarkValue, ResolvedMarks};

/// Hands out unique values and remembers them per reqid.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MarkAllocator {
    next_mark: u32,
    next_if_id: u32,
    by_reqid: HashMap<u32, ResolvedMarks>,
}

fn uses_unique(marks: &ChildMarks) -> bool {
    let unique_mark = |v: MarkValue| matches!(v, MarkValue::Unique | MarkValue::UniqueDir);
    let unique_if = |v: IfIdSpec| matches!(v, IfIdSpec::Unique | IfIdSpec::UniqueDir);
    unique_mark(marks.mark_in.value)
        || unique_mark(marks.mark_out.value)
        || unique_if(marks.if_id_in)
        || unique_if(marks.if_id_out)
}

impl MarkAllocator {
    /// The values for the CHILD_SA(s) of `reqid`.
    pub fn resolve(&mut self, reqid: u32, marks: &ChildMarks) -> ResolvedMarks {
        if !uses_unique(marks) {
            return marks.resolve(&mut || 0, &mut || 0);
        }
        if let Some(known) = self.by_reqid.get(&reqid) {
            return *known;
        }
        let (next_mark, next_if_id) = (&mut self.next_mark, &mut self.next_if_id);
        let resolved = marks.resolve(
            &mut || {
                // Wraps past u32::MAX to 1: 0 would mean "no mark".
                *next_mark = next_mark.checked_add(1).unwrap_or(1);
                *next_mark
            },
            &mut || {
                *next_if_id = next_if_id.checked_add(1).unwrap_or(1);
                *next_if_id
            },
        );
        self.by_reqid.insert(reqid, resolved);
        resolved
    }

    /// Forgets the unique values of `reqid` (its last CHILD_SA is gone).
    pub fn release(&mut self, reqid: u32) {
        self.by_reqid.remove(&reqid);
    }

    /// Everything it knows, for a hitless restart: the counters and, sorted by reqid, the
    /// unique values in use (`handover_state`).
    pub fn parts(&self) -> (u32, u32, Vec<(u32, ResolvedMarks)>) {
        let mut used: Vec<_> = self.by_reqid.iter().map(|(r, m)| (*r, *m)).collect();
        used.sort_by_key(|(r, _)| *r);
        (self.next_mark, self.next_if_id, used)
    }

    /// The allocator [`MarkAllocator::parts`] described: the next process goes on handing out
    /// values after the earlier one's, and the SAs and policies it adopts keep theirs.
    pub fn from_parts(next_mark: u32, next_if_id: u32, used: Vec<(u32, ResolvedMarks)>) -> Self {
        Self {
            next_mark,
            next_if_id,
            by_reqid: used.into_iter().collect(),
        }
    }
}

/// Converts a resolved mark for `iked_xfrm`.
pub fn xfrm_mark(mark: Option<iked_ike::marks::Mark>) -> Option<iked_xfrm::Mark> {
    mark.map(|m| iked_xfrm::Mark {
        value: m.value,
        mask: m.mask,
    })
}

/// Puts resolved marks into a CHILD_SA install.
pub fn apply(spec: &mut iked_xfrm::ChildInstall, m: &ResolvedMarks) {
    spec.mark_in = xfrm_mark(m.mark_in);
    spec.mark_out = xfrm_mark(m.mark_out);
    spec.set_mark_in = xfrm_mark(m.set_mark_in);
    spec.set_mark_out = xfrm_mark(m.set_mark_out);
    spec.if_id_in = m.if_id_in;
    spec.if_id_out = m.if_id_out;
    spec.mark_in_sa = m.mark_in_sa;
}

/// The resolved marks a CHILD_SA install carries (the reverse of [`apply`]).
pub fn from_install(spec: &iked_xfrm::ChildInstall) -> ResolvedMarks {
    let back = |m: Option<iked_xfrm::Mark>| {
        m.map(|m| iked_ike::marks::Mark {
            value: m.value,
            mask: m.mask,
        })
    };
    ResolvedMarks {
        mark_in: back(spec.mark_in),
        mark_out: back(spec.mark_out),
        set_mark_in: back(spec.set_mark_in),
        set_mark_out: back(spec.set_mark_out),
        if_id_in: spec.if_id_in,
        if_id_out: spec.if_id_out,
        mark_in_sa: spec.mark_in_sa,
    }
}

/// What the record-only backend appends to an SA's line: the mark, output mark and interface
/// id this SA would carry in the kernel (the inbound SA's mark only with `mark_in_sa`).
pub fn record_line(m: &ResolvedMarks, inbound: bool) -> String {
    let (mark, set_mark, if_id) = if inbound {
        (
            m.mark_in.filter(|_| m.mark_in_sa),
            m.set_mark_in,
            m.if_id_in,
        )
    } else {
        (m.mark_out, m.set_mark_out, m.if_id_out)
    };
    let mut out = String::new();
    if let Some(mark) = mark {
        out.push_str(&format!(" mark {:#x}/{:#x}", mark.value, mark.mask));
    }
    if let Some(set) = set_mark {
        out.push_str(&format!(" output-mark {:#x}/{:#x}", set.value, set.mask));
    }
    if let Some(id) = if_id {
        out.push_str(&format!(" if_id {id:#x}"));
    }
    out
}

/// The `list-sas` keys charon's vici_query adds for a CHILD_SA's marks and interface ids:
/// `mark-in`/`mark-mask-in` (the mask only when not all ones), `mark-out`/`mark-mask-out`,
/// `if-id-in`, `if-id-out`, all as 8 hex digits.
pub fn listing(marks: &ResolvedMarks) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for (value_key, mask_key, mark) in [
        ("mark-in", "mark-mask-in", marks.mark_in),
        ("mark-out", "mark-mask-out", marks.mark_out),
    ] {
        if let Some(m) = mark {
            out.push((value_key, format!("{:08x}", m.value)));
            if m.mask != u32::MAX {
                out.push((mask_key, format!("{:08x}", m.mask)));
            }
        }
    }
    for (key, id) in [("if-id-in", marks.if_id_in), ("if-id-out", marks.if_id_out)] {
        if let Some(id) = id {
            out.push((key, format!("{id:08x}")));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use iked_ike::marks::MarkSpec;

    #[test]
    fn unique_values_are_kept_per_reqid_and_fresh_for_another() {
        let marks = ChildMarks {
            mark_in: MarkSpec {
                value: MarkValue::Unique,
                mask: u32::MAX,
            },
            mark_out: MarkSpec {
                value: MarkValue::Unique,
                mask: u32::MAX,
            },
            if_id_in: IfIdSpec::UniqueDir,
            if_id_out: IfIdSpec::UniqueDir,
            ..Default::default()
        };
        let mut a = MarkAllocator::default();
        let first = a.resolve(5, &marks);
        assert_eq!(a.resolve(5, &marks), first, "a rekey keeps its values");
        let other = a.resolve(6, &marks);
        assert_ne!(other.mark_in, first.mark_in);
        assert_eq!((first.if_id_in, first.if_id_out), (Some(1), Some(2)));
        a.release(5);
        assert_ne!(a.resolve(5, &marks).mark_in, first.mark_in);
    }

    #[test]
    fn listing_uses_charons_keys_and_hex() {
        let r = ResolvedMarks {
            mark_in: Some(iked_ike::marks::Mark {
                value: 0x2a,
                mask: u32::MAX,
            }),
            mark_out: Some(iked_ike::marks::Mark { value: 1, mask: 1 }),
            if_id_out: Some(7),
            ..Default::default()
        };
        let l = listing(&r);
        assert_eq!(
            l,
            [
                ("mark-in", "0000002a".to_string()),
                ("mark-out", "00000001".to_string()),
                ("mark-mask-out", "00000001".to_string()),
                ("if-id-out", "00000007".to_string()),
            ]
        );
    }
}
