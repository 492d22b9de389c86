//! WebAuthn and CTAP2 data structures shared by every layer: authenticator data,
//! COSE public keys, attestation objects, and base64url. Parsing only — no I/O,
//! no policy. Inputs come from keys, files and the network, so every parser is
//! bounded and returns [`ParseError`] instead of panicking.

pub mod auth_data;
pub mod b64;
pub mod cbor_raw;
pub mod cose;
pub mod object;

pub use auth_data::{AttestedCredential, AuthenticatorData, Flags};
pub use cose::CoseKey;
pub use object::AttestationObject;

use std::fmt;

/// Why bytes could not be read as a WebAuthn/CTAP structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Which structure (e.g. "authenticator data").
    pub what: &'static str,
    /// What was wrong with it.
    pub why: String,
}

impl ParseError {
    pub fn new(what: &'static str, why: impl Into<String>) -> Self {
        ParseError {
            what,
            why: why.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed {}: {}", self.what, self.why)
    }
}

impl std::error::Error for ParseError {}

impl From<ParseError> for crate::Error {
    fn from(e: ParseError) -> Self {
        crate::Error::input(
            e.to_string(),
            "the data is truncated, corrupted or not what glasskey expected; obtain it again from its source",
        )
    }
}
