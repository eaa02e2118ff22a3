//! Invariant checks shared by the fuzz targets (`fuzz/fuzz_targets/*.rs`) and the stable corpus
//! replay test (`tests/fuzz_corpus.rs`, which includes this file with `#[path]`).
//!
//! Both entry points accept arbitrary bytes and panic (with a message saying which invariant
//! broke) when the core misbehaves:
//!
//! * [`check_tokenize`]: the input is one datagram, tokenized at several bases.
//! * [`check_engine`]: the input is a small program of engine operations (format on
//!   [`check_engine`]) run against an `Engine` and a shadow model of the transaction table.
//!
//! Only the public API of `src/core` is used (reached as `crate::core`: the fuzz crate and the
//! replay test both import `krpc_socket::core` under that name), so nothing in `src/` exists for
//! the fuzzer's sake.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::core::bencode::{tokenize, DecodeError, MAX_DEPTH};
use crate::core::classify::{classify, root_of, y_value_range, Class};
use crate::core::engine::{Engine, Ingested, Source};
use crate::core::inbox::{MAX_INBOX_BYTES, MAX_INBOX_WORDS};
use crate::core::keys::{intern, INTERNED_KEYS, KEY_Y};
use crate::core::tape::{
    float_from_words, key_id, opcode, HEADER_WORDS, K_DECODE_ERROR, K_ERROR_REPLY, K_QUERY,
    K_RESPONSE, K_SHORT_TID, K_UNEXPECTED_TID, K_UNKNOWN_TYPE, K_WRONG_SOURCE, T_BYTES, T_DICT,
    T_END, T_FLOAT, T_INT, T_KEY, T_LIST, T_RAWKEY,
};
use crate::core::transactions::RegisterError;

/// Lower-case hex of `bytes`, for failure messages.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// FNV-1a, to derive "random" but reproducible parameters from the input itself, so corpus files
/// stay plain datagrams.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

// ---------------------------------------------------------------------------------------------
// tokenize
// ---------------------------------------------------------------------------------------------

