//! Drive an `Engine` with a program of operations decoded from the input and check it against a
//! shadow model (see `checks.rs`, `check_engine`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    krpc_socket_fuzz::checks::check_engine(data);
});
