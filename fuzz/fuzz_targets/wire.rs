//! `cargo +nightly fuzz run wire`: see `vrrpx_tests::fuzz_targets::wire` for the properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vrrpx_tests::fuzz_targets::wire(data));
