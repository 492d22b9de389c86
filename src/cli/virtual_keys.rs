//! (being written) — flattened into `keys` by cli/keys.rs.
