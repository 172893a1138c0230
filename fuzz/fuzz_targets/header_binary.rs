//! Fuzz target `header_binary`: see `rmq_protocol::fuzzing::header_binary` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rmq_protocol::fuzzing::header_binary(data));
