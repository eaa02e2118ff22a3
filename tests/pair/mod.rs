//! An in-memory client/server pair over the sans-IO core, in the manner of quinn-proto's `Pair`:
//! two engines, a wire that is a queue of datagrams, and a clock the test moves by hand. Protocol
//! behaviour (matching, timeouts, what a hostile third party can and cannot do) is tested here
//! without sockets, threads or JS; the real-socket tests live in `__test__/`.
//!
//! Time is in ticks, as the binding drives the engine: a query lives `LIFETIME_TICKS` and times
//! out on the fifth tick after it was registered (docs/ARCHITECTURE.md, "Timeouts").

#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::collections::VecDeque;

use krpc_socket::core::engine::{Engine, Ingested, Source};
use krpc_socket::core::keys::KEY_T;
use krpc_socket::core::tape::{
    key_id, opcode, HEADER_WORDS, T_BYTES, T_DICT, T_END, T_FLOAT, T_INT, T_KEY, T_LIST, T_RAWKEY,
};
use serde_bencode::value::Value;

/// The reference's ttl of 4 ticks, as the binding configures its engines.
pub const LIFETIME_TICKS: u64 = 5;

/// An IPv4 endpoint, as its address text and port appear in a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub address: String,
    pub port: u16,
}

impl Endpoint {
    pub fn new(address: &str, port: u16) -> Self {
        Self {
            address: address.to_owned(),
            port,
        }
    }

    fn source(&self) -> Source<'_> {
        Source {
            address: self.address.as_bytes(),
            ipv6: self.address.contains(':'),
            port: self.port,
        }
    }
}

/// One datagram in flight on the in-memory wire.
#[derive(Debug, Clone)]
pub struct Datagram {
    pub from: Endpoint,
    pub to: Endpoint,
    pub bytes: Vec<u8>,
}

/// A record drained from an engine's inbox, decoded far enough for assertions.
#[derive(Debug, Clone)]
pub struct Record {
    pub kind: i32,
    pub slot: i32,
    pub gen: i32,
    pub tid: i32,
    pub from: Endpoint,
    pub size: usize,
    /// The root dict's `t` byte string, if the message has one.
    pub t: Option<Vec<u8>>,
}

/// One side: an engine plus what a JS owner would keep (the last tid, generation numbers).
pub struct Node {
    pub engine: Engine,
    pub endpoint: Endpoint,
    last_tid: u16,
    next_gen: u32,
}

impl Node {
    pub fn new(endpoint: Endpoint) -> Self {
        Self {
            engine: Engine::with_lifetime(LIFETIME_TICKS),
            endpoint,
            last_tid: 0,
            next_gen: 0,
        }
    }

    /// Registers a query to `to` at tick `now` and returns `(slot, tid, gen, datagram)`, or `None`
    /// when the engine refuses (no free tid).
    pub fn query(
        &mut self,
        now: u64,
        to: &Endpoint,
        method: &str,
    ) -> Option<(u32, u16, u32, Datagram)> {
        self.next_gen += 1;
        let gen = self.next_gen;
        let (slot, tid) = self
            .engine
            .register_peer(now, self.last_tid, to.address.as_bytes(), to.port, gen)
            .ok()?;
        self.last_tid = tid;
        let bytes = encode(&[
            ("a", dict(&[("id", bytes(&[1; 20]))])),
            ("q", bytes(method.as_bytes())),
            ("t", bytes(&tid.to_be_bytes())),
            ("y", bytes(b"q")),
        ]);
        let datagram = Datagram {
            from: self.endpoint.clone(),
            to: to.clone(),
            bytes,
        };
        Some((slot, tid, gen, datagram))
    }

    /// A reply (`y: 'r'`) to a received query record, back to its sender.
    pub fn reply_to(&self, query: &Record) -> Datagram {
        let t = query.t.clone().expect("a query with a byte-string t");
        Datagram {
            from: self.endpoint.clone(),
            to: query.from.clone(),
            bytes: encode(&[
                ("r", dict(&[("id", bytes(&[2; 20]))])),
                ("t", bytes(&t)),
                ("y", bytes(b"r")),
            ]),
        }
    }

    /// An error reply (`y: 'e'`, `[code, text]`) to a received query record.
    pub fn error_to(&self, query: &Record, code: i64, text: &str) -> Datagram {
        let t = query.t.clone().expect("a query with a byte-string t");
        Datagram {
            from: self.endpoint.clone(),
            to: query.from.clone(),
            bytes: encode(&[
                (
                    "e",
                    Value::List(vec![Value::Int(code), bytes(text.as_bytes())]),
                ),
                ("t", bytes(&t)),
                ("y", bytes(b"e")),
            ]),
        }
    }

