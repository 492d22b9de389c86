//! libFuzzer entry points for glasskey's parsers. The harness itself lives in
//! `../harness.rs` so that `tests/fuzz_regressions.rs` replays every committed
//! crash input through exactly the same code on stable Rust.

#[path = "../harness.rs"]
pub mod harness;
