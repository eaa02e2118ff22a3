//! Binding tests without a JS engine: the per-datagram operations of [`EngineInner`], the plain
//! Rust parts of the napi class [`Engine`] and its configuration, on real loopback sockets.
//!
//! Left to the JS tests (`__test__/binding.test.js` and the rest), because they only run with a
//! live N-API environment (`napi_env`), which a Rust test process does not have:
//! - raw.rs: the engine handle (an N-API external), the live-handle check, reading arguments
//!   (`Call::u32/bool/text/bytes/int32s`), the TypeError for a bad argument, panics turned into
//!   JS errors;
//! - hot.rs: the exported functions themselves, including `with_datagram`'s offset/length range
//!   check and `drain`'s check that the tape and the bytes are not two views of one memory;
//! - mod.rs: `Engine::bind` (it builds a ThreadsafeFunction or a libuv watcher from a JS function
//!   and registers an environment cleanup hook), `close`, `ref`/`unref`, `hot_handle`;
//! - main_loop.rs: the libuv watcher, which needs Node's own loop.
//!
//! Here a socket is attached the way `Engine::bind` attaches it, minus the JS wake function.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::inner::{
    EngineInner, EBADF, EINVAL, QUERY_ENQUEUED, QUERY_NO_TID, SEND_LATER, SEND_NOT_AN_IP,
};
use super::{Engine, EngineConfig, Io, RateLimitConfig, SendRateConfig, TICKS_TO_TIMEOUT};
use crate::core::engine::IPV6_FLAG;
use crate::core::pacer::Pacer;
use crate::core::rate_limit::RateLimit;
use crate::core::tape::{
    opcode, HEADER_WORDS, H_ADDRESS_LEN, H_ADDRESS_START, H_GEN, H_KIND, H_PORT, H_SIZE, H_SLOT,
    H_TID, H_VALUE_WORDS, K_QUERY, K_RESPONSE, K_SHORT_TID, K_UNEXPECTED_TID, K_WRONG_SOURCE,
    T_BYTES, T_DICT, T_END,
};
use crate::driver::{BoundSocket, Receive, Wake};

/// How long a test waits for a datagram or a wake-up before it fails: far above loopback
/// latency, so only a real loss fails it.
const PATIENCE: Duration = Duration::from_secs(5);

const LOOPBACK: &[u8] = b"127.0.0.1";

const PING: &[u8] = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe";

fn reply(tid: u16) -> Vec<u8> {
    let mut datagram = b"d1:rd2:id20:abcdefghij0123456789e1:t2:".to_vec();
    datagram.extend(tid.to_be_bytes());
    datagram.extend(b"1:y1:re");
    datagram
}

/// `register`'s result as `(slot, tid)`, checking that the number is an exact integer.
fn split(registered: f64) -> (u32, u16) {
    assert!(
        registered >= 0.0 && registered.fract() == 0.0,
        "{registered}"
    );
    let value = registered as u64;
    ((value >> 16) as u32, (value & 0xffff) as u16)
}

/// Whatever a datagram arrived with at a peer, within `PATIENCE`.
fn receive(peer: &UdpSocket) -> (Vec<u8>, SocketAddr) {
    let mut buffer = [0; 2048];
    let (len, from) = peer.recv_from(&mut buffer).expect("a datagram in time");
    (buffer[..len].to_vec(), from)
}

fn peer() -> UdpSocket {
    let peer = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback peer");
    peer.set_read_timeout(Some(PATIENCE))
        .expect("a read timeout");
    peer
}

/// True when nothing more arrives within a short while (a datagram sent would be there by then).
fn nothing_more(peer: &UdpSocket) -> bool {
    peer.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("a read timeout");
    let mut buffer = [0; 2048];
    let quiet = matches!(
        peer.recv_from(&mut buffer),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
    );
    peer.set_read_timeout(Some(PATIENCE))
        .expect("a read timeout");
    quiet
}

/// Binds the engine's socket as `Engine::bind` does (same options taken from the engine's state),
/// without the JS function it would wake: `wake` stands for it.
fn attach(engine: &Engine, address: &str, receive: Receive, wake: Wake) -> SocketAddr {
    let hot = &engine.hot;
    let socket = BoundSocket::bind(
        address.parse().expect("a literal socket address"),
        Arc::clone(&hot.shared),
        wake,
        receive,
        hot.ipv6_only.get().filter(|_| hot.ipv6),
        hot.send_rate
            .get()
            .map(|(per_second, burst)| Pacer::new(per_second, burst)),
    )
    .expect("bind on loopback");
    let local = socket.local_addr();
    *hot.io.borrow_mut() = Some(Io {
        socket: Arc::new(socket),
        watcher: None,
        wake: None,
    });
    local
}

fn bound_v4() -> (Engine, SocketAddr) {
    let engine = Engine::new(false, None);
    let local = attach(&engine, "127.0.0.1:0", Receive::OnCaller, Arc::new(|| {}));
    (engine, local)
}

fn pending_sends(hot: &EngineInner) -> usize {
    hot.io.borrow().as_ref().map_or(0, |io| io.socket.pending())
}

