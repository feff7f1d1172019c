//! `cargo +nightly fuzz run config`: see `vrrpx_tests::fuzz_targets::config` for the properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vrrpx_tests::fuzz_targets::config(data));
