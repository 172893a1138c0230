//! Fuzz target `body`: see `rmq_protocol::fuzzing::body` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rmq_protocol::fuzzing::body(data));
