//! The KRPC engine of one socket: what to do with each datagram (docs/compatibility.md, "What
//! happens to each received datagram"), which queries are in flight and when they time out.
//! Sans-IO: the driver (Tokio) or JS (for a user-supplied socket) passes datagrams and the current
//! time in; records come out through the inbox.

use super::bencode::{self, DecodeError};
use super::classify::{classify, y_value_range, Class};
use super::inbox::Inbox;
use super::rate_limit::{Blocker, RateLimit};
use super::stats::Stats;
use super::tape::{
    H_ADDRESS_LEN, H_ADDRESS_START, H_GEN, H_KIND, H_PORT, H_SIZE, H_SLOT, H_TID, H_VALUE_WORDS,
    K_DECODE_ERROR, K_ERROR_REPLY, K_QUERY, K_RESPONSE, K_SHORT_TID, K_UNEXPECTED_TID,
    K_UNKNOWN_TYPE, K_WRONG_SOURCE, T_BYTES,
};
use super::transactions::{RegisterError, Transactions};

/// Bit set in header word 5 (address length) when the source is IPv6.
pub const IPV6_FLAG: i32 = 1 << 16;

/// Where a datagram came from, as the reference's `rinfo` shows it.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// Address text exactly as `rinfo.address` (e.g. `127.0.0.1`, `::ffff:10.0.0.1`).
    pub address: &'a [u8],
    /// `rinfo.family === 'IPv6'`.
    pub ipv6: bool,
    /// `rinfo.port`.
    pub port: u16,
}

/// What happened to an ingested datagram.
#[derive(Debug, PartialEq, Eq)]
pub enum Ingested {
    /// A record is waiting for JS.
    Queued,
    /// Dropped without any record: port 0, a reply without a byte-string `t` (both silent in the
    /// reference too), or the inbox is full.
    Dropped,
}

/// One socket's protocol state.
#[derive(Debug)]
pub struct Engine {
    table: Transactions,
    inbox: Inbox,
    stats: Stats,
    /// How long a query lives, in the unit of the clock the caller passes to `register` and
    /// `expire`.
    lifetime: u64,
    expired: Vec<(u32, u32)>,
    /// Opt-in: replies must also come from the queried port (the reference checks the IP only).
    match_port: bool,
    /// Opt-in: per-source inbound limit.
    blocker: Option<Blocker>,
    /// Opt-in (BEP 43 read-only node): incoming queries are dropped here, before JS sees them.
    read_only: bool,
    /// Opt-in: one IPv6 socket serving both families (`ipv6Only: false`). The driver reports an
    /// IPv4 sender by its dotted address, so queried hosts are kept in that spelling too.
    dual_stack: bool,
}

impl Engine {
    /// An engine whose queries time out `4 * tick_ms` after registration, on a millisecond clock.
    pub fn new(tick_ms: u64) -> Self {
        Self::with_lifetime(tick_ms.saturating_mul(4))
    }

    /// An engine whose queries time out `lifetime` units of the caller's clock after
    /// registration: `expire(now)` reports those with `registered_at + lifetime <= now`. The
    /// binding counts ticks, so that a query times out on the 5th tick after it was made,
    /// exactly as the reference's `ttl` of 4 does.
    pub fn with_lifetime(lifetime: u64) -> Self {
        Self {
            table: Transactions::new(),
            inbox: Inbox::default(),
            stats: Stats::default(),
            lifetime,
            expired: Vec::new(),
            match_port: false,
            blocker: None,
            read_only: false,
            dual_stack: false,
        }
    }

    /// Turns port-aware reply matching on or off (off by default, as in the reference).
    pub fn set_match_port(&mut self, on: bool) {
        self.match_port = on;
    }

    /// Turns BEP 43 read-only mode on or off (off by default): incoming queries are counted
    /// and dropped without a record, so JS neither builds nor answers them.
    pub fn set_read_only(&mut self, on: bool) {
        self.read_only = on;
    }

    /// Turns dual-stack matching on: a queried host spelled `::ffff:a.b.c.d` is kept as
    /// `a.b.c.d`, the spelling its replies arrive with, so the reply-source rule holds across
    /// both spellings.
    pub fn set_dual_stack(&mut self, on: bool) {
        self.dual_stack = on;
    }

