//! See `streampack_core::fuzzing::x509_not_after` for what must hold.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| streampack_core::fuzzing::x509_not_after(data));
