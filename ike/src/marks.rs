//! Netfilter marks, output marks and XFRM interface ids of a child (`mark_in`, `mark_out`,
//! `set_mark_in`, `set_mark_out`, `if_id_in`, `if_id_out`, `mark_in_sa`).
//!
//! The engine does not interpret them: it copies a child's [`ChildMarks`] into every
//! [`crate::engine::SaInstall`] of that child, and the kernel side resolves them once per
//! CHILD_SA (per reqid, so a rekeyed CHILD_SA keeps its values) with [`ChildMarks::resolve`].
//!
//! Contract (charon's child_sa.c, `child_sa_create`):
//! - `%unique` gives `mark_in` and `mark_out` one new value shared by both directions;
//!   `%unique-dir` (on either) gives each unique direction its own new value. Interface ids
//!   follow the same rule with their own counter.
//! - `%same` in an output mark takes the value of the mark of the same direction (after the
//!   unique values are assigned); the output mark keeps its own mask.
//! - A mark whose value and mask are both 0 is no mark; an interface id of 0 is none.

/// A mark's value as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MarkValue {
    /// A fixed value.
    Fixed(u32),
    /// `%unique`.
    Unique,
    /// `%unique-dir`.
    UniqueDir,
    /// `%same` (output marks only).
    Same,
    /// Nothing configured.
    #[default]
    None,
}

/// A configured mark: value and mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MarkSpec {
    /// Value.
    pub value: MarkValue,
    /// Mask.
    pub mask: u32,
}

/// A configured interface id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IfIdSpec {
    /// A fixed id (0 is none).
    Fixed(u32),
    /// `%unique`.
    Unique,
    /// `%unique-dir`.
    UniqueDir,
    /// Nothing configured.
    #[default]
    None,
}

/// A mark as the kernel takes it (`XFRMA_MARK`, `XFRMA_SET_MARK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mark {
    /// Value.
    pub value: u32,
    /// Mask.
    pub mask: u32,
}

/// A child's marks and interface ids as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ChildMarks {
    /// `mark_in`: inbound (and inbound forward) policies; the inbound SA with `mark_in_sa`.
    pub mark_in: MarkSpec,
    /// `mark_out`: the outbound SA and outbound policies.
    pub mark_out: MarkSpec,
    /// `set_mark_in`: output mark of the inbound SA.
    pub set_mark_in: MarkSpec,
    /// `set_mark_out`: output mark of the outbound SA.
    pub set_mark_out: MarkSpec,
    /// `if_id_in`: the inbound SA and policies.
    pub if_id_in: IfIdSpec,
    /// `if_id_out`: the outbound SA and policies.
    pub if_id_out: IfIdSpec,
    /// `mark_in_sa`.
    pub mark_in_sa: bool,
}

/// Marks and interface ids with every `%unique`/`%same` replaced by a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ResolvedMarks {
    /// Inbound mark.
    pub mark_in: Option<Mark>,
    /// Outbound mark.
    pub mark_out: Option<Mark>,
    /// Output mark of the inbound SA.
    pub set_mark_in: Option<Mark>,
    /// Output mark of the outbound SA.
    pub set_mark_out: Option<Mark>,
    /// Inbound interface id.
    pub if_id_in: Option<u32>,
    /// Outbound interface id.
    pub if_id_out: Option<u32>,
    /// The inbound SA carries `mark_in`.
    pub mark_in_sa: bool,
}

impl ChildMarks {
    /// Whether anything is configured (a child without marks needs no resolution).
    pub fn is_empty(&self) -> bool {
        *self == ChildMarks::default()
    }

