//! IKEv2 message codec (placeholder).
