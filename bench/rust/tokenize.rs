//! Tokenizer and classifier cost per datagram, in a release build:
//! `cargo bench --bench tokenize`. A benchmark, not a test: nothing here asserts a speed.
//! (`cargo test --all-targets` builds this file and runs it without `--bench`: it then returns
//! at once, so the test suite stays fast and untimed.)

use std::hint::black_box;
use std::time::Instant;

use krpc_socket::core::{bencode::tokenize, classify::classify};

const GET_PEERS: &[u8] =
    b"d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe";
const ROUNDS: u32 = 5_000_000;

fn ns_per_round(mut round: impl FnMut(u32)) -> f64 {
    let start = Instant::now();
    for k in 0..ROUNDS {
        round(k);
    }
    start.elapsed().as_nanos() as f64 / f64::from(ROUNDS)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let mut out = Vec::with_capacity(64);
    let tokenize_only = ns_per_round(|k| {
        out.clear();
        tokenize(black_box(GET_PEERS), k, &mut out).expect("a valid datagram");
        black_box(&out);
    });
    let with_classify = ns_per_round(|k| {
        out.clear();
        tokenize(black_box(GET_PEERS), k, &mut out).expect("a valid datagram");
        black_box(classify(&out, GET_PEERS, k));
    });
    println!(
        "{} bytes (get_peers query): tokenize {tokenize_only:.1} ns/msg, tokenize+classify {with_classify:.1} ns/msg",
        GET_PEERS.len()
    );
}