    /// Resolves `%unique`, `%unique-dir` and `%same`; `next_mark` and `next_if_id` hand out
    /// the next unique value of their kind (charon keeps one counter for each).
    pub fn resolve(
        &self,
        next_mark: &mut dyn FnMut() -> u32,
        next_if_id: &mut dyn FnMut() -> u32,
    ) -> ResolvedMarks {
        let is_unique = |v: MarkValue| matches!(v, MarkValue::Unique | MarkValue::UniqueDir);
        let (mut mark_in, mut mark_out) = (self.mark_in.value, self.mark_out.value);
        if is_unique(mark_in) || is_unique(mark_out) {
            let per_dir = mark_in == MarkValue::UniqueDir || mark_out == MarkValue::UniqueDir;
            let shared = if per_dir { 0 } else { next_mark() };
            for v in [&mut mark_in, &mut mark_out] {
                if is_unique(*v) {
                    *v = MarkValue::Fixed(if per_dir { next_mark() } else { shared });
                }
            }
        }
        let (mut if_in, mut if_out) = (self.if_id_in, self.if_id_out);
        let unique_if = |v: IfIdSpec| matches!(v, IfIdSpec::Unique | IfIdSpec::UniqueDir);
        if unique_if(if_in) || unique_if(if_out) {
            let per_dir = if_in == IfIdSpec::UniqueDir || if_out == IfIdSpec::UniqueDir;
            let shared = if per_dir { 0 } else { next_if_id() };
            for v in [&mut if_in, &mut if_out] {
                if unique_if(*v) {
                    *v = IfIdSpec::Fixed(if per_dir { next_if_id() } else { shared });
                }
            }
        }
        let fixed = |v: MarkValue| match v {
            MarkValue::Fixed(v) => v,
            _ => 0,
        };
        let mark =
            |value: u32, mask: u32| (value != 0 || mask != 0).then_some(Mark { value, mask });
        let output = |spec: MarkSpec, same: MarkValue| match spec.value {
            MarkValue::Same => mark(fixed(same), spec.mask),
            v => mark(fixed(v), spec.mask),
        };
        let if_id = |v: IfIdSpec| match v {
            IfIdSpec::Fixed(id) if id != 0 => Some(id),
            _ => None,
        };
        ResolvedMarks {
            mark_in: mark(fixed(mark_in), self.mark_in.mask),
            mark_out: mark(fixed(mark_out), self.mark_out.mask),
            set_mark_in: output(self.set_mark_in, mark_in),
            set_mark_out: output(self.set_mark_out, mark_out),
            if_id_in: if_id(if_in),
            if_id_out: if_id(if_out),
            mark_in_sa: self.mark_in_sa,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter(start: u32) -> impl FnMut() -> u32 {
        let mut n = start;
        move || {
            n += 1;
            n
        }
    }

    fn spec(value: MarkValue, mask: u32) -> MarkSpec {
        MarkSpec { value, mask }
    }

    #[test]
    fn unique_is_shared_unique_dir_is_per_direction() {
        let marks = ChildMarks {
            mark_in: spec(MarkValue::Unique, u32::MAX),
            mark_out: spec(MarkValue::Unique, u32::MAX),
            ..Default::default()
        };
        let r = marks.resolve(&mut counter(0), &mut counter(100));
        assert_eq!(r.mark_in, r.mark_out);
        assert_eq!(r.mark_in.unwrap().value, 1);

        let marks = ChildMarks {
            mark_in: spec(MarkValue::UniqueDir, u32::MAX),
            mark_out: spec(MarkValue::Unique, u32::MAX),
            if_id_in: IfIdSpec::Unique,
            if_id_out: IfIdSpec::Unique,
            ..Default::default()
        };
        let r = marks.resolve(&mut counter(0), &mut counter(100));
        assert_eq!(r.mark_in.unwrap().value, 1);
        assert_eq!(r.mark_out.unwrap().value, 2);
        assert_eq!((r.if_id_in, r.if_id_out), (Some(101), Some(101)));
    }

    #[test]
    fn same_copies_the_resolved_value_with_its_own_mask() {
        let marks = ChildMarks {
            mark_in: spec(MarkValue::Unique, 0xff),
            set_mark_in: spec(MarkValue::Same, 0xf),
            set_mark_out: spec(MarkValue::Fixed(0x30), u32::MAX),
            ..Default::default()
        };
        let r = marks.resolve(&mut counter(6), &mut counter(0));
        assert_eq!(
            r.set_mark_in,
            Some(Mark {
                value: 7,
                mask: 0xf
            })
        );
        assert_eq!(
            r.set_mark_out,
            Some(Mark {
                value: 0x30,
                mask: u32::MAX
            })
        );
        assert_eq!(r.mark_out, None, "nothing configured is no mark");
        assert_eq!(r.if_id_in, None);
    }
}
