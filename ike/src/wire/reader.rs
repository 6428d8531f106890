//! Bounds-checked cursor and length-checked writer helpers.
//!
//! Contract: [`Reader`] never indexes out of bounds; every read that would run past the end
//! returns a [`WireError`] with the absolute offset of the field. Absolute offsets come from the
//! `base` each reader is created with, so errors inside nested structures point into the
//! original buffer.

use super::error::{EncodeError, WireError, WireErrorKind};

/// A cursor over a byte slice that reports failures with absolute offsets.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) const fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Absolute offset of the next unread byte.
    pub(crate) const fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    pub(crate) const fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) const fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn error(&self, kind: WireErrorKind) -> WireError {
        WireError::new(self.offset(), kind)
    }

    /// Takes the next `n` bytes, or fails naming `what` was being read.
    pub(crate) fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n);
        match end.and_then(|end| self.buf.get(self.pos..end)) {
            Some(slice) => {
                self.pos = self.pos.saturating_add(n);
                Ok(slice)
            }
            None => Err(self.error(WireErrorKind::Truncated {
                what,
                needed: n,
                available: self.remaining(),
            })),
        }
    }

    /// Takes the next `n` bytes as a sub-reader whose offsets continue this one's.
    pub(crate) fn sub(&mut self, n: usize, what: &'static str) -> Result<Reader<'a>, WireError> {
        let base = self.offset();
        let slice = self.bytes(n, what)?;
        Ok(Reader::new(slice, base))
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: &'static str,
    ) -> Result<[u8; N], WireError> {
        let slice = self.bytes(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, WireError> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, WireError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, WireError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, WireError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Takes everything that is left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let slice = self.buf.get(self.pos..).unwrap_or_default();
        self.pos = self.buf.len();
        slice
    }

    /// Fails if any bytes are left.
    pub(crate) fn finish(&self, what: &'static str) -> Result<(), WireError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.error(WireErrorKind::TrailingBytes {
                what,
                count: self.remaining(),
            }))
        }
    }
}

/// Converts a length to the `u16` of a length field, or says which structure is too long.
pub(crate) fn u16_len(what: &'static str, length: usize) -> Result<u16, EncodeError> {
    u16::try_from(length).map_err(|_| EncodeError::TooLong {
        what,
        length,
        max: usize::from(u16::MAX),
    })
}

/// Refuses to encode more elements than the decoder accepts, so every encoding decodes.
pub(crate) fn limit(what: &'static str, count: usize, max: usize) -> Result<(), EncodeError> {
    if count > max {
        Err(EncodeError::TooMany { what, count, max })
    } else {
        Ok(())
    }
}

/// Converts a count to the `u8` of a count or size field.
pub(crate) fn u8_count(what: &'static str, count: usize) -> Result<u8, EncodeError> {
    u8::try_from(count).map_err(|_| EncodeError::TooMany {
        what,
        count,
        max: usize::from(u8::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_report_absolute_offsets_and_never_overrun() {
        let data = [1u8, 2, 3, 4, 5];
        let mut r = Reader::new(&data, 100);
        assert_eq!(r.u16("a").unwrap(), 0x0102);
        let mut sub = r.sub(2, "sub").unwrap();
        assert_eq!(sub.offset(), 102);
        assert_eq!(sub.u8("b").unwrap(), 3);
        let err = sub.u16("c").unwrap_err();
        assert_eq!(err.offset, 103);
        assert_eq!(
            err.kind,
            WireErrorKind::Truncated {
                what: "c",
                needed: 2,
                available: 1
            }
        );
        assert!(r.bytes(usize::MAX, "huge").is_err());
        assert_eq!(r.rest(), &[5]);
        assert!(r.finish("x").is_ok());
    }
}