/// One drained record: its header and value words, both copied out of the tape.
struct Record {
    header: Vec<i32>,
    value: Vec<i32>,
}

/// Drains everything as JS does: `pendingBytes()` sizes the bytes, the tape is ample.
fn drain_all(hot: &EngineInner) -> (Vec<Record>, Vec<u8>) {
    let size = hot.pending_bytes();
    assert!(size >= 0.0, "something to drain");
    let mut bytes = vec![0; size as usize];
    let mut tape = vec![0; 1 << 16];
    let copied = hot.drain(&mut tape, &mut bytes);
    assert!(copied >= 1, "drain returned {copied}");
    (records(&tape), bytes)
}

fn records(tape: &[i32]) -> Vec<Record> {
    let used = tape[0] as usize;
    let words = &tape[1..=used];
    let mut out = Vec::new();
    let mut at = 0;
    while at < used {
        let header = words[at..at + HEADER_WORDS].to_vec();
        let end = at + HEADER_WORDS + header[H_VALUE_WORDS] as usize;
        out.push(Record {
            value: words[at + HEADER_WORDS..end].to_vec(),
            header,
        });
        at = end;
    }
    out
}

fn address_of<'b>(record: &Record, bytes: &'b [u8]) -> &'b [u8] {
    let start = record.header[H_ADDRESS_START] as usize;
    let len = (record.header[H_ADDRESS_LEN] & 0xffff) as usize;
    &bytes[start..start + len]
}

fn config() -> EngineConfig {
    EngineConfig {
        match_port: None,
        rate_limit: None,
        read_only: None,
        ipv6_only: None,
        send_rate: None,
    }
}

fn rate_limit(
    per_second: Option<f64>,
    window_ms: Option<f64>,
    block_ms: Option<f64>,
) -> RateLimitConfig {
    RateLimitConfig {
        per_second,
        window_ms,
        block_ms,
    }
}

// register / lookup / release

#[test]
fn register_encodes_slot_and_tid_in_one_number() {
    let engine = Engine::new(false, None);
    assert_eq!(engine.hot.register(0, LOOPBACK, 1, 6881), 1.0);
    assert_eq!(engine.hot.register(1, LOOPBACK, 2, 6881), 65536.0 + 2.0);
}

#[test]
fn register_takes_the_tid_after_last_tid() {
    let engine = Engine::new(false, None);
    assert_eq!(split(engine.hot.register(100, LOOPBACK, 1, 6881)), (0, 101));
}

#[test]
fn register_skips_tids_in_flight() {
    let engine = Engine::new(false, None);
    engine.hot.register(0, LOOPBACK, 1, 6881);
    engine.hot.register(1, LOOPBACK, 2, 6881);
    // JS's last tid can lag behind the table (it is the caller's counter): 1 and 2 are taken.
    assert_eq!(split(engine.hot.register(0, LOOPBACK, 3, 6881)), (2, 3));
}

#[test]
fn register_wraps_from_65535_to_1() {
    let engine = Engine::new(false, None);
    assert_eq!(split(engine.hot.register(65535, LOOPBACK, 1, 6881)), (0, 1));
}

#[test]
fn register_returns_minus_one_when_every_tid_is_in_flight() {
    let engine = Engine::new(false, None);
    let mut last = 0;
    for n in 0..65535u32 {
        let (slot, tid) = split(engine.hot.register(last, LOOPBACK, n, 6881));
        assert_eq!(slot, n);
        last = u32::from(tid);
    }
    assert_eq!(last, 65535);
    assert_eq!(engine.hot.register(last, LOOPBACK, 0, 6881), -1.0);
    assert_eq!(engine.hot.register(0, LOOPBACK, 0, 6881), -1.0);
}

#[test]
fn the_highest_slot_and_tid_are_exact_in_the_result() {
    let engine = Engine::new(false, None);
    let mut registered = 0.0;
    for n in 0..65535u32 {
        registered = engine.hot.register(n, LOOPBACK, n, 6881);
    }
    assert_eq!(registered, 65534.0 * 65536.0 + 65535.0);
    assert!(registered > f64::from(i32::MAX));
}

#[test]
fn lookup_finds_the_slot_of_a_tid_in_flight() {
    let engine = Engine::new(false, None);
    engine.hot.register(0, LOOPBACK, 1, 6881);
    let (slot, tid) = split(engine.hot.register(40, LOOPBACK, 2, 6881));
    assert_eq!(engine.hot.lookup(u32::from(tid)), slot as i32);
    assert_eq!(engine.hot.lookup(7), -1, "not in flight");
    assert_eq!(engine.hot.lookup(0), -1, "tid 0 is never handed out");
}

#[test]
fn lookup_of_a_tid_beyond_16_bits_is_minus_one() {
    let engine = Engine::new(false, None);
    // 70000 truncated to 16 bits is 4464: a truncating conversion would find this query.
    let (_, tid) = split(engine.hot.register(4463, LOOPBACK, 1, 6881));
    assert_eq!(tid, 4464);
    assert_eq!(engine.hot.lookup(70000), -1);
}

