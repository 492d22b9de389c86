#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| glasskey_fuzz::harness::graph_bundles(data));
