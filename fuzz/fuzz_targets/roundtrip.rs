//! Fuzz target `roundtrip`: see `rmq_protocol::fuzzing::roundtrip` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rmq_protocol::fuzzing::roundtrip(data));
