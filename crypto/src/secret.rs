//! Secret byte strings: zeroized on drop, compared in constant time, and never
//! printed (`Debug` shows only the length).

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Owned secret bytes (keys, shared secrets, SKEYSEED, KEYMAT).
#[derive(Clone, Default, Zeroize, ZeroizeOnDrop)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes` (the caller's vector is moved, not copied).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a new secret.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// A secret of `len` zero bytes, to be filled in place.
    pub fn zeroed(len: usize) -> Self {
        Self(vec![0; len])
    }

    /// The secret bytes. Callers must not log or persist them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Mutable access for in-place generation.
    pub fn expose_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Splits off the first `len` bytes as a new secret; `None` if too short.
    pub fn split_prefix(&self, len: usize) -> Option<(SecretBytes, &[u8])> {
        let (head, tail) = self.0.split_at_checked(len)?;
        Some((SecretBytes::from_slice(head), tail))
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

impl PartialEq for SecretBytes {
    /// Constant-time comparison (lengths are not secret).
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretBytes {}

impl From<Vec<u8>> for SecretBytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts_content() {
        let s = SecretBytes::from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let shown = format!("{s:?}");
        assert_eq!(shown, "SecretBytes(<4 bytes redacted>)");
        assert!(!shown.to_lowercase().contains("de"));
    }

    #[test]
    fn split_prefix_checks_length() {
        let s = SecretBytes::from_slice(&[1, 2, 3]);
        let (a, rest) = s.split_prefix(2).unwrap();
        assert_eq!(a.expose(), &[1, 2]);
        assert_eq!(rest, &[3]);
        assert!(s.split_prefix(4).is_none());
    }
}
