//! Fuzz target `header_json`: see `rmq_protocol::fuzzing::header_json` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rmq_protocol::fuzzing::header_json(data));
