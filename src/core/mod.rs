//! The sans-IO KRPC core: bencode tokenizer, datagram classification, transaction table,
//! timeouts and the inbox handed to JS. No sockets, no JS, no clock: callers pass bytes and time.

pub mod bencode;
pub mod classify;
pub mod engine;
pub mod inbox;
pub mod keys;
pub mod multiply_hash;
pub mod pacer;
pub mod rate_limit;
pub mod stats;
pub mod tape;
pub mod transactions;
