//! Fuzz target `peek`: see `rmq_protocol::fuzzing::peek` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rmq_protocol::fuzzing::peek(data));