#[test]
fn release_frees_the_slot_and_its_tid() {
    let engine = Engine::new(false, None);
    let (slot, tid) = split(engine.hot.register(0, LOOPBACK, 1, 6881));
    engine.hot.register(1, LOOPBACK, 2, 6881);
    engine.hot.shared.engine().release(slot);
    assert_eq!(engine.hot.lookup(u32::from(tid)), -1);
    assert_eq!(
        split(engine.hot.register(0, LOOPBACK, 3, 6881)),
        (slot, tid)
    );
}

// pendingBytes / drain

#[test]
fn drain_of_an_empty_inbox_returns_0_and_zeroes_the_word_count() {
    let engine = Engine::new(false, None);
    let mut tape = [99; 4];
    assert_eq!(engine.hot.drain(&mut tape, &mut []), 0);
    assert_eq!(tape[0], 0, "JS reads the word count even when nothing came");
    assert_eq!(
        engine.hot.drain(&mut [], &mut []),
        0,
        "an empty tape is no error"
    );
}

#[test]
fn pending_bytes_is_minus_one_when_the_inbox_is_empty() {
    let engine = Engine::new(false, None);
    assert_eq!(engine.hot.pending_bytes(), -1.0);
}

#[test]
fn pending_bytes_is_what_drain_copies() {
    let engine = Engine::new(false, None);
    engine.hot.ingest(PING, LOOPBACK, 6881, false);
    engine.hot.ingest(PING, b"127.0.0.2", 6881, false);
    let size = engine.hot.pending_bytes();
    assert!(size >= (2 * PING.len()) as f64, "{size}");
    let mut bytes = vec![0; size as usize];
    let mut tape = vec![0; 1 << 12];
    assert_eq!(engine.hot.drain(&mut tape, &mut bytes), size as i32);
    assert_eq!(engine.hot.pending_bytes(), -1.0, "the drain took it all");
}

#[test]
fn drain_with_a_short_tape_asks_for_the_words_needed_and_keeps_the_inbox() {
    let engine = Engine::new(false, None);
    engine.hot.ingest(PING, LOOPBACK, 6881, false);
    let size = engine.hot.pending_bytes();
    let mut bytes = vec![0; size as usize];
    let mut tape = vec![0; 1];
    assert_eq!(engine.hot.drain(&mut tape, &mut bytes), -1);
    let needed = -tape[0];
    assert!(needed as usize > 1 + HEADER_WORDS, "{needed}");
    assert_eq!(engine.hot.pending_bytes(), size, "nothing was taken");

    let mut tape = vec![0; needed as usize - 1];
    assert_eq!(
        engine.hot.drain(&mut tape, &mut bytes),
        -1,
        "one word short"
    );
    let mut tape = vec![0; needed as usize];
    assert_eq!(engine.hot.drain(&mut tape, &mut bytes), size as i32);
    assert_eq!(tape[0] + 1, needed, "the word count plus the words");
}

#[test]
fn drain_with_short_bytes_returns_minus_two_and_keeps_the_inbox() {
    let engine = Engine::new(false, None);
    engine.hot.ingest(PING, LOOPBACK, 6881, false);
    let size = engine.hot.pending_bytes();
    let mut bytes = vec![0; size as usize - 1];
    let mut tape = vec![0; 1 << 12];
    assert_eq!(engine.hot.drain(&mut tape, &mut bytes), -2);
    assert_eq!(engine.hot.pending_bytes(), size, "nothing was taken");
    let mut bytes = vec![0; size as usize];
    assert_eq!(engine.hot.drain(&mut tape, &mut bytes), size as i32);
}

#[test]
fn drain_writes_one_record_per_datagram_in_the_tape_format() {
    let engine = Engine::new(false, None);
    engine.hot.ingest(PING, LOOPBACK, 6881, false);
    let size = engine.hot.pending_bytes();
    let mut bytes = vec![0; size as usize];
    let mut tape = vec![0; 1 << 12];
    engine.hot.drain(&mut tape, &mut bytes);

    let records = records(&tape);
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(tape[0] as usize, HEADER_WORDS + record.value.len());
    let header = &record.header;
    assert_eq!(
        [header[H_KIND], header[H_SLOT], header[H_GEN], header[H_TID]],
        [K_QUERY, -1, 0, -1]
    );
    assert_eq!(address_of(record, &bytes), LOOPBACK);
    assert_eq!(header[H_ADDRESS_LEN] & IPV6_FLAG, 0);
    assert_eq!(header[H_PORT], 6881);
    assert_eq!(header[H_SIZE] as usize, PING.len());
    assert_eq!(record.value[0], T_DICT);
    assert_eq!(opcode(*record.value.last().expect("value words")), T_END);
    // Byte strings point into the batch bytes with absolute offsets.
    let strings: Vec<&[u8]> = record
        .value
        .windows(3)
        .filter(|w| opcode(w[0]) == T_BYTES)
        .map(|w| &bytes[w[1] as usize..(w[1] + w[2]) as usize])
        .collect();
    assert!(strings.contains(&b"ping".as_slice()), "{strings:?}");
    assert_eq!(engine.hot.drain(&mut tape, &mut bytes), 0, "drained once");
}