    /// Sets or removes the per-source inbound rate limit (none by default); `seed` keys the
    /// limiter's hash of sources and must be random (see [`Blocker::new`]).
    pub fn set_rate_limit(&mut self, limit: Option<RateLimit>, seed: [u64; 2]) {
        self.blocker = limit.map(|limit| Blocker::new(limit, seed));
    }

    /// Registers a query (see [`Transactions::register`]); returns `(slot, tid)`.
    pub fn register(
        &mut self,
        now: u64,
        last_tid: u16,
        host: &[u8],
        gen: u32,
    ) -> Result<(u32, u16), RegisterError> {
        self.register_peer(now, last_tid, host, 0, gen)
    }

    /// [`Engine::register`] with the queried port, used when port matching is on.
    pub fn register_peer(
        &mut self,
        now: u64,
        last_tid: u16,
        host: &[u8],
        port: u16,
        gen: u32,
    ) -> Result<(u32, u16), RegisterError> {
        let deadline = now.saturating_add(self.lifetime);
        let port = if self.match_port { port } else { 0 };
        let mut dotted = [0u8; 15];
        let host = match self.dual_stack.then(|| mapped_ipv4(host)).flatten() {
            Some(ip) => {
                let mut cursor = std::io::Cursor::new(&mut dotted[..]);
                // 15 bytes hold any dotted IPv4 address.
                let _ = std::io::Write::write_fmt(&mut cursor, format_args!("{ip}"));
                let len = cursor.position() as usize;
                &dotted[..len]
            }
            None => host,
        };
        self.table
            .register_peer(last_tid, host, port, gen, deadline)
    }

    /// Frees a slot (reply handled, cancelled or timed out on the JS side).
    pub fn release(&mut self, slot: u32) {
        self.table.release(slot);
    }

    /// The slot holding `tid`, if it is in flight.
    pub fn lookup(&self, tid: u16) -> Option<u32> {
        self.table.lookup(tid).map(|(slot, _)| slot)
    }

    /// `(slot, gen)` of the queries whose time is up, in slot order. Each is reported once.
    pub fn expire(&mut self, now: u64) -> &[(u32, u32)] {
        self.expired.clear();
        self.table.expire(now, &mut self.expired);
        self.stats.timeouts += self.expired.len() as u64;
        &self.expired
    }

    /// Counts a datagram handed to the kernel.
    pub fn count_sent(&mut self, bytes: usize) {
        self.stats.datagrams_out += 1;
        self.stats.bytes_out += bytes as u64;
    }

    /// Counts the outcome of one send: bytes handed to the kernel, or `-errno`.
    pub fn count_send_result(&mut self, result: i32) {
        match usize::try_from(result) {
            Ok(bytes) => self.count_sent(bytes),
            Err(_) => self.count_send_error(),
        }
    }

    /// Counts a datagram put in the send queue (`true`) or refused because it was full.
    pub fn count_send_queued(&mut self, accepted: bool) {
        if accepted {
            self.stats.send_queued += 1;
        } else {
            self.stats.send_queue_full += 1;
        }
    }

    /// Counts a send the kernel refused.
    pub fn count_send_error(&mut self) {
        self.stats.send_errors += 1;
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        Stats {
            queries_in_flight: self.table.len() as u64,
            ..self.stats
        }
    }

    /// True when JS has nothing to drain.
    pub fn inbox_is_empty(&self) -> bool {
        self.inbox.is_empty()
    }

    /// How many more datagrams of up to `len` bytes the inbox is sure to take after `pending`
    /// datagrams of `pending_bytes` already read: a reader leaves the rest in the socket's queue
    /// rather than read them only to drop them.
    pub fn inbox_room_for(&self, len: usize, pending: usize, pending_bytes: usize) -> usize {
        self.inbox.room_for(len, pending, pending_bytes)
    }

    /// The inbox, for draining.
    pub fn inbox(&mut self) -> &mut Inbox {
        &mut self.inbox
    }

