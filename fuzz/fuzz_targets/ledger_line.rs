#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| glasskey_fuzz::harness::ledger_line(data));