#[test]
fn a_batch_without_bytes_still_drains_as_a_record() {
    let engine = Engine::new(false, None);
    // A short tid keeps no bytes of the datagram, and an empty address adds none.
    engine.hot.ingest(b"d1:t1:x1:y1:re", b"", 6881, false);
    assert_eq!(
        engine.hot.pending_bytes(),
        0.0,
        "0 bytes, not -1: a record waits"
    );
    let mut tape = vec![0; 64];
    assert_eq!(
        engine.hot.drain(&mut tape, &mut []),
        1,
        "not 0, which means nothing"
    );
    assert_eq!(records(&tape)[0].header[H_KIND], K_SHORT_TID);
}

// ingest (the JS-socket path)

#[test]
fn ingest_matches_a_reply_to_its_registered_query() {
    let engine = Engine::new(false, None);
    engine.hot.register(0, LOOPBACK, 1, 6881);
    let (slot, tid) = split(engine.hot.register(1, LOOPBACK, 77, 6881));
    let datagram = reply(tid);
    engine.hot.ingest(&datagram, LOOPBACK, 6881, false);
    let (records, bytes) = drain_all(&engine.hot);
    let header = &records[0].header;
    assert_eq!(
        [header[H_KIND], header[H_SLOT], header[H_GEN], header[H_TID]],
        [K_RESPONSE, slot as i32, 77, i32::from(tid)]
    );
    assert_eq!(address_of(&records[0], &bytes), LOOPBACK);
    assert_eq!(
        (header[H_PORT], header[H_SIZE] as usize),
        (6881, datagram.len())
    );
}

#[test]
fn ingest_of_a_reply_from_another_address_is_wrong_source() {
    let engine = Engine::new(false, None);
    let (slot, tid) = split(engine.hot.register(0, LOOPBACK, 5, 6881));
    engine.hot.ingest(&reply(tid), b"127.0.0.2", 6881, false);
    let (records, _) = drain_all(&engine.hot);
    let header = &records[0].header;
    assert_eq!(
        [header[H_KIND], header[H_SLOT], header[H_GEN], header[H_TID]],
        [K_WRONG_SOURCE, slot as i32, 5, i32::from(tid)]
    );
    assert_eq!(engine.hot.shared.engine().stats().wrong_source, 1);
}

#[test]
fn ingest_of_a_reply_whose_tid_is_not_in_flight_is_unexpected() {
    let engine = Engine::new(false, None);
    engine.hot.register(0, LOOPBACK, 5, 6881);
    engine.hot.ingest(&reply(0x0999), LOOPBACK, 6881, false);
    let (records, _) = drain_all(&engine.hot);
    let header = &records[0].header;
    assert_eq!(
        [header[H_KIND], header[H_SLOT], header[H_TID]],
        [K_UNEXPECTED_TID, -1, 0x0999]
    );
}

#[test]
fn ingest_flags_an_ipv6_source() {
    let engine = Engine::new(true, None);
    engine.hot.ingest(PING, b"::1", 6881, true);
    let (records, bytes) = drain_all(&engine.hot);
    assert_ne!(records[0].header[H_ADDRESS_LEN] & IPV6_FLAG, 0);
    assert_eq!(address_of(&records[0], &bytes), b"::1");
}

#[test]
fn ingest_drops_a_port_beyond_16_bits_as_port_0() {
    let engine = Engine::new(false, None);
    // 65536 + 6881 truncated to 16 bits would be a valid port: it must not become one.
    engine.hot.ingest(PING, LOOPBACK, 65536 + 6881, false);
    assert_eq!(engine.hot.pending_bytes(), -1.0);
    assert_eq!(engine.hot.shared.engine().stats().dropped_port_zero, 1);
}

// sendNow / enqueue / flush

#[test]
fn sends_before_bind_are_ebadf() {
    let engine = Engine::new(false, None);
    assert_eq!(engine.hot.send_now(PING, 6881, LOOPBACK), -EBADF);
    assert_eq!(engine.hot.enqueue(PING, 6881, LOOPBACK), -EBADF);
}

#[test]
fn flush_before_bind_sends_nothing() {
    let engine = Engine::new(false, None);
    let mut results = [0; 4];
    assert_eq!(engine.hot.flush(&mut results), 0);
}

#[test]
fn a_host_name_is_handed_back_for_a_dns_lookup() {
    let (engine, _) = bound_v4();
    assert_eq!(
        engine.hot.send_now(PING, 6881, b"localhost"),
        SEND_NOT_AN_IP
    );
    assert_eq!(engine.hot.enqueue(PING, 6881, b"localhost"), SEND_NOT_AN_IP);
    assert_eq!(pending_sends(&engine.hot), 0);
}

#[test]
fn an_ipv4_engine_refuses_an_ipv6_destination_with_einval() {
    let (engine, _) = bound_v4();
    assert_eq!(engine.hot.send_now(PING, 6881, b"::1"), -EINVAL);
    assert_eq!(engine.hot.enqueue(PING, 6881, b"::1"), -EINVAL);
    assert_eq!(pending_sends(&engine.hot), 0);
}