    /// [`Engine::ingest_at`] for callers without a clock (no rate limit can apply).
    pub fn ingest(&mut self, datagram: &[u8], source: Source<'_>) -> Ingested {
        self.ingest_at(datagram, source, 0)
    }

    /// Decodes and classifies one datagram received at `now_ms` and queues the record JS needs
    /// for it (docs/compatibility.md, "What happens to each received datagram").
    pub fn ingest_at(&mut self, datagram: &[u8], source: Source<'_>, now_ms: u64) -> Ingested {
        self.stats.datagrams_in += 1;
        self.stats.bytes_in += datagram.len() as u64;
        if source.port == 0 {
            self.stats.dropped_port_zero += 1;
            return Ingested::Dropped;
        }
        if let Some(blocker) = self.blocker.as_mut() {
            if !blocker.admit(source.address, now_ms) {
                self.stats.rate_limited += 1;
                return Ingested::Dropped;
            }
        }
        if !self.inbox.has_room_for(datagram.len()) {
            self.stats.dropped_inbox += 1;
            return Ingested::Dropped;
        }

        let (record, address_start, address_len) = self.inbox.begin(source.address);
        let base = record.bytes_base;
        self.inbox.bytes.extend_from_slice(datagram);
        let value_start = self.inbox.tape.len();

        let (kind, slot, gen, tid) =
            match bencode::tokenize(datagram, base as u32, &mut self.inbox.tape) {
                Err(error) => {
                    self.stats.malformed += 1;
                    self.inbox.bytes.truncate(base);
                    self.push_error_text(&error);
                    (K_DECODE_ERROR, -1, 0, -1)
                }
                Ok(root) => {
                    let tokens = &self.inbox.tape[value_start..];
                    match classify(tokens, root, datagram, base as u32) {
                        Class::Query if self.read_only => {
                            self.stats.dropped_read_only += 1;
                            self.inbox.abandon(record);
                            return Ingested::Dropped;
                        }
                        Class::Query => (K_QUERY, -1, 0, -1),
                        // The slot and gen words carry the `y` value's token range,
                        // relative to the value (docs/ARCHITECTURE.md, "Tape format").
                        Class::Other => match y_value_range(tokens, root) {
                            Some((start, end)) => (K_UNKNOWN_TYPE, start as i32, end as i32, -1),
                            None => (K_UNKNOWN_TYPE, -1, -1, -1),
                        },
                        Class::ShortTid => {
                            self.inbox.tape.truncate(value_start);
                            self.inbox.bytes.truncate(base);
                            (K_SHORT_TID, -1, 0, -1)
                        }
                        Class::BadTid => {
                            self.stats.bad_tid += 1;
                            self.inbox.abandon(record);
                            return Ingested::Dropped;
                        }
                        Class::Reply { tid, error } => self.match_reply(tid, error, source),
                    }
                }
            };

        let value_words = self.inbox.tape.len() - value_start;
        let header = &mut self.inbox.tape[record.header..value_start];
        header[H_KIND] = kind;
        header[H_SLOT] = slot;
        header[H_GEN] = gen;
        header[H_TID] = tid;
        header[H_ADDRESS_START] = address_start as i32;
        header[H_ADDRESS_LEN] = address_len as i32 | if source.ipv6 { IPV6_FLAG } else { 0 };
        header[H_PORT] = i32::from(source.port);
        header[H_SIZE] = datagram.len() as i32;
        header[H_VALUE_WORDS] = value_words as i32;
        Ingested::Queued
    }

    /// Steps 4.3 to 4.5 of docs/compatibility.md, "What happens to each received datagram": tid 0
    /// or not in flight, wrong source, or a match.
    fn match_reply(&mut self, tid: u16, error: bool, source: Source<'_>) -> (i32, i32, i32, i32) {
        let found = if tid == 0 {
            None
        } else {
            self.table.lookup(tid)
        };
        match found {
            None => {
                self.stats.unexpected_tid += 1;
                (K_UNEXPECTED_TID, -1, 0, i32::from(tid))
            }
            Some((slot, pending)) => {
                let wrong_port = pending.port != 0 && pending.port != source.port;
                let kind = if *pending.host != *source.address || wrong_port {
                    self.stats.wrong_source += 1;
                    K_WRONG_SOURCE
                } else if error {
                    K_ERROR_REPLY
                } else {
                    K_RESPONSE
                };
                (kind, slot as i32, pending.gen as i32, i32::from(tid))
            }
        }
    }