/// Walks a token stream produced by `tokenize(input, base, ..)` and panics on any structural
/// violation. Returns the (offset, len) pairs of every T_BYTES/T_RAWKEY, relative to `input`.
pub fn validate_tokens(tokens: &[i32], input: &[u8], base: u32) -> Vec<(usize, usize)> {
    let ctx = || format!("input {} base {base} tokens {tokens:?}", hex(input));
    // Empty input is `null`: no tokens. Anything else that decodes is exactly one value.
    if input.is_empty() {
        assert!(tokens.is_empty(), "empty input produced tokens: {}", ctx());
        return Vec::new();
    }
    assert!(
        !tokens.is_empty(),
        "non-empty input decoded to nothing: {}",
        ctx()
    );
    assert!(
        tokens.len() <= 3 * input.len() + 3,
        "{} words for {} bytes: {}",
        tokens.len(),
        input.len(),
        ctx()
    );

    // Stack of open containers: (is_dict, expecting_key).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let mut ranges = Vec::new();
    let mut last_end = 0usize; // the cursor only moves forward
    let mut i = 0usize;
    let mut done = false;
    while i < tokens.len() {
        assert!(
            !done,
            "tokens after the first complete value at word {i}: {}",
            ctx()
        );
        let w = tokens[i];
        let op = opcode(w);
        let is_key = op == T_KEY || op == T_RAWKEY;
        // Position rules: keys only where a dict expects a key, values never there.
        match stack.last_mut() {
            Some((true, expecting_key)) if op != T_END => {
                assert_eq!(
                    is_key,
                    *expecting_key,
                    "dict entry does not alternate key/value at word {i}: {}",
                    ctx()
                );
                *expecting_key = !*expecting_key;
            }
            Some((true, expecting_key)) => {
                assert!(
                    *expecting_key,
                    "dict closed after a key without value at word {i}: {}",
                    ctx()
                );
            }
            _ => assert!(!is_key, "key outside a dict at word {i}: {}", ctx()),
        }
        let mut range = |start: i32, len: i32, i: usize| {
            assert!(len >= 0, "negative length at word {i}: {}", ctx());
            let off = (start as u32).wrapping_sub(base) as usize;
            let end = off.checked_add(len as usize).expect("offset overflow");
            assert!(
                end <= input.len(),
                "range [{start}, +{len}) outside [base, base+len) at word {i}: {}",
                ctx()
            );
            assert!(
                off >= last_end,
                "byte ranges go backwards at word {i}: {}",
                ctx()
            );
            last_end = end;
            ranges.push((off, len as usize));
        };
        match op {
            T_DICT | T_LIST => {
                assert_eq!(w, op, "flag bits on a container word at {i}: {}", ctx());
                stack.push((op == T_DICT, true));
                assert!(stack.len() <= MAX_DEPTH, "deeper than MAX_DEPTH: {}", ctx());
                i += 1;
            }
            T_END => {
                assert_eq!(w, op, "flag bits on T_END at {i}: {}", ctx());
                assert!(
                    stack.pop().is_some(),
                    "T_END without container at word {i}: {}",
                    ctx()
                );
                i += 1;
            }
            T_BYTES | T_RAWKEY => {
                assert_eq!(w, op, "flag bits on a bytes word at {i}: {}", ctx());
                assert!(
                    i + 3 <= tokens.len(),
                    "truncated token at word {i}: {}",
                    ctx()
                );
                range(tokens[i + 1], tokens[i + 2], i);
                if op == T_RAWKEY {
                    let off = (tokens[i + 1] as u32).wrapping_sub(base) as usize;
                    let key = &input[off..off + tokens[i + 2] as usize];
                    assert_eq!(
                        intern(key),
                        None,
                        "interned key emitted raw at word {i}: {}",
                        ctx()
                    );
                }
                i += 3;
            }
            T_INT => {
                assert_eq!(w, op, "flag bits on T_INT at {i}: {}", ctx());
                assert!(
                    i + 2 <= tokens.len(),
                    "truncated T_INT at word {i}: {}",
                    ctx()
                );
                i += 2;
            }
            T_FLOAT => {
                assert_eq!(w, op, "flag bits on T_FLOAT at {i}: {}", ctx());
                assert!(
                    i + 3 <= tokens.len(),
                    "truncated T_FLOAT at word {i}: {}",
                    ctx()
                );
                let v = float_from_words(tokens[i + 1], tokens[i + 2]);
                assert!(!v.is_nan(), "NaN number at word {i}: {}", ctx());
                // T_INT is mandatory for int32 values other than -0.
                let as_int = v as i32;
                assert!(
                    !(as_int as f64 == v && !(as_int == 0 && v.is_sign_negative())),
                    "int32 value {v} written as T_FLOAT at word {i}: {}",
                    ctx()
                );
                i += 3;
            }
            T_KEY => {
                let id = key_id(w) as usize;
                assert!(
                    (1..=INTERNED_KEYS.len()).contains(&id),
                    "bad interned key id {id} at word {i}: {}",
                    ctx()
                );
                i += 1;
            }
            _ => panic!("unknown opcode {op} (word {w}) at {i}: {}", ctx()),
        }
        if stack.is_empty() {
            done = true;
        }
    }
    assert!(
        stack.is_empty(),
        "unbalanced tokens ({} open): {}",
        stack.len(),
        ctx()
    );
    assert!(done, "no complete value: {}", ctx());
    ranges
}

/// Tokenizes `input` once, at `base`, after a prefix of junk words; checks the prefix is kept, and
/// that an error leaves the vector exactly as it was.
fn tokenize_at(input: &[u8], base: u32, prefix: &[i32]) -> Result<Vec<i32>, DecodeError> {
    let mut out = prefix.to_vec();
    let result = tokenize(input, base, &mut out);
    assert_eq!(
        &out[..prefix.len()],
        prefix,
        "tokenize modified words before its output: input {}",
        hex(input)
    );
    match result {
        Ok(root) => {
            let tokens = out.split_off(prefix.len());
            // What the tokenizer noted on the way is what walking its output finds.
            assert_eq!(
                root,
                root_of(&tokens, input, base),
                "the root's y/t positions: input {} base {base}",
                hex(input)
            );
            Ok(tokens)
        }
        Err(e) => {
            assert_eq!(
                out,
                prefix,
                "tokenize changed the output vector on error {e}: input {} base {base}",
                hex(input)
            );
            Err(e)
        }
    }
}