#[test]
fn an_ipv6_engine_refuses_an_ipv4_destination_with_einval() {
    if UdpSocket::bind("[::1]:0").is_err() {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    }
    let engine = Engine::new(true, None);
    attach(&engine, "[::1]:0", Receive::OnCaller, Arc::new(|| {}));
    assert_eq!(engine.hot.send_now(PING, 6881, LOOPBACK), -EINVAL);
    assert_eq!(engine.hot.enqueue(PING, 6881, LOOPBACK), -EINVAL);
}

#[test]
fn send_now_delivers_the_datagram_and_returns_its_size() {
    let (engine, local) = bound_v4();
    let peer = peer();
    let port = u32::from(peer.local_addr().expect("bound").port());
    assert_eq!(engine.hot.send_now(PING, port, LOOPBACK), PING.len() as i32);
    assert_eq!(receive(&peer), (PING.to_vec(), local));
    let stats = engine.hot.shared.engine().stats();
    assert_eq!(
        (stats.datagrams_out, stats.bytes_out),
        (1, PING.len() as u64)
    );
}

#[test]
fn send_now_waits_behind_enqueued_datagrams() {
    let (engine, _) = bound_v4();
    let peer = peer();
    let port = u32::from(peer.local_addr().expect("bound").port());
    assert_eq!(engine.hot.enqueue(b"first", port, LOOPBACK), 0);
    assert_eq!(engine.hot.send_now(b"second", port, LOOPBACK), SEND_LATER);
    assert_eq!(pending_sends(&engine.hot), 1, "SEND_LATER queued nothing");
    assert!(nothing_more(&peer), "nothing left before the flush");

    let mut results = [0; 1];
    assert_eq!(engine.hot.flush(&mut results), 1);
    assert_eq!(receive(&peer).0, b"first");
    assert!(nothing_more(&peer), "the refused send was not made");
}

#[test]
fn flush_sends_each_enqueued_datagram_in_order_and_reports_its_size() {
    let (engine, local) = bound_v4();
    let peer = peer();
    let port = u32::from(peer.local_addr().expect("bound").port());
    let datagrams: [&[u8]; 3] = [b"one", b"two!", b"three"];
    for datagram in datagrams {
        assert_eq!(engine.hot.enqueue(datagram, port, LOOPBACK), 0);
    }
    let mut results = [i32::MIN; 4];
    assert_eq!(engine.hot.flush(&mut results), 3);
    assert_eq!(
        results,
        [3, 4, 5, i32::MIN],
        "the spare word is not written"
    );
    for datagram in datagrams {
        assert_eq!(receive(&peer), (datagram.to_vec(), local));
    }
    assert_eq!(pending_sends(&engine.hot), 0);
    let stats = engine.hot.shared.engine().stats();
    assert_eq!((stats.datagrams_out, stats.bytes_out), (3, 12));
}

#[test]
fn flush_with_too_few_results_returns_minus_needed_and_sends_nothing() {
    let (engine, _) = bound_v4();
    let peer = peer();
    let port = u32::from(peer.local_addr().expect("bound").port());
    for _ in 0..3 {
        engine.hot.enqueue(PING, port, LOOPBACK);
    }
    let mut results = [0; 2];
    assert_eq!(engine.hot.flush(&mut results), -3);
    assert_eq!(pending_sends(&engine.hot), 3);
    assert!(nothing_more(&peer));
}

#[test]
fn flush_reports_a_refused_datagram_and_still_sends_the_others() {
    let (engine, _) = bound_v4();
    let peer = peer();
    let port = u32::from(peer.local_addr().expect("bound").port());
    engine.hot.enqueue(b"before", port, LOOPBACK);
    // The kernel refuses port 0 as a destination (dgram refuses it before sending).
    engine.hot.enqueue(b"refused", 0, LOOPBACK);
    engine.hot.enqueue(b"after", port, LOOPBACK);
    let mut results = [0; 3];
    assert_eq!(engine.hot.flush(&mut results), 3);
    assert_eq!((results[0], results[2]), (6, 5));
    assert!(results[1] < 0, "{results:?}");
    #[cfg(target_os = "linux")]
    assert_eq!(results[1], -EINVAL);
    assert_eq!(receive(&peer).0, b"before");
    assert_eq!(receive(&peer).0, b"after");
    let stats = engine.hot.shared.engine().stats();
    assert_eq!((stats.datagrams_out, stats.send_errors), (2, 1));
}

// The wake-up edge

/// The lost wake-up that `pending_bytes` rearms against (see its comment): a drain that rearmed
/// before the runtime queued a datagram takes it, yet the runtime's wake for it still comes. JS
/// then finds nothing; the next datagram must still wake it.
#[test]
fn pending_bytes_rearms_the_wake_even_when_the_inbox_is_empty() {
    let engine = Engine::new(false, None);
    let wakes = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&wakes);
    let local = attach(
        &engine,
        "127.0.0.1:0",
        Receive::OnRuntime,
        Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }),
    );
    let sender = peer();
    let wait_for = |count: usize| {
        let deadline = Instant::now() + PATIENCE;
        while wakes.load(Ordering::SeqCst) < count {
            assert!(Instant::now() < deadline, "wake-up {count} never came");
            sleep(Duration::from_millis(5));
        }
    };

    sender.send_to(PING, local).expect("send to loopback");
    wait_for(1);
    drain_all(&engine.hot);
    sender.send_to(PING, local).expect("send to loopback");
    wait_for(2);
    // The drain whose rearm came before that datagram: it takes the inbox without rearming.
    {
        let mut tape = vec![0; 1 << 12];
        engine
            .hot
            .shared
            .engine()
            .inbox()
            .drain(&mut tape, |_| ())
            .expect("room for the tape");
    }
    engine.hot.shared.drained();
    assert_eq!(
        engine.hot.pending_bytes(),
        -1.0,
        "the woken JS finds nothing"
    );

    sender.send_to(PING, local).expect("send to loopback");
    wait_for(3);
}

