//! Tests that need outside tools (the peer authenticators, python-fido2, libfido2,
//! poppler, zbar) skip loudly when those are absent, so `make test` passes on a
//! fresh machine — except under `make interop` / CI, which sets
//! GLASSKEY_REQUIRE_PEERS=1 so that a missing tool fails instead of hiding.

/// Say loudly why a test is skipped, or fail it when the tools are required.
pub fn skip(why: &str) {
    if std::env::var_os("GLASSKEY_REQUIRE_PEERS").is_some() {
        panic!("required tool missing (GLASSKEY_REQUIRE_PEERS is set): {why}");
    }
    eprintln!("\n*** SKIPPED: {why}\n");
}
