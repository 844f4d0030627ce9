//! See `streampack_core::fuzzing::h2_response` for what must hold.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| streampack_core::fuzzing::h2_response(data));
