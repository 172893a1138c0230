//! Fuzz target `ha_stream`: see `rmq_protocol::fuzzing::ha_stream` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rmq_protocol::fuzzing::ha_stream(data));
