//! Operator-level procedures built from the lower layers (ctap, graph, ledger,
//! report, attestation). The CLI calls these; they never print results themselves.

pub mod devices;
pub mod keys;
