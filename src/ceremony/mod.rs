//! Operator-level procedures built from the lower layers (ctap, graph, ledger,
//! report, attestation). The CLI calls these; they never print results themselves.

pub mod audit;
pub mod check;
#[cfg(feature = "rehearsal")]
pub mod demo;
pub mod devices;
pub mod enroll;
pub mod journal;
pub mod key;
pub mod key_fit;
pub mod keys;
pub mod kit_init;
pub mod online;
pub mod operator;
pub mod pin_gen;
pub mod preflight;
pub mod register;
pub mod resume;
pub mod retire;
pub mod sheets;
pub mod signin;
pub mod witness;