// EngineConfig and the napi class's plain Rust parts

#[test]
fn rate_limit_left_out_takes_libtorrents_defaults() {
    assert_eq!(
        rate_limit(None, None, None).resolve(),
        Some(RateLimit {
            per_second: 5,
            window_ms: 10_000,
            block_ms: 300_000,
        })
    );
}

#[test]
fn rate_limit_out_of_range_values_take_the_defaults() {
    assert_eq!(
        rate_limit(Some(-1.0), Some(0.0), Some(-1.0)).resolve(),
        rate_limit(None, None, None).resolve()
    );
    assert_eq!(
        rate_limit(Some(f64::NAN), Some(f64::NAN), Some(f64::NAN)).resolve(),
        rate_limit(None, None, None).resolve()
    );
}

#[test]
fn rate_limit_block_0_limits_only_the_datagrams_over_it() {
    let limit = rate_limit(None, None, Some(0.0)).resolve();
    assert_eq!(limit.map(|limit| limit.block_ms), Some(0));
}

#[test]
fn rate_limit_below_one_per_second_is_no_limit() {
    assert_eq!(rate_limit(Some(0.5), None, None).resolve(), None);
}

#[test]
fn rate_limit_above_u32_saturates_instead_of_wrapping() {
    let limit = rate_limit(Some(1e12), None, None).resolve();
    assert_eq!(limit.map(|limit| limit.per_second), Some(u32::MAX));
}

#[test]
fn rate_limit_window_below_one_ms_is_one_ms() {
    let limit = rate_limit(None, Some(0.25), None).resolve();
    assert_eq!(limit.map(|limit| limit.window_ms), Some(1));
}

#[test]
fn send_rate_burst_defaults_to_one_millisecond_of_the_rate() {
    let resolve = |per_second, burst| SendRateConfig { per_second, burst }.resolve();
    assert_eq!(resolve(100.0, None), (100.0, 1), "at least 1");
    assert_eq!(resolve(2500.0, None), (2500.0, 3));
    assert_eq!(resolve(2500.0, Some(0)), (2500.0, 3), "0 is left out");
    assert_eq!(resolve(2500.0, Some(7)), (2500.0, 7));
    assert_eq!(resolve(1e15, None), (1e15, u32::MAX));
}

#[test]
fn configure_send_rate_is_kept_for_bind() {
    let engine = Engine::new(false, None);
    engine.configure(EngineConfig {
        send_rate: Some(SendRateConfig {
            per_second: 2000.0,
            burst: None,
        }),
        ..config()
    });
    assert_eq!(engine.hot.send_rate.get(), Some((2000.0, 2)));
}

#[test]
fn configure_match_port_makes_a_reply_from_another_port_wrong_source() {
    let engine = Engine::new(false, None);
    engine.configure(EngineConfig {
        match_port: Some(true),
        ..config()
    });
    let (_, tid) = split(engine.hot.register(0, LOOPBACK, 1, 7000));
    engine.hot.ingest(&reply(tid), LOOPBACK, 7001, false);
    let (records, _) = drain_all(&engine.hot);
    assert_eq!(records[0].header[H_KIND], K_WRONG_SOURCE);
}

#[test]
fn configure_keeps_the_settings_left_out() {
    let engine = Engine::new(false, None);
    engine.configure(EngineConfig {
        match_port: Some(true),
        ..config()
    });
    engine.configure(config());
    let (_, tid) = split(engine.hot.register(0, LOOPBACK, 1, 7000));
    engine.hot.ingest(&reply(tid), LOOPBACK, 7001, false);
    let (records, _) = drain_all(&engine.hot);
    assert_eq!(
        records[0].header[H_KIND], K_WRONG_SOURCE,
        "port matching stayed on"
    );
}

#[test]
fn configure_read_only_drops_incoming_queries() {
    let engine = Engine::new(false, None);
    engine.configure(EngineConfig {
        read_only: Some(true),
        ..config()
    });
    engine.hot.ingest(PING, LOOPBACK, 6881, false);
    assert_eq!(engine.hot.pending_bytes(), -1.0);
    assert_eq!(engine.hot.shared.engine().stats().dropped_read_only, 1);
}

#[test]
fn configure_rate_limit_drops_a_source_over_it() {
    let engine = Engine::new(false, None);
    engine.configure(EngineConfig {
        // 1 a second on average over 1 s: the second datagram within it is over.
        rate_limit: Some(rate_limit(Some(1.0), Some(1000.0), Some(60_000.0))),
        ..config()
    });
    engine.hot.ingest(PING, LOOPBACK, 6881, false);
    engine.hot.ingest(PING, LOOPBACK, 6881, false);
    assert_eq!(engine.hot.shared.engine().stats().rate_limited, 1);
}