    /// Every record waiting in the inbox, oldest first.
    pub fn records(&mut self) -> Vec<Record> {
        let mut out = vec![0i32; 1 << 16];
        let batch = self
            .engine
            .inbox()
            .drain(&mut out, |b| b.to_vec())
            .expect("a 64k-word tape holds what these tests send");
        let used = out[0] as usize;
        let tape = &out[1..=used];
        let mut records = Vec::new();
        let mut p = 0;
        while p < used {
            let h = &tape[p..p + HEADER_WORDS];
            let (address_start, address_len) = (h[4] as usize, (h[5] & 0xffff) as usize);
            let value = &tape[p + HEADER_WORDS..p + HEADER_WORDS + h[8] as usize];
            records.push(Record {
                kind: h[0],
                slot: h[1],
                gen: h[2],
                tid: h[3],
                from: Endpoint {
                    address: String::from_utf8(
                        batch[address_start..address_start + address_len].to_vec(),
                    )
                    .expect("address text is ASCII"),
                    port: h[6] as u16,
                },
                size: h[7] as usize,
                t: root_bytes(value, &batch, KEY_T),
            });
            p += HEADER_WORDS + h[8] as usize;
        }
        records
    }
}

/// Client, server and the wire between them (plus any third party a test adds).
pub struct Pair {
    pub client: Node,
    pub server: Node,
    pub wire: VecDeque<Datagram>,
    pub now: u64,
}

impl Pair {
    pub fn new() -> Self {
        Self {
            client: Node::new(Endpoint::new("127.0.0.1", 40000)),
            server: Node::new(Endpoint::new("127.0.0.2", 6881)),
            wire: VecDeque::new(),
            now: 0,
        }
    }

    /// Puts a datagram on the wire (queued behind what is already there).
    pub fn send(&mut self, datagram: Datagram) {
        self.wire.push_back(datagram);
    }

    /// Delivers everything on the wire to the node it is addressed to (client or server);
    /// datagrams to anyone else are lost, as on a real network. Returns how many were queued.
    pub fn deliver(&mut self) -> usize {
        let mut queued = 0;
        while let Some(d) = self.wire.pop_front() {
            let node = if d.to == self.client.endpoint {
                &mut self.client
            } else if d.to == self.server.endpoint {
                &mut self.server
            } else {
                continue;
            };
            if node.engine.ingest_at(&d.bytes, d.from.source(), self.now) == Ingested::Queued {
                queued += 1;
            }
        }
        queued
    }

    /// The client queries the server and the query is delivered: `(slot, tid, gen)` and what
    /// the server's inbox then holds.
    pub fn query_server(&mut self, method: &str) -> (u32, u16, u32, Vec<Record>) {
        let server = self.server.endpoint.clone();
        let (slot, tid, gen, query) = self
            .client
            .query(self.now, &server, method)
            .expect("a free tid");
        self.send(query);
        self.deliver();
        (slot, tid, gen, self.server.records())
    }

    /// Delivers `datagram` and returns what the client's inbox then holds.
    pub fn deliver_to_client(&mut self, datagram: Datagram) -> Vec<Record> {
        self.send(datagram);
        self.deliver();
        self.client.records()
    }

    /// Moves the clock by `ticks` and returns the client's `(slot, gen)` pairs that timed out.
    pub fn advance(&mut self, ticks: u64) -> Vec<(u32, u32)> {
        self.now += ticks;
        self.client.engine.expire(self.now).to_vec()
    }
}

impl Default for Pair {
    fn default() -> Self {
        Self::new()
    }
}

pub fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

pub fn dict(entries: &[(&str, Value)]) -> Value {
    Value::Dict(
        entries
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
            .collect(),
    )
}

pub fn encode(entries: &[(&str, Value)]) -> Vec<u8> {
    serde_bencode::to_bytes(&dict(entries)).expect("bencode of plain values")
}

/// The byte string under `key` (an interned key id) in a root dict, walking the tape without
/// recursion; `None` when the root is not a dict or the value is not a byte string.
fn root_bytes(value: &[i32], batch: &[u8], key: u32) -> Option<Vec<u8>> {
    if value.first().map(|w| opcode(*w)) != Some(T_DICT) {
        return None;
    }
    let mut i = 1;
    while i < value.len() {
        let word = value[i];
        let is_key = match opcode(word) {
            T_END => return None,
            T_KEY => {
                i += 1;
                key_id(word) == key
            }
            T_RAWKEY => {
                i += 3;
                false
            }
            _ => return None,
        };
        if is_key {
            return (opcode(value[i]) == T_BYTES).then(|| {
                let (start, len) = (value[i + 1] as usize, value[i + 2] as usize);
                batch[start..start + len].to_vec()
            });
        }
        i = skip_value(value, i);
    }
    None
}

/// The index after the value starting at `i`.
fn skip_value(value: &[i32], mut i: usize) -> usize {
    let mut depth = 0usize;
    loop {
        match opcode(value[i]) {
            T_DICT | T_LIST => {
                depth += 1;
                i += 1;
            }
            T_END => {
                depth -= 1;
                i += 1;
            }
            T_BYTES | T_RAWKEY | T_FLOAT => i += 3,
            T_INT => i += 2,
            _ => i += 1,
        }
        if depth == 0 {
            return i;
        }
    }
}