/// Fuzz target body for `tokenize`: the whole input is one datagram.
///
/// Checks, at base 0, at a base derived from the input (so every corpus file gets a different
/// one, some near the `u32` wrap), and at a base just under 2^31:
/// * on `Ok`: [`validate_tokens`] (ranges inside the datagram, balanced, dict keys and values
///   alternate, depth, known opcodes, at most `3 * len + 3` words);
/// * on `Err`: the output vector is unchanged; the error message is non-empty ASCII;
/// * the result does not depend on the base other than by the offset shift (same error, same
///   words otherwise), and neither does `classify`.
pub fn check_tokenize(input: &[u8]) {
    let h = fnv(input);
    let derived = (h >> 32) as u32;
    let prefix: Vec<i32> = (0..(h & 7) as usize)
        .map(|k| (h as i32).wrapping_add(k as i32))
        .collect();
    let bases = [
        0u32,
        derived,
        (i32::MAX as u32).wrapping_sub(input.len() as u32),
    ];

    let reference = tokenize_at(input, 0, &[]);
    match &reference {
        Ok(tokens) => {
            validate_tokens(tokens, input, 0);
            let _ = classify(tokens, root_of(tokens, input, 0), input, 0);
        }
        Err(e) => {
            let text = e.to_string();
            assert!(
                !text.is_empty() && text.is_ascii(),
                "bad error text {text:?}"
            );
        }
    }
    let class0 = reference
        .as_ref()
        .ok()
        .map(|t| classify(t, root_of(t, input, 0), input, 0));

    for &base in &bases {
        let got = tokenize_at(input, base, &prefix);
        match (&reference, &got) {
            (Err(a), Err(b)) => {
                assert_eq!(a, b, "error depends on base {base}: input {}", hex(input))
            }
            (Ok(a), Ok(b)) => {
                validate_tokens(b, input, base);
                assert_eq!(
                    a.len(),
                    b.len(),
                    "word count depends on base {base}: input {}",
                    hex(input)
                );
                assert_eq!(
                    shift_offsets(a, base),
                    *b,
                    "tokens differ by more than the base {base}: input {}",
                    hex(input)
                );
                assert_eq!(
                    Some(classify(b, root_of(b, input, base), input, base)),
                    class0,
                    "classify depends on base {base}: input {}",
                    hex(input)
                );
            }
            _ => panic!("Ok/Err depends on base {base}: input {}", hex(input)),
        }
    }
}

