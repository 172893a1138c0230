//! Fuzz target `decode_frame`: see `rmq_protocol::fuzzing::decode_frame` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rmq_protocol::fuzzing::decode_frame(data));
