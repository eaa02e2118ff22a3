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

/// A full get_peers reply: node id, token and 50 compact peers (what the socket benchmark's
/// get_peers workload answers).
fn get_peers_reply() -> Vec<u8> {
    let mut reply =
        b"d1:rd2:id20:abcdefghij01234567895:token20:mnopqrstuvwxyz1234566:valuesl".to_vec();
    for i in 0..50u8 {
        reply.extend_from_slice(b"6:");
        reply.extend_from_slice(&[10, 0, 0, i, 0x1a, 0xe1]);
    }
    reply.extend_from_slice(b"ee1:t2:aa1:y1:re");
    reply
}

fn measure(name: &str, datagram: &[u8]) {
    let mut out = Vec::with_capacity(256);
    let tokenize_only = ns_per_round(|k| {
        out.clear();
        tokenize(black_box(datagram), k, &mut out).expect("a valid datagram");
        black_box(&out);
    });
    let with_classify = ns_per_round(|k| {
        out.clear();
        let root = tokenize(black_box(datagram), k, &mut out).expect("a valid datagram");
        black_box(classify(&out, root, datagram, k));
    });
    println!(
        "{} bytes ({name}): tokenize {tokenize_only:.1} ns/msg, tokenize+classify {with_classify:.1} ns/msg",
        datagram.len()
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    measure("get_peers query", GET_PEERS);
    measure("get_peers reply, 50 values", &get_peers_reply());
}