    fn push_error_text(&mut self, error: &DecodeError) {
        let start = self.inbox.bytes.len();
        // Writing into a Vec<u8> cannot fail.
        let _ = std::io::Write::write_fmt(&mut self.inbox.bytes, format_args!("{error}"));
        let len = self.inbox.bytes.len() - start;
        self.inbox
            .tape
            .extend_from_slice(&[T_BYTES, start as i32, len as i32]);
    }
}

/// The IPv4 address of an IPv4-mapped IPv6 address text (`::ffff:1.2.3.4`, any spelling).
fn mapped_ipv4(host: &[u8]) -> Option<std::net::Ipv4Addr> {
    if host.len() > 45 {
        return None;
    }
    let text = std::str::from_utf8(host).ok()?;
    text.parse::<std::net::Ipv6Addr>().ok()?.to_ipv4_mapped()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::core::tape::HEADER_WORDS;

    const LOCAL: Source<'static> = Source {
        address: b"127.0.0.1",
        ipv6: false,
        port: 6881,
    };

    /// (header words, value words) of one record.
    type Record = (Vec<i32>, Vec<i32>);

    /// Drains the engine and returns the records plus the bytes.
    fn drain(e: &mut Engine) -> (Vec<Record>, Vec<u8>) {
        let mut out = vec![0; 1 << 16];
        let bytes = e.inbox().drain(&mut out, |b| b.to_vec()).unwrap();
        let used = out[0] as usize;
        let tape = &out[1..=used];
        let mut records = Vec::new();
        let mut p = 0;
        while p < used {
            let header = tape[p..p + HEADER_WORDS].to_vec();
            let n = header[8] as usize;
            records.push((
                header,
                tape[p + HEADER_WORDS..p + HEADER_WORDS + n].to_vec(),
            ));
            p += HEADER_WORDS + n;
        }
        (records, bytes)
    }

    #[test]
    fn a_matching_reply_names_its_slot_and_generation() {
        let mut e = Engine::new(500);
        let (slot, tid) = e.register(0, 0, b"127.0.0.1", 77).unwrap();
        assert_eq!((slot, tid), (0, 1));
        e.ingest(b"d1:rd2:id1:xe1:t2:\x00\x011:y1:re", LOCAL);
        let (records, bytes) = drain(&mut e);
        let (h, _) = &records[0];
        assert_eq!(&h[..4], &[K_RESPONSE, 0, 77, 1]);
        let (start, len) = (h[4] as usize, (h[5] & 0xffff) as usize);
        assert_eq!(&bytes[start..start + len], b"127.0.0.1");
        assert_eq!((h[6], h[7]), (6881, 27));
    }

    #[test]
    fn replies_are_classified_like_the_reference() {
        let mut e = Engine::new(500);
        e.register(0, 0, b"127.0.0.1", 1).unwrap();
        let other = Source {
            address: b"127.0.0.2",
            ..LOCAL
        };
        e.ingest(b"d1:t2:\x00\x011:y1:ee", other);
        e.ingest(b"d1:t2:\x09\x991:y1:re", LOCAL);
        e.ingest(b"d1:t2:\x00\x001:y1:re", LOCAL);
        e.ingest(b"d1:t1:x1:y1:re", LOCAL);
        assert_eq!(e.ingest(b"d1:ti1e1:y1:re", LOCAL), Ingested::Dropped);
        e.ingest(b"d1:t2:\x00\x011:y1:ee", LOCAL);
        let kinds: Vec<_> = drain(&mut e).0.iter().map(|(h, _)| (h[0], h[3])).collect();
        assert_eq!(
            kinds,
            vec![
                (K_WRONG_SOURCE, 1),
                (K_UNEXPECTED_TID, 0x0999),
                (K_UNEXPECTED_TID, 0),
                (K_SHORT_TID, -1),
                (K_ERROR_REPLY, 1)
            ]
        );
        assert_eq!(e.stats().bad_tid, 1);
    }

    #[test]
    fn malformed_input_becomes_a_decode_error_record_with_the_message() {
        let mut e = Engine::new(500);
        e.ingest(b"d-3:e", LOCAL);
        e.ingest(b"", LOCAL);
        let (records, bytes) = drain(&mut e);
        let (h, v) = &records[0];
        assert_eq!(h[0], K_DECODE_ERROR);
        let text = &bytes[v[1] as usize..(v[1] + v[2]) as usize];
        assert!(text.starts_with(b"Invalid data: negative string length"));
        assert_eq!((records[1].0[0], records[1].0[8]), (K_UNKNOWN_TYPE, 0));
        assert_eq!(e.stats().malformed, 1);
    }

    #[test]
    fn port_zero_and_a_full_inbox_drop_silently_but_count() {
        let mut e = Engine::new(500);
        let zero = Source { port: 0, ..LOCAL };
        assert_eq!(e.ingest(b"d1:y1:qe", zero), Ingested::Dropped);
        // A valid 60 KB byte string: its bytes stay in the inbox, so the byte cap is reached.
        let mut big = b"59994:".to_vec();
        big.resize(60_000, b'x');
        let mut queued = 0;
        for _ in 0..1000 {
            if e.ingest(&big, LOCAL) == Ingested::Queued {
                queued += 1;
            }
        }
        assert!(queued > 0 && queued < 1000);
        assert_eq!(e.stats().dropped_inbox, 1000 - queued);
        assert_eq!(e.stats().dropped_port_zero, 1);
    }

    #[test]
    fn spare_capacity_of_a_big_batch_is_given_back_on_request() {
        let mut e = Engine::new(500);
        // Dense: an empty list is 2 bytes and 2 tape words.
        let mut dense = b"l".to_vec();
        dense.extend(b"le".repeat(30_000));
        dense.push(b'e');
        for _ in 0..20 {
            assert_eq!(e.ingest(&dense, LOCAL), Ingested::Queued);
        }
        let mut out = vec![0; 2 << 20];
        e.inbox().drain(&mut out, |_| ()).unwrap();
        assert!(
            e.inbox().bytes.capacity() > 1 << 20,
            "a drain keeps the buffers"
        );
        e.ingest(b"d1:y1:qe", LOCAL);
        assert!(e.inbox().release_spare());
        assert!(e.inbox().bytes.capacity() <= 64 << 10);
        assert!(e.inbox().tape.capacity() <= 16 << 10);
        assert!(!e.inbox().release_spare(), "nothing more to give back");
        let (records, _) = drain(&mut e);
        assert_eq!(records.len(), 1, "the pending record survived");
    }

    #[test]
    fn inbox_room_is_what_ingest_accepts() {
        let mut e = Engine::new(500);
        // The densest tape per byte: empty strings in a list (3 words for 2 bytes).
        let mut dense = b"l".to_vec();
        dense.extend(b"0:".repeat(32_000));
        dense.push(b'e');
        let room = e.inbox_room_for(dense.len(), 0, 0);
        assert!(room > 10, "{room}");
        // Datagrams read but not ingested yet count against the room.
        assert_eq!(e.inbox_room_for(dense.len(), room, room * dense.len()), 0);
        for _ in 0..room {
            e.ingest(&dense, LOCAL);
        }
        assert_eq!(e.stats().dropped_inbox, 0);
    }

    #[test]
    fn port_matching_is_opt_in() {
        let mut e = Engine::new(500);
        e.register_peer(0, 0, b"127.0.0.1", 7000, 1).unwrap();
        e.set_match_port(true);
        e.register_peer(0, 1, b"127.0.0.1", 7000, 2).unwrap();
        e.ingest(b"d1:t2:\x00\x011:y1:re", LOCAL);
        e.ingest(b"d1:t2:\x00\x021:y1:re", LOCAL);
        let kinds: Vec<_> = drain(&mut e).0.iter().map(|(h, _)| h[0]).collect();
        assert_eq!(kinds, vec![K_RESPONSE, K_WRONG_SOURCE]);
    }

    #[test]
    fn rate_limited_sources_are_dropped_before_decoding() {
        let mut e = Engine::new(500);
        e.set_rate_limit(
            Some(RateLimit {
                per_second: 1,
                window_ms: 1000,
                block_ms: 60_000,
            }),
            [3, 4],
        );
        assert_eq!(e.ingest_at(b"d-3:e", LOCAL, 0), Ingested::Queued);
        assert_eq!(e.ingest_at(b"d-3:e", LOCAL, 1), Ingested::Dropped);
        assert_eq!(e.stats().rate_limited, 1);
        assert_eq!(e.stats().malformed, 1, "the dropped one was never decoded");
    }

    #[test]
    fn read_only_drops_queries_only() {
        let mut e = Engine::new(500);
        e.set_read_only(true);
        e.register(0, 0, b"127.0.0.1", 9).unwrap();
        let query = b"d1:ad2:id20:aaaaaaaaaaaaaaaaaaaae1:q4:ping1:t2:aa1:y1:qe";
        assert_eq!(e.ingest(query, LOCAL), Ingested::Dropped);
        e.ingest(b"d1:t2:\x00\x011:y1:re", LOCAL);
        e.ingest(b"d1:y1:xe", LOCAL);
        e.ingest(b"d-3:e", LOCAL);
        let (records, bytes) = drain(&mut e);
        let kinds: Vec<_> = records.iter().map(|(h, _)| h[0]).collect();
        assert_eq!(kinds, vec![K_RESPONSE, K_UNKNOWN_TYPE, K_DECODE_ERROR]);
        assert!(
            !bytes.windows(4).any(|w| w == b"ping"),
            "nothing of the dropped query is kept"
        );
        assert_eq!(e.stats().dropped_read_only, 1);
        e.set_read_only(false);
        e.ingest(query, LOCAL);
        assert_eq!(drain(&mut e).0[0].0[0], K_QUERY);
    }

    #[test]
    fn dual_stack_matches_a_mapped_host_with_its_dotted_replies() {
        let mut e = Engine::new(500);
        e.set_dual_stack(true);
        e.register(0, 0, b"::ffff:127.0.0.1", 1).unwrap();
        e.register(0, 1, b"::FFFF:7f00:1", 2).unwrap();
        e.register(0, 2, b"127.0.0.1", 3).unwrap();
        e.register(0, 3, b"::1", 4).unwrap();
        for tid in 1..=4u8 {
            e.ingest(
                &[b"d1:t2:\x00".as_slice(), &[tid], b"1:y1:re"].concat(),
                LOCAL,
            );
        }
        let kinds: Vec<_> = drain(&mut e).0.iter().map(|(h, _)| h[0]).collect();
        assert_eq!(
            kinds,
            vec![K_RESPONSE, K_RESPONSE, K_RESPONSE, K_WRONG_SOURCE]
        );
        // Off (the default): the text is compared as given, as the reference does.
        let mut e = Engine::new(500);
        e.register(0, 0, b"::ffff:127.0.0.1", 1).unwrap();
        e.ingest(b"d1:t2:\x00\x011:y1:re", LOCAL);
        assert_eq!(drain(&mut e).0[0].0[0], K_WRONG_SOURCE);
    }

    #[test]
    fn a_tick_clock_times_out_on_the_fifth_tick_like_the_ttl_of_4() {
        let mut e = Engine::with_lifetime(5);
        e.register(7, 0, b"127.0.0.1", 1).unwrap();
        for tick in 8..12 {
            assert!(e.expire(tick).is_empty(), "tick {tick}");
        }
        assert_eq!(e.expire(12), &[(0, 1)]);
    }

    #[test]
    fn queries_expire_after_four_ticks() {
        let mut e = Engine::new(25);
        e.register(1000, 0, b"127.0.0.1", 5).unwrap();
        assert!(e.expire(1099).is_empty());
        assert_eq!(e.expire(1100), &[(0, 5)]);
        assert_eq!(e.stats().timeouts, 1);
    }
}
