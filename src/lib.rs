//! glasskey: provision, verify and account for the FIDO2 security keys of
//! Entra ID emergency-access ("break-glass") accounts.
//!
//! Layers call downward only:
//! `cli -> ceremony -> {ctap, graph, ledger, report, attestation} -> hid`.
//! `virtual_key` is a software authenticator that plugs in under `hid` through
//! the [`hid::Transport`] trait; it is for tests, rehearsals and the demo, and
//! like the Graph emulator and the demo it exists only with the `rehearsal` feature.

pub mod aaguid;
pub mod attestation;
pub mod ceremony;
pub mod cli;
pub mod ctap;
pub mod error;
pub mod fsutil;
pub mod graph;
pub mod hid;
pub mod ledger;
pub mod report;
pub mod secret;
#[cfg(feature = "rehearsal")]
pub mod virtual_key;
pub mod webauthn;

pub use error::{Error, ExitClass, Result};