#[test]
fn configure_ipv6_only_false_makes_an_ipv6_engine_dual_stack() {
    let engine = Engine::new(true, None);
    engine.configure(EngineConfig {
        ipv6_only: Some(false),
        ..config()
    });
    assert!(engine.hot.dual_stack());
    // The core matches a mapped host with the dotted source a dual-stack socket reports.
    let (_, tid) = split(engine.hot.register(0, b"::ffff:127.0.0.1", 1, 6881));
    engine.hot.ingest(&reply(tid), LOOPBACK, 6881, false);
    let (records, _) = drain_all(&engine.hot);
    assert_eq!(records[0].header[H_KIND], K_RESPONSE);
}

#[test]
fn configure_ipv6_only_false_leaves_an_ipv4_engine_single_stack() {
    let engine = Engine::new(false, None);
    engine.configure(EngineConfig {
        ipv6_only: Some(false),
        ..config()
    });
    assert!(!engine.hot.dual_stack());
}

#[test]
fn queries_time_out_on_the_fifth_expire_after_they_were_registered() {
    let engine = Engine::new(false, None);
    engine.expire();
    let (slot, _) = split(engine.hot.register(0, LOOPBACK, 42, 6881));
    for tick in 1..TICKS_TO_TIMEOUT {
        assert!(engine.expire().is_none(), "tick {tick}");
    }
    let expired = engine.expire().expect("timed out on tick 5");
    assert_eq!(&expired[..], &[slot as i32, 42]);
    assert!(engine.expire().is_none(), "reported once");
}

#[test]
fn the_loop_trigger_falls_back_to_the_runtime_where_libuv_is_missing() {
    // A Rust test process exports no uv_* symbols, as a runtime other than Node may not.
    let engine = Engine::new(false, Some(true));
    assert_eq!(engine.receive_path(), "runtime");
}

#[test]
fn socket_queries_before_bind_are_ebadf() {
    let engine = Engine::new(false, None);
    assert!(engine.local_address().is_none());
    assert_eq!(engine.get_recv_buffer_size(), -i64::from(EBADF));
    assert_eq!(engine.get_send_buffer_size(), -i64::from(EBADF));
    // The setters return the errno itself, not its negative: their success is 0.
    assert_eq!(engine.set_recv_buffer_size(1 << 16), EBADF);
    assert_eq!(engine.set_send_buffer_size(1 << 16), EBADF);
}

#[test]
fn local_address_is_the_bound_socket_s() {
    let (engine, local) = bound_v4();
    let address = engine.local_address().expect("bound");
    assert_eq!(
        (address.address.as_str(), address.port, address.ipv6),
        ("127.0.0.1", u32::from(local.port()), false)
    );
}

#[test]
fn buffer_sizes_are_set_on_the_bound_socket() {
    let (engine, _) = bound_v4();
    assert_eq!(engine.set_recv_buffer_size(1 << 16), 0);
    // Linux doubles what was asked for (its bookkeeping share); others report it as set.
    assert!(engine.get_recv_buffer_size() >= 1 << 16);
}

// query: registration and send in one call

/// A ping encoded with two zero bytes where its tid goes, as JS's encodeQuery leaves it.
fn unsent_ping() -> (Vec<u8>, usize) {
    let datagram = b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:\x00\x001:y1:qe".to_vec();
    let tid_at = datagram.len() - 9;
    (datagram, tid_at)
}

fn ping_with_tid(tid: u16) -> Vec<u8> {
    let (mut datagram, tid_at) = unsent_ping();
    datagram[tid_at..tid_at + 2].copy_from_slice(&tid.to_be_bytes());
    datagram
}

#[test]
fn query_registers_writes_the_tid_and_sends_at_once() {
    let (engine, local) = bound_v4();
    let peer = peer();
    let port = u32::from(peer.local_addr().expect("bound").port());
    let (mut datagram, tid_at) = unsent_ping();
    let registered = engine
        .hot
        .query(41, LOOPBACK, 7, port, &mut datagram, tid_at, false);
    let (slot, tid) = split(registered);
    assert_eq!(tid, 42, "the tid after last_tid");
    assert_eq!(engine.hot.lookup(42), slot as i32);
    assert_eq!(
        datagram,
        ping_with_tid(42),
        "the tid is in the caller's bytes too"
    );
    assert_eq!(receive(&peer), (ping_with_tid(42), local));
    assert_eq!(pending_sends(&engine.hot), 0);
    assert_eq!(engine.hot.shared.engine().stats().datagrams_out, 1);
}

