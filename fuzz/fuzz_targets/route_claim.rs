//! Fuzz target `route_claim`: see `rmq_protocol::fuzzing::route_claim` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rmq_protocol::fuzzing::route_claim(data));
