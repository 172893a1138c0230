//! Fuzz target `ha_preamble`: see `rmq_protocol::fuzzing::ha_preamble` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rmq_protocol::fuzzing::ha_preamble(data));
