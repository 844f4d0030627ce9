//! See `streampack_core::fuzzing::http_chunked` for what must hold.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| streampack_core::fuzzing::http_chunked(data));