#[test]
fn a_reply_to_a_query_sent_in_one_call_matches_it_with_its_generation() {
    let (engine, _) = bound_v4();
    let peer = peer();
    let peer_port = peer.local_addr().expect("bound").port();
    let (mut datagram, tid_at) = unsent_ping();
    let registered = engine.hot.query(
        0,
        LOOPBACK,
        99,
        u32::from(peer_port),
        &mut datagram,
        tid_at,
        false,
    );
    let (slot, tid) = split(registered);
    engine
        .hot
        .ingest(&reply(tid), LOOPBACK, u32::from(peer_port), false);
    let (records, _) = drain_all(&engine.hot);
    assert_eq!(records.len(), 1);
    let header = &records[0].header;
    assert_eq!(
        (header[H_KIND], header[H_SLOT], header[H_GEN], header[H_TID]),
        (K_RESPONSE, slot as i32, 99, i32::from(tid))
    );
}

#[test]
fn a_query_enqueued_waits_for_flush_and_is_flagged() {
    let (engine, local) = bound_v4();
    let peer = peer();
    let port = u32::from(peer.local_addr().expect("bound").port());
    let (mut datagram, tid_at) = unsent_ping();
    let result = engine
        .hot
        .query(0, LOOPBACK, 1, port, &mut datagram, tid_at, true);
    assert!(result >= QUERY_ENQUEUED, "{result}");
    let (_, tid) = split(result - QUERY_ENQUEUED);
    assert_eq!(tid, 1);
    assert_eq!(pending_sends(&engine.hot), 1);
    assert!(nothing_more(&peer), "not sent before the flush");
    let mut results = [0; 1];
    assert_eq!(engine.hot.flush(&mut results), 1);
    assert_eq!(receive(&peer), (ping_with_tid(1), local));
}

#[test]
fn a_query_asked_to_go_at_once_goes_behind_datagrams_waiting_for_flush() {
    let (engine, _) = bound_v4();
    let peer = peer();
    let port = u32::from(peer.local_addr().expect("bound").port());
    assert_eq!(engine.hot.enqueue(b"first", port, LOOPBACK), 0);
    let (mut datagram, tid_at) = unsent_ping();
    let result = engine
        .hot
        .query(0, LOOPBACK, 1, port, &mut datagram, tid_at, false);
    assert!(
        result >= QUERY_ENQUEUED,
        "{result}: it must not overtake `first`"
    );
    let mut results = [0; 2];
    assert_eq!(engine.hot.flush(&mut results), 2);
    assert_eq!(receive(&peer).0, b"first");
    assert_eq!(receive(&peer).0, ping_with_tid(1));
}

#[test]
fn a_query_to_a_host_name_does_nothing_and_asks_for_the_two_call_path() {
    let (engine, _) = bound_v4();
    let (mut datagram, tid_at) = unsent_ping();
    let result = engine
        .hot
        .query(0, b"localhost", 1, 6881, &mut datagram, tid_at, false);
    assert_eq!(result, f64::from(SEND_NOT_AN_IP));
    assert_eq!(engine.hot.shared.engine().stats().queries_in_flight, 0);
    assert_eq!(datagram, unsent_ping().0, "the bytes are untouched");
}

#[test]
fn a_query_before_bind_does_nothing() {
    let engine = Engine::new(false, None);
    let (mut datagram, tid_at) = unsent_ping();
    let result = engine
        .hot
        .query(0, LOOPBACK, 1, 6881, &mut datagram, tid_at, false);
    assert_eq!(result, f64::from(-EBADF));
    assert_eq!(engine.hot.lookup(1), -1);
}

#[test]
fn a_tid_position_outside_the_datagram_is_einval_with_nothing_registered() {
    let (engine, _) = bound_v4();
    let (mut datagram, _) = unsent_ping();
    let len = datagram.len();
    for tid_at in [len - 1, len, usize::MAX] {
        let result = engine
            .hot
            .query(0, LOOPBACK, 1, 6881, &mut datagram, tid_at, false);
        assert_eq!(result, f64::from(-EINVAL), "tid_at {tid_at}");
    }
    assert_eq!(engine.hot.shared.engine().stats().queries_in_flight, 0);
}

#[test]
fn a_query_with_every_tid_in_flight_sends_nothing() {
    let (engine, _) = bound_v4();
    let peer = peer();
    let port = u32::from(peer.local_addr().expect("bound").port());
    let mut last = 0;
    for gen in 0..65535 {
        let (_, tid) = split(engine.hot.register(last, LOOPBACK, gen, port));
        last = u32::from(tid);
    }
    let (mut datagram, tid_at) = unsent_ping();
    let result = engine
        .hot
        .query(last, LOOPBACK, 1, port, &mut datagram, tid_at, false);
    assert_eq!(result, f64::from(QUERY_NO_TID));
    assert!(nothing_more(&peer));
}

#[test]
fn a_query_to_the_wrong_family_stays_registered_to_time_out() {
    // As on the two-call path: registered, then the send fails, and nobody hears of it.
    let (engine, _) = bound_v4();
    let (mut datagram, tid_at) = unsent_ping();
    let (slot, tid) = split(
        engine
            .hot
            .query(0, b"::1", 1, 6881, &mut datagram, tid_at, false),
    );
    assert_eq!(engine.hot.lookup(u32::from(tid)), slot as i32);
    assert_eq!(pending_sends(&engine.hot), 0);
    assert_eq!(engine.hot.shared.engine().stats().datagrams_out, 0);
}
