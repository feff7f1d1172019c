//! `cargo +nightly fuzz run advert_roundtrip`: see `vrrpx_tests::fuzz_targets::advert_roundtrip` for the properties.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| vrrpx_tests::fuzz_targets::advert_roundtrip(data));
