#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| glasskey_fuzz::harness::mds_blob(data));
