//! Tokenize arbitrary bytes at several bases and check the tape invariants (see `checks.rs`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    krpc_socket_fuzz::checks::check_tokenize(data);
});