/// `tokens` (tokenized at base 0) with every byte offset moved by `base`.
fn shift_offsets(tokens: &[i32], base: u32) -> Vec<i32> {
    let mut out = tokens.to_vec();
    let mut i = 0;
    while i < out.len() {
        match opcode(out[i]) {
            T_BYTES | T_RAWKEY => {
                out[i + 1] = (out[i + 1] as u32).wrapping_add(base) as i32;
                i += 3;
            }
            T_INT => i += 2,
            T_FLOAT => i += 3,
            _ => i += 1,
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// engine
// ---------------------------------------------------------------------------------------------

/// The sources datagrams come from; index `% SOURCES.len()`. Port 0 is dropped by the engine.
const SOURCES: [(&[u8], bool, u16); 6] = [
    (b"127.0.0.1", false, 6881),
    (b"10.0.0.2", false, 1),
    (b"::1", true, 65535),
    (b"::ffff:10.0.0.2", true, 6881),
    (b"peer-a", false, 4000), // a non-IP "host" of a user-supplied socket
    (b"127.0.0.1", false, 0),
];

/// Hosts queries are registered for; the first five match source addresses.
const HOSTS: [&[u8]; 6] = [
    b"127.0.0.1",
    b"10.0.0.2",
    b"::1",
    b"::ffff:10.0.0.2",
    b"peer-a",
    b"example.com",
];

/// Most registrations one program may perform (enough to fill all 65535 tids once).
const REGISTER_BUDGET: usize = 70_000;

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let start = self.pos.min(self.data.len());
        let end = start.saturating_add(n).min(self.data.len());
        self.pos = end;
        &self.data[start..end]
    }
}

#[derive(Debug)]
struct Pending {
    tid: u16,
    gen: u32,
    host: &'static [u8],
    deadline: u64,
}

/// What the model expects of one queued record.
#[derive(Debug)]
struct Expected {
    kind: i32,
    slot: i32,
    gen: i32,
    tid: i32,
    source: usize,
    datagram: Vec<u8>,
    /// `tokenize(datagram, 0)` (value words of kinds 1..=5 and 7), or the error.
    tokens: Result<Vec<i32>, DecodeError>,
}

impl Expected {
    fn value_words(&self) -> usize {
        match self.kind {
            K_SHORT_TID => 0,
            K_DECODE_ERROR => 3,
            _ => self.tokens.as_ref().map_or(0, Vec::len),
        }
    }
}

/// Shadow model of the transaction table and the inbox.
#[derive(Default)]
struct Model {
    pending: BTreeMap<u32, Pending>,
    /// `slot + 1` per tid in flight (0: free); allocated on the first registration.
    tid_slot: Vec<u32>,
    /// (deadline, slot) of the queries in flight that expire has not reported yet.
    unreported: BTreeSet<(u64, u32)>,
    /// Slots freed below the high-water mark.
    free: BTreeSet<u32>,
    slot_count: u32,
    queued: VecDeque<Expected>,
    queued_words: usize,
    /// Upper bound of the bytes the inbox holds (address texts may be shared, so fewer).
    queued_bytes_max: usize,
    next_gen: u32,
    registrations: usize,
    malformed: u64,
    timeouts: u64,
}

impl Model {
    fn expected_slot(&self) -> u32 {
        self.free.iter().next().copied().unwrap_or(self.slot_count)
    }

    fn expected_tid(&self, last_tid: u16) -> Option<u16> {
        if self.pending.len() >= 65535 {
            return None;
        }
        let mut tid = last_tid;
        loop {
            tid = if tid == u16::MAX { 1 } else { tid + 1 };
            if self.slot_of(tid).is_none() {
                return Some(tid);
            }
        }
    }

    fn slot_of(&self, tid: u16) -> Option<u32> {
        match self.tid_slot.get(usize::from(tid)).copied().unwrap_or(0) {
            0 => None,
            s => Some(s - 1),
        }
    }

    fn release(&mut self, slot: u32) {
        if let Some(p) = self.pending.remove(&slot) {
            self.tid_slot[usize::from(p.tid)] = 0;
            self.unreported.remove(&(p.deadline, slot));
            self.free.insert(slot);
        }
    }
}

struct Harness {
    engine: Engine,
    model: Model,
    now: u64,
    lifetime: u64,
}

impl Harness {
    fn check_counts(&mut self, what: &str) {
        let stats = self.engine.stats();
        assert_eq!(
            stats.queries_in_flight,
            self.model.pending.len() as u64,
            "in-flight count differs from registered-minus-released after {what}"
        );
        assert_eq!(
            stats.malformed, self.model.malformed,
            "malformed counter after {what}"
        );
        assert_eq!(
            stats.timeouts, self.model.timeouts,
            "timeouts counter after {what}"
        );
        assert_eq!(
            self.engine.inbox().words(),
            self.model.queued_words,
            "pending tape words after {what}"
        );
        assert_eq!(
            self.engine.inbox_is_empty(),
            self.model.queued.is_empty(),
            "inbox_is_empty after {what}"
        );
    }

    /// Registers and checks the outcome; the new tid, or `None` (no free tid, or over budget).
    fn register(&mut self, last_tid: u16, host: usize) -> Option<u16> {
        if self.model.registrations >= REGISTER_BUDGET {
            return None;
        }
        self.model.registrations += 1;
        let host = HOSTS[host % HOSTS.len()];
        self.model.next_gen = self.model.next_gen.wrapping_add(1);
        let gen = self.model.next_gen;
        let got = self.engine.register(self.now, last_tid, host, gen);
        match self.model.expected_tid(last_tid) {
            None => {
                assert_eq!(
                    got,
                    Err(RegisterError::NoFreeTid),
                    "register with every tid in flight"
                );
                None
            }
            Some(tid) => {
                let slot = self.model.expected_slot();
                assert_eq!(
                    got,
                    Ok((slot, tid)),
                    "register(last_tid {last_tid}) should take the lowest free slot and the next free tid"
                );
                self.model.free.remove(&slot);
                self.model.slot_count = self.model.slot_count.max(slot + 1);
                if self.model.tid_slot.is_empty() {
                    self.model.tid_slot = vec![0; 65536];
                }
                self.model.tid_slot[usize::from(tid)] = slot + 1;
                let deadline = self.now.saturating_add(self.lifetime);
                self.model.unreported.insert((deadline, slot));
                self.model.pending.insert(
                    slot,
                    Pending {
                        tid,
                        gen,
                        host,
                        deadline,
                    },
                );
                assert_eq!(self.engine.lookup(tid), Some(slot), "lookup of a fresh tid");
                Some(tid)
            }
        }
    }

    fn release(&mut self, slot: u32) {
        let tid = self.model.pending.get(&slot).map(|p| p.tid);
        self.engine.release(slot);
        self.model.release(slot);
        if let Some(tid) = tid {
            assert_eq!(
                self.engine.lookup(tid),
                None,
                "tid {tid} still found after release"
            );
        }
    }

    fn expire(&mut self, advance: u64) {
        self.now = self.now.saturating_add(advance);
        let now = self.now;
        let got = self.engine.expire(now).to_vec();
        // Every query in flight whose deadline is reached and that was not reported before.
        let later = self.model.unreported.split_off(&(now.saturating_add(1), 0));
        let due = std::mem::replace(&mut self.model.unreported, later);
        let mut want: Vec<(u32, u32)> = due
            .into_iter()
            .map(|(_, slot)| (slot, self.model.pending[&slot].gen))
            .collect();
        want.sort_unstable();
        assert_eq!(
            got, want,
            "expire({now}): (slot, gen) of newly timed-out queries, in slot order"
        );
        self.model.timeouts += want.len() as u64;
    }

    fn ingest(&mut self, datagram: &[u8], source: usize) {
        let source = source % SOURCES.len();
        let (address, ipv6, port) = SOURCES[source];
        let words_before = self.engine.inbox().words();
        let result = self.engine.ingest(
            datagram,
            Source {
                address,
                ipv6,
                port,
            },
        );

        let tokens = {
            let mut v = Vec::new();
            tokenize(datagram, 0, &mut v).map(|_| v)
        };
        let mut expected = Expected {
            kind: 0,
            slot: -1,
            gen: 0,
            tid: -1,
            source,
            datagram: datagram.to_vec(),
            tokens,
        };
        let room = self.model.queued_bytes_max + datagram.len() + 64 <= MAX_INBOX_BYTES
            && words_before + HEADER_WORDS + 3 * datagram.len() + 3 <= MAX_INBOX_WORDS;
        let ctx = || format!("ingest {} from source {source}", hex(datagram));

        let drop = if port == 0 {
            true
        } else {
            match &expected.tokens {
                Err(_) => {
                    expected.kind = K_DECODE_ERROR;
                    false
                }
                // The model finds the root's `y` and `t` by walking the tokens, so a wrong note
                // of the tokenizer shows as a difference from the engine.
                Ok(t) => match classify(t, root_of(t, datagram, 0), datagram, 0) {
                    Class::Query => {
                        expected.kind = K_QUERY;
                        false
                    }
                    Class::Other => {
                        expected.kind = K_UNKNOWN_TYPE;
                        // The slot and gen words carry the root dict's `y` value range; the word
                        // before it must be the `y` key.
                        if let Some((start, end)) = y_value_range(t, root_of(t, datagram, 0)) {
                            assert!(start >= 2 && start < end && end <= t.len(), "{}", ctx());
                            assert_eq!(t[start - 1], T_KEY | (KEY_Y << 4) as i32, "{}", ctx());
                            (expected.slot, expected.gen) = (start as i32, end as i32);
                        } else {
                            (expected.slot, expected.gen) = (-1, -1);
                        }
                        false
                    }
                    Class::ShortTid => {
                        expected.kind = K_SHORT_TID;
                        false
                    }
                    Class::BadTid => true,
                    Class::Reply { tid, error } => {
                        expected.tid = i32::from(tid);
                        let found = if tid == 0 {
                            None
                        } else {
                            self.model.slot_of(tid)
                        };
                        match found {
                            None => expected.kind = K_UNEXPECTED_TID,
                            Some(slot) => {
                                let p = &self.model.pending[&slot];
                                expected.slot = slot as i32;
                                expected.gen = p.gen as i32;
                                expected.kind = if p.host != address {
                                    K_WRONG_SOURCE
                                } else if error {
                                    K_ERROR_REPLY
                                } else {
                                    K_RESPONSE
                                };
                            }
                        }
                        false
                    }
                },
            }
        };

        if drop {
            assert_eq!(
                result,
                Ingested::Dropped,
                "{}: expected a silent drop",
                ctx()
            );
            assert_eq!(
                self.engine.inbox().words(),
                words_before,
                "{}: a dropped datagram left words",
                ctx()
            );
            return;
        }
        if result == Ingested::Dropped {
            assert!(!room, "{}: dropped although the inbox had room", ctx());
            assert_eq!(
                self.engine.inbox().words(),
                words_before,
                "{}: a dropped datagram left words",
                ctx()
            );
            return;
        }
        assert_eq!(result, Ingested::Queued, "{}", ctx());
        if expected.kind == K_DECODE_ERROR {
            self.model.malformed += 1;
        }
        let words = HEADER_WORDS + expected.value_words();
        self.model.queued_words += words;
        assert_eq!(
            self.engine.inbox().words(),
            words_before + words,
            "{}: record size",
            ctx()
        );
        self.model.queued_bytes_max += address.len() + datagram.len() + 128;
        self.model.queued.push_back(expected);
    }

    fn drain(&mut self, mode: u8, extra: u8) {
        let needed = self.model.queued_words + 1;
        let size = match mode % 5 {
            0 => needed,
            1 => needed - 1,
            2 => 0,
            3 => usize::from(extra),
            _ => needed + usize::from(extra),
        };
        const SENTINEL: i32 = 0x5a5a_5a5a;
        let mut tape = vec![SENTINEL; size];
        let result = self.engine.inbox().drain(&mut tape, |b| b.to_vec());
        let bytes = match result {
            Err(n) => {
                assert!(
                    size < needed,
                    "drain refused a tape of {size} words (needs {needed})"
                );
                assert_eq!(n, needed, "drain's Err(needed)");
                assert!(
                    tape.iter().all(|&w| w == SENTINEL),
                    "a refused drain wrote to the tape"
                );
                assert_eq!(
                    self.engine.inbox().words(),
                    self.model.queued_words,
                    "a refused drain changed the inbox"
                );
                return;
            }
            Ok(bytes) => bytes,
        };
        assert!(
            size >= needed,
            "drain accepted a tape of {size} words (needs {needed})"
        );
        assert!(
            tape[needed..].iter().all(|&w| w == SENTINEL),
            "drain wrote past the words it reported"
        );
        let used = tape[0];
        assert_eq!(used as usize, needed - 1, "tape[0] (word count)");
        let words = &tape[1..needed];
        let mut p = 0usize;
        let mut k = 0usize;
        let queued = std::mem::take(&mut self.model.queued);
        self.model.queued_words = 0;
        self.model.queued_bytes_max = 0;
        while p < words.len() {
            assert!(
                p + HEADER_WORDS <= words.len(),
                "record {k}: header past the word count"
            );
            let h = &words[p..p + HEADER_WORDS];
            let e = queued
                .get(k)
                .unwrap_or_else(|| panic!("record {k}: more records than ingested"));
            check_record(k, h, &words[p + HEADER_WORDS..], &bytes, e);
            p += HEADER_WORDS + h[8] as usize;
            k += 1;
        }
        assert_eq!(p, words.len(), "records overran the word count");
        assert_eq!(
            k,
            queued.len(),
            "drained {k} records, queued {}",
            queued.len()
        );
        assert!(
            self.engine.inbox_is_empty(),
            "inbox not empty after a drain"
        );
    }
}

/// Checks one drained record: header fields, value words and the bytes they point at.
fn check_record(k: usize, h: &[i32], rest: &[i32], bytes: &[u8], e: &Expected) {
    let ctx = || {
        format!(
            "record {k} header {h:?} for {} from source {}",
            hex(&e.datagram),
            e.source
        )
    };
    let (address, ipv6, port) = SOURCES[e.source];
    assert!((1..=8).contains(&h[0]), "kind out of range: {}", ctx());
    assert_eq!(
        &h[..4],
        &[e.kind, e.slot, e.gen, e.tid],
        "kind/slot/gen/tid: {}",
        ctx()
    );
    let (astart, alen) = (h[4], h[5] & 0xffff);
    assert_eq!(
        h[5] & !0x1_ffff,
        0,
        "stray bits in the address length word: {}",
        ctx()
    );
    assert_eq!(h[5] & 0x1_0000 != 0, ipv6, "IPv6 flag: {}", ctx());
    assert!(astart >= 0, "negative address start: {}", ctx());
    let arange = astart as usize..astart as usize + alen as usize;
    assert!(
        arange.end <= bytes.len(),
        "address range outside the bytes: {}",
        ctx()
    );
    assert_eq!(&bytes[arange], address, "address text: {}", ctx());
    assert_eq!(h[6], i32::from(port), "port: {}", ctx());
    assert_eq!(h[7] as usize, e.datagram.len(), "size: {}", ctx());
    let n = h[8];
    assert!(
        n >= 0 && n as usize <= rest.len(),
        "value word count {n} overruns the tape: {}",
        ctx()
    );
    assert_eq!(n as usize, e.value_words(), "value word count: {}", ctx());
    let value = &rest[..n as usize];
    match e.kind {
        K_SHORT_TID => {}
        K_DECODE_ERROR => {
            let Err(err) = &e.tokens else { unreachable!() };
            assert_eq!(
                value[0],
                T_BYTES,
                "decode error value is not T_BYTES: {}",
                ctx()
            );
            let (s, l) = (value[1], value[2]);
            assert!(
                s >= 0 && l >= 0 && (s as usize + l as usize) <= bytes.len(),
                "error text outside the bytes: {}",
                ctx()
            );
            let text = &bytes[s as usize..(s + l) as usize];
            assert_eq!(text, err.to_string().as_bytes(), "error text: {}", ctx());
        }
        _ => {
            let Ok(want) = &e.tokens else { unreachable!() };
            // Same words as tokenize(datagram, 0) up to one constant shift of every offset, and
            // the shifted ranges hold the datagram's bytes.
            let mut shift: Option<u32> = None;
            let mut i = 0;
            while i < want.len() {
                match opcode(want[i]) {
                    T_BYTES | T_RAWKEY => {
                        assert_eq!(value[i], want[i], "value word {i}: {}", ctx());
                        assert_eq!(
                            value[i + 2],
                            want[i + 2],
                            "value length word {i}: {}",
                            ctx()
                        );
                        let s = (value[i + 1] as u32).wrapping_sub(want[i + 1] as u32);
                        assert_eq!(
                            *shift.get_or_insert(s),
                            s,
                            "offsets not shifted uniformly: {}",
                            ctx()
                        );
                        let (abs, off, len) = (
                            value[i + 1] as usize,
                            want[i + 1] as usize,
                            want[i + 2] as usize,
                        );
                        assert!(
                            value[i + 1] >= 0 && abs + len <= bytes.len(),
                            "value range outside the bytes: {}",
                            ctx()
                        );
                        assert_eq!(
                            &bytes[abs..abs + len],
                            &e.datagram[off..off + len],
                            "bytes behind word {i}: {}",
                            ctx()
                        );
                        i += 3;
                    }
                    op => {
                        let w = match op {
                            T_INT => 2,
                            T_FLOAT => 3,
                            _ => 1,
                        };
                        assert_eq!(
                            &value[i..i + w],
                            &want[i..i + w],
                            "value words at {i}: {}",
                            ctx()
                        );
                        i += w;
                    }
                }
            }
        }
    }
}

/// Builds a reply/query datagram around `t` (for the "reply to an in-flight query" operation).
fn template(y: u8, t: &[u8], extra: u8) -> Vec<u8> {
    let mut m = Vec::with_capacity(64);
    m.extend_from_slice(b"d1:rd2:id20:abcdefghij0123456789e");
    if extra & 1 == 0 {
        m.extend_from_slice(format!("1:t{}:", t.len()).as_bytes());
        m.extend_from_slice(t);
    } else {
        m.extend_from_slice(b"1:ti7e"); // t not a byte string
    }
    match y % 6 {
        0 => m.extend_from_slice(b"1:y1:r"),
        1 => m.extend_from_slice(b"1:y1:e1:eli201e7:Generice"),
        2 => m.extend_from_slice(b"1:y1:q1:q4:ping1:ad2:id20:abcdefghij0123456789e"),
        3 => m.extend_from_slice(b"1:yl1:re"),
        4 => m.extend_from_slice(b"1:y1:x"),
        _ => {}
    }
    m.push(b'e');
    if extra & 2 != 0 {
        m.extend_from_slice(b"trailing");
    }
    m
}

/// Fuzz target body for the engine. The input is a program:
///
/// `tick:u16`, then operations until the input ends, each an opcode byte (`% 8`) and operands
/// (reads past the end give zeros):
///
/// | op | operands | does |
/// |---|---|---|
/// | 0 | `src:u8 len:u8 bytes[len]` (len 255: the rest of the input) | ingest raw bytes |
/// | 1 | `pick:u8 y:u8 src:u8 tlen:u8` | ingest a reply built around the tid of the `pick`-th query in flight (or tid `pick`), `t` of 0..=3 bytes |
/// | 2 | `last_tid:u16 host:u8` | register |
/// | 3 | `pick:u8` | release the `pick`-th query in flight |
/// | 4 | `slot:u16` | release any slot (often not in flight) |
/// | 5 | `advance:u16` | advance the clock, expire |
/// | 6 | `mode:u8 extra:u8` | drain into a tape of: exactly the size needed, one word less, 0, `extra`, needed + `extra` |
/// | 7 | `count:u8 host:u8` | register `count` queries, each with last_tid = the tid handed out before; `0 0xf1`: until every tid is in flight (once per program) |
///
/// After every operation: in-flight count == registered - released (model), counters, pending tape
/// words. Drains check every record against the model (kind, slot, gen, tid, address, port,
/// size, value words and the bytes they point at). Register checks lowest-free-slot and next-free-tid,
/// expire checks exactly the newly timed-out (slot, gen) in slot order. A final drain checks what is left.
pub fn check_engine(data: &[u8]) {
    let mut r = Reader { data, pos: 0 };
    let tick = u64::from(r.u16());
    let mut h = Harness {
        engine: Engine::new(tick),
        model: Model::default(),
        now: 0,
        lifetime: tick * 4,
    };
    let mut last_tid = 0u16;
    let mut filled = false;
    let mut step = 0usize;
    while !r.done() {
        let op = r.u8() % 8;
        match op {
            0 => {
                let src = usize::from(r.u8());
                let len = r.u8();
                let len = if len == 255 {
                    usize::MAX
                } else {
                    usize::from(len)
                };
                let datagram = r.bytes(len).to_vec();
                h.ingest(&datagram, src);
            }
            1 => {
                let pick = r.u8();
                let (y, src, tlen) = (r.u8(), usize::from(r.u8()), r.u8());
                let tid = if h.model.pending.is_empty() {
                    u16::from(pick)
                } else {
                    let n = usize::from(pick) % h.model.pending.len();
                    h.model.pending.values().nth(n).map_or(0, |p| p.tid)
                };
                let [hi, lo] = tid.to_be_bytes();
                let t: &[u8] = match tlen % 5 {
                    0 => &[hi, lo],
                    1 => &[],
                    2 => &[hi],
                    3 => &[hi, lo, 0x7f],
                    _ => &[hi, lo],
                };
                let datagram = template(y, t, tlen >> 4);
                h.ingest(&datagram, src);
            }
            2 => {
                let last = r.u16();
                let host = usize::from(r.u8());
                let _ = h.register(last, host);
            }
            3 => {
                let pick = usize::from(r.u8());
                if !h.model.pending.is_empty() {
                    let n = pick % h.model.pending.len();
                    let slot = *h.model.pending.keys().nth(n).unwrap_or(&0);
                    h.release(slot);
                }
            }
            4 => {
                let slot = u32::from(r.u16());
                h.release(slot);
            }
            5 => {
                let advance = u64::from(r.u16());
                h.expire(advance);
            }
            6 => {
                let (mode, extra) = (r.u8(), r.u8());
                h.drain(mode, extra);
            }
            _ => {
                let in_bounds = r.pos + 2 <= r.data.len();
                let count = r.u8();
                let host = usize::from(r.u8());
                // `0 0xf1` (read from the input, not past its end) fills the table: every tid in
                // flight. At most once per program: it is slow.
                let count = if count > 0 {
                    usize::from(count)
                } else if in_bounds && host == 0xf1 && !filled {
                    filled = true;
                    65_536
                } else {
                    0
                };
                for _ in 0..count {
                    // JS passes the tid it handed out last (`_tick`).
                    match h.register(last_tid, host) {
                        Some(tid) => last_tid = tid,
                        None => break,
                    }
                }
            }
        }
        step += 1;
        h.check_counts(&format!("step {step} (op {op})"));
    }
    h.drain(0, 0);
    h.check_counts("final drain");
}
