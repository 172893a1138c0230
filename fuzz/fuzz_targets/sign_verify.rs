//! Fuzz target `sign_verify`: see `rmq_protocol::fuzzing::sign_verify` for the invariants it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| rmq_protocol::fuzzing::sign_verify(data));
