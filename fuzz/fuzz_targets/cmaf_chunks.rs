//! See `streampack_core::fuzzing::cmaf_chunks` for what must hold.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| streampack_core::fuzzing::cmaf_chunks(data));
