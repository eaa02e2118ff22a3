//! Opt-in inbound limit per source, applied before a datagram is decoded.
//!
//! Policy (libtorrent's DHT "dos blocker"): a source that sends more than `per_second` datagrams
//! per second over `window_ms` is ignored for `block_ms`. libtorrent counts 20 addresses exactly
//! and a newcomer replaces the quietest, so an attacker rotating over more addresses than the
//! table holds, or a stream of one-shot senders churning it, resets every count. Here no
//! eviction can reset a count:
//!
//! * A source is an IPv4 address, or an IPv6 /64 (a host commonly owns a whole /64, so its
//!   addresses are one source). IPv4-mapped IPv6 addresses are their IPv4 address. Sources are
//!   known by a 64-bit hash keyed with a secret seed, so a remote cannot aim collisions.
//! * Every admitted datagram is counted in a count-min sketch (`ROWS` x `WIDTH` counters,
//!   conservative update). The sketch never undercounts a source, whatever the number of
//!   sources: rotating over addresses gains nothing.
//! * Counts are kept per fixed window of `window_ms`, the current one and the one before; the
//!   count over the last `window_ms` is estimated as `previous x (unelapsed part of the current
//!   window) + current`, so a burst straddling a window boundary is seen whole.
//! * The sketch can overcount a source by the traffic of others that share all its counters.
//!   So the busiest recent sources are also counted one by one (`tracked`): such an entry starts
//!   from the sketch's estimate, then counts exactly, and decides for its source; it is exact
//!   from its first datagram if the sketch had nothing for the source then, else once the two
//!   windows it started in have passed. So a steady peer under the limit is not limited by
//!   other sources' traffic. A new source takes a slot only from one at most as busy as itself,
//!   the least recently seen first; the one being counted is never evicted.
//! * A source over the limit goes into a separate table of blocked sources for `block_ms`
//!   (`BLOCKED_SETS` sets of `BLOCKED_WAYS`, chosen by hash). When more sources are blocked at
//!   once than a set holds, the one whose block ends first gives its place; it is counted
//!   afresh but still admitted at no more than the limit (only admitted datagrams are counted,
//!   and the sketch remembers them for two windows).
//!
//! Memory is fixed (`memory_bytes`: 84 200 bytes), whatever the sources. Time is a parameter.

use std::hash::{DefaultHasher, Hasher};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Hash rows of the sketch.
const ROWS: usize = 4;
/// Counters per row (a power of two: 12 bits of a 16-bit slice of the hash index a row).
const WIDTH: usize = 4096;
/// Sources counted exactly: sets x ways, the set chosen by hash.
const TRACKED_SETS: usize = 16;
const TRACKED_WAYS: usize = 4;
/// Sources blocked at once: sets x ways.
const BLOCKED_SETS: usize = 128;
const BLOCKED_WAYS: usize = 8;

/// Limits of the blocker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Datagrams per second a source may send, on average over `window_ms`.
    pub per_second: u32,
    /// Averaging window.
    pub window_ms: u64,
    /// How long a source over the limit is ignored (0: only its datagrams over the limit are).
    pub block_ms: u64,
}

/// A source's exact counts. `source` 0 is a free slot.
#[derive(Debug, Clone, Copy, Default)]
struct Tracked {
    source: u64,
    /// Counts of the windows `window - 1` and `window`: upper bounds of the source's true
    /// counts, exact for what arrived while tracked.
    previous: u32,
    current: u32,
    window: u64,
    seen_ms: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Blocked {
    source: u64,
    until_ms: u64,
}

/// The limiter of one socket.
#[derive(Debug)]
pub struct Blocker {
    window_ms: u64,
    block_ms: u64,
    /// Datagrams a source may send per window.
    allowed: u64,
    seed: [u64; 2],
    /// Index of the current window (`now / window_ms`), and the latest time seen.
    window: u64,
    now_ms: u64,
    /// Sketch counters, `ROWS` rows of `WIDTH`, for the current and the previous window.
    current: Vec<u16>,
    previous: Vec<u16>,
    tracked: Vec<Tracked>,
    blocked: Vec<Blocked>,
    /// The last address text seen and its source (a flood repeats one address).
    last_text: [u8; 64],
    last_len: usize,
    last_source: u64,
}

impl Blocker {
    /// A blocker with `limit`; `seed` keys the hash of sources and must be secret (random).
    pub fn new(limit: RateLimit, seed: [u64; 2]) -> Self {
        let window_ms = limit.window_ms.max(1);
        // Sketch counters are 16 bits: a larger limit is applied as the largest they can hold.
        let allowed = (u64::from(limit.per_second).saturating_mul(window_ms) / 1000)
            .clamp(1, u64::from(u16::MAX - 1));
        Self {
            window_ms,
            block_ms: limit.block_ms,
            allowed,
            seed,
            window: 0,
            now_ms: 0,
            current: vec![0; ROWS * WIDTH],
            previous: vec![0; ROWS * WIDTH],
            tracked: vec![Tracked::default(); TRACKED_SETS * TRACKED_WAYS],
            blocked: vec![Blocked::default(); BLOCKED_SETS * BLOCKED_WAYS],
            last_text: [0; 64],
            last_len: usize::MAX,
            last_source: 0,
        }
    }

    /// Bytes this blocker holds, its own and on the heap.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + (self.current.capacity() + self.previous.capacity()) * std::mem::size_of::<u16>()
            + self.tracked.capacity() * std::mem::size_of::<Tracked>()
            + self.blocked.capacity() * std::mem::size_of::<Blocked>()
    }

    /// Counts one datagram from `address` (the text of `rinfo.address`) at `now_ms`; false when
    /// it must be dropped.
    pub fn admit(&mut self, address: &[u8], now_ms: u64) -> bool {
        // A clock that steps back is read as no time passing.
        let now = now_ms.max(self.now_ms);
        self.now_ms = now;
        self.advance(now / self.window_ms);
        let source = self.source(address);

        let blocked = blocked_set(source);
        if let Some(b) = self.blocked[blocked.clone()]
            .iter_mut()
            .find(|b| b.source == source)
        {
            if now < b.until_ms {
                return false;
            }
            *b = Blocked::default();
        }

        let cells = cells(source);
        let (previous, current) = self.estimate(&cells);
        let slot = self.track(source, previous, current, now);
        let (p, c) = slot.map_or((previous, current), |i| {
            (self.tracked[i].previous, self.tracked[i].current)
        });
        if !self.over(p, c.saturating_add(1), now) {
            self.count(&cells, current);
            if let Some(i) = slot {
                self.tracked[i].current = self.tracked[i].current.saturating_add(1);
            }
            return true;
        }
        if let Some(i) = slot {
            self.tracked[i] = Tracked::default();
        }
        if self.block_ms > 0 {
            let b = self.blocked[blocked]
                .iter_mut()
                .min_by_key(|b| if b.source == 0 { 0 } else { b.until_ms })
                .expect("sets are not empty");
            *b = Blocked {
                source,
                until_ms: now.saturating_add(self.block_ms),
            };
        }
        false
    }

    /// Moves the sketch to window `window`.
    fn advance(&mut self, window: u64) {
        if window == self.window {
            return;
        }
        if self.window.checked_add(1) == Some(window) {
            std::mem::swap(&mut self.current, &mut self.previous);
        } else {
            self.previous.fill(0);
        }
        self.current.fill(0);
        self.window = window;
    }

    /// The source of `address`: the keyed hash of its IPv4 address or IPv6 /64, or of the text
    /// itself when it is neither (only a user-supplied socket can report such an address).
    /// Never 0, which marks free slots.
    fn source(&mut self, address: &[u8]) -> u64 {
        if address.len() == self.last_len && self.last_text[..address.len()] == *address {
            return self.last_source;
        }
        let mut h = DefaultHasher::new();
        h.write_u64(self.seed[0]);
        h.write_u64(self.seed[1]);
        match parse(address) {
            Some((family, bits)) => {
                h.write_u8(family);
                h.write_u64(bits);
            }
            None => {
                h.write_u8(0);
                h.write(address);
            }
        }
        let source = h.finish().max(1);
        if address.len() <= self.last_text.len() {
            self.last_text[..address.len()].copy_from_slice(address);
            self.last_len = address.len();
            self.last_source = source;
        }
        source
    }

    /// The sketch's estimates of a source's counts in the previous and the current window: the
    /// smallest of its counters in each, never below the true count.
    fn estimate(&self, cells: &[usize; ROWS]) -> (u32, u32) {
        let min = |v: &[u16]| u32::from(cells.iter().map(|&i| v[i]).min().unwrap_or(0));
        (min(&self.previous), min(&self.current))
    }

    /// Counts one datagram of the source at `cells`, whose current estimate is `current`.
    /// Conservative update: only the counters at the estimate grow, which keeps every
    /// source's estimate an upper bound and tighter than adding to all of them.
    fn count(&mut self, cells: &[usize; ROWS], current: u32) {
        let target = u16::try_from(current.saturating_add(1)).unwrap_or(u16::MAX);
        for &i in cells {
            let c = &mut self.current[i];
            *c = (*c).max(target);
        }
    }

    /// The slot of the source's exact entry, taking one for it if, with this datagram, it is at
    /// least as busy as the quietest of its set (a new entry starts from the sketch's
    /// estimates `previous` and `current`).
    fn track(&mut self, source: u64, previous: u32, current: u32, now: u64) -> Option<usize> {
        let window = self.window;
        let window_ms = self.window_ms;
        let set = tracked_set(source);
        let start = set.start;
        let entries = &mut self.tracked[set];
        for t in entries.iter_mut() {
            rotate(t, window);
        }
        if let Some(i) = entries.iter().position(|t| t.source == source) {
            entries[i].seen_ms = now;
            return Some(start + i);
        }
        let weight = |p: u32, c: u32| weighted(window_ms, p, c, now);
        let (i, victim) = entries
            .iter_mut()
            .enumerate()
            .min_by_key(|(_, t)| match t.source {
                0 => (0, 0),
                _ => (weight(t.previous, t.current).saturating_add(1), t.seen_ms),
            })
            .expect("sets are not empty");
        if victim.source != 0
            && weight(victim.previous, victim.current) > weight(previous, current.saturating_add(1))
        {
            return None;
        }
        *victim = Tracked {
            source,
            previous,
            current,
            window,
            seen_ms: now,
        };
        Some(start + i)
    }

    fn over(&self, previous: u32, current: u32, now: u64) -> bool {
        weighted(self.window_ms, previous, current, now)
            > u128::from(self.allowed) * u128::from(self.window_ms)
    }
}

/// The estimated count over the last `window_ms` (`previous` weighted by the part of its window
/// still inside it), scaled by `window_ms` to stay in integers.
fn weighted(window_ms: u64, previous: u32, current: u32, now: u64) -> u128 {
    let w = u128::from(window_ms);
    let unelapsed = w - u128::from(now % window_ms);
    u128::from(previous) * unelapsed + u128::from(current) * w
}

/// The sketch counters of a source, one per row.
fn cells(source: u64) -> [usize; ROWS] {
    std::array::from_fn(|r| r * WIDTH + (source >> (16 * r)) as usize % WIDTH)
}

/// The ways of the exact table a source may use.
fn tracked_set(source: u64) -> std::ops::Range<usize> {
    ways(source, TRACKED_SETS, TRACKED_WAYS)
}

fn blocked_set(source: u64) -> std::ops::Range<usize> {
    ways(source, BLOCKED_SETS, BLOCKED_WAYS)
}

/// A set chosen by all bits of the hash (Fibonacci hashing: the top bits of a multiplication
/// by 2^64 / golden ratio), so sets and sketch counters are picked by different bits.
fn ways(source: u64, sets: usize, ways: usize) -> std::ops::Range<usize> {
    let set = (source.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize % sets;
    set * ways..set * ways + ways
}

/// Brings an entry's counts to window `window`.
fn rotate(t: &mut Tracked, window: u64) {
    if t.source == 0 || t.window == window {
        return;
    }
    t.previous = if t.window.checked_add(1) == Some(window) {
        t.current
    } else {
        0
    };
    t.current = 0;
    t.window = window;
}

/// The source of an address as Node prints it (`1.2.3.4`, `::ffff:1.2.3.4`, `fe80::1%eth0`):
/// `(4, IPv4 address)` or `(6, the /64 prefix)`.
fn parse(address: &[u8]) -> Option<(u8, u64)> {
    let text = std::str::from_utf8(address).ok()?;
    let text = text.split('%').next().unwrap_or(text);
    if let Ok(v4) = text.parse::<Ipv4Addr>() {
        return Some((4, u64::from(u32::from(v4))));
    }
    let v6 = text.parse::<Ipv6Addr>().ok()?;
    match v6.to_ipv4_mapped() {
        Some(v4) => Some((4, u64::from(u32::from(v4)))),
        None => Some((6, (u128::from(v6) >> 64) as u64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit {
        per_second: 5,
        window_ms: 10_000,
        block_ms: 300_000,
    };

    #[test]
    fn a_source_over_the_average_is_blocked_for_the_block_time() {
        let mut b = blocker(LIMIT);
        let admitted = (0..100).filter(|i| b.admit(b"10.0.0.1", *i)).count();
        assert_eq!(admitted, 50, "5/s over 10 s is 50 datagrams");
        assert!(!b.admit(b"10.0.0.1", 200_000), "still blocked");
        assert!(b.admit(b"10.0.0.1", 300_100), "block over");
    }

    #[test]
    fn a_source_under_the_average_is_never_blocked() {
        let mut b = blocker(LIMIT);
        for i in 0..10_000u64 {
            assert!(b.admit(b"10.0.0.2", i * 250), "4 per second");
        }
    }

    #[test]
    fn many_sources_cannot_evict_a_blocked_one() {
        let mut b = blocker(LIMIT);
        for i in 0..100 {
            b.admit(b"10.0.0.1", i);
        }
        for n in 0..10_000u32 {
            let addr = format!("10.1.{}.{}", n / 256, n % 256);
            assert!(b.admit(addr.as_bytes(), 1_000));
        }
        assert!(
            !b.admit(b"10.0.0.1", 2_000),
            "the flooder is still remembered"
        );
    }

    /// The blocker under test (one place to change when its constructor does).
    fn blocker(limit: RateLimit) -> Blocker {
        Blocker::new(limit, [1, 2])
    }

    /// Datagrams dropped among `sends` (address, time) fed in order.
    fn limited<'a>(b: &mut Blocker, sends: impl IntoIterator<Item = (&'a [u8], u64)>) -> usize {
        sends.into_iter().filter(|&(a, t)| !b.admit(a, t)).count()
    }

    fn v4(n: u32) -> Vec<u8> {
        std::net::Ipv4Addr::from(n).to_string().into_bytes()
    }

    #[test]
    fn attack_round_robin_over_40_sources_is_limited() {
        // 40 sources x 100 datagrams, interleaved, in 100 ms (as fast as loopback): 50 each may pass.
        let mut b = blocker(LIMIT);
        let addrs: Vec<Vec<u8>> = (0..40).map(|i| v4(0x0a00_0001 + i)).collect();
        let sends = (0..4000u64).map(|i| (addrs[(i % 40) as usize].as_slice(), i / 40));
        let n = limited(&mut b, sends);
        assert!(
            (1900..=2000).contains(&n),
            "limited {n} of 4000 (2000 are past the threshold)"
        );
    }

    #[test]
    fn attack_two_alternating_sources_after_one_shot_senders_filled_the_table() {
        let mut b = blocker(LIMIT);
        for n in 0..10_000u32 {
            assert!(
                b.admit(&v4(0x0b00_0000 + n), u64::from(n) / 10),
                "one-shot sender"
            );
        }
        let (x, y) = (v4(0x0a00_0001), v4(0x0a00_0002));
        let sends = (0..400u64).map(|i| (if i % 2 == 0 { &x } else { &y }.as_slice(), 1_000 + i));
        let n = limited(&mut b, sends);
        assert!(n >= 290, "limited {n} of 400 (300 are past the threshold)");
    }

    #[test]
    fn attack_two_alternating_sources_among_one_shot_senders_is_limited() {
        // The same pair hidden in a stream of one-shot senders (normal DHT traffic, 1000/s).
        let mut b = blocker(LIMIT);
        let (x, y) = (v4(0x0a00_0001), v4(0x0a00_0002));
        let mut n = 0;
        for i in 0..4_000u32 {
            let t = u64::from(i) * 2;
            assert!(b.admit(&v4(0x0b00_0000 + i), t), "one-shot sender {i}");
            if i % 20 == 0 {
                n += limited(&mut b, [(x.as_slice(), t), (y.as_slice(), t + 1)]);
            }
        }
        // 200 each over 8 s; 50 each may pass.
        assert!(n >= 290, "limited {n} of 400 (300 are past the threshold)");
    }

    #[test]
    fn attack_ipv6_rotation_inside_one_64_is_limited() {
        let mut b = blocker(LIMIT);
        let addrs: Vec<Vec<u8>> = (1..=1000u32)
            .map(|i| format!("2001:db8:1:2:{:x}:{:x}::1", i >> 8, i & 255).into_bytes())
            .collect();
        let n = limited(&mut b, addrs.iter().map(|a| (a.as_slice(), 0)));
        assert_eq!(n, 950, "limited {n} of 1000 (one host, 50 may pass)");
    }

    #[test]
    fn distinct_64s_are_not_merged() {
        let mut b = blocker(LIMIT);
        for i in 0..5_000u32 {
            let a = format!("2001:db8:{:x}:{:x}::1", i >> 8, i & 255);
            assert!(b.admit(a.as_bytes(), u64::from(i)), "{a}");
            assert!(
                b.admit(a.replace("::1", "::2").as_bytes(), u64::from(i)),
                "{a}"
            );
        }
    }

    #[test]
    fn one_shot_senders_at_a_high_rate_and_a_peer_under_the_limit_are_never_limited() {
        // 50 000 distinct senders in 20 s (2500/s), each seen once or twice, with two steady
        // peers at 4.5 and 4.9 per second among them.
        let mut b = blocker(LIMIT);
        for i in 0..50_000u32 {
            let t = u64::from(i) * 2 / 5;
            let a = v4(0x0c00_0000 + i);
            assert!(b.admit(&a, t), "one-shot {i}");
            if i % 3 == 0 {
                assert!(b.admit(&a, t + 300), "second datagram of {i}");
            }
            if i % 556 == 0 {
                assert!(b.admit(b"10.0.0.45", t), "steady 4.5/s at {t}");
            }
            if i % 510 == 0 {
                assert!(b.admit(b"10.0.0.49", t), "steady 4.9/s at {t}");
            }
        }
    }

    #[test]
    fn memory_is_fixed_whatever_the_sources() {
        let mut b = blocker(LIMIT);
        let before = b.memory_bytes();
        for n in 0..100_000u32 {
            b.admit(&v4(n.wrapping_mul(2_654_435_761)), u64::from(n));
            b.admit(format!("2001:db8:{n:x}::1").as_bytes(), u64::from(n));
        }
        assert_eq!(b.memory_bytes(), before);
    }

    #[test]
    fn a_distributed_flood_is_held_and_one_shot_senders_among_it_pass() {
        // 300 sources x 100 datagrams in 10 s (3000/s), one-shot senders at 750/s among them
        // and a steady peer at 4/s: each flooder is held to 50, nobody else is limited.
        let mut b = blocker(LIMIT);
        let (mut flood, mut innocent) = (0, 0);
        for i in 0..30_000u32 {
            let t = u64::from(i) / 3;
            flood += usize::from(!b.admit(&v4(0x0a00_0000 + i % 300), t));
            if i % 4 == 0 {
                innocent += usize::from(!b.admit(&v4(0x0c00_0000 + i), t));
            }
            if i % 750 == 0 {
                assert!(b.admit(b"10.200.0.1", t), "steady peer at {t}");
            }
        }
        assert!(
            flood >= 14_500,
            "flood limited {flood} of 30000 (15000 past 50 each)"
        );
        assert!(innocent <= 7, "one-shot senders limited {innocent} of 7500");
    }

    #[test]
    fn peers_just_under_the_limit_joining_heavy_traffic_are_not_limited() {
        // 10 000 one-shot senders per second fill the sketch's counters; peers at 4.9, 4.5 and
        // 4 per second join after 7 s (their first datagram finds other sources' counts).
        let mut b = blocker(LIMIT);
        for i in 0..200_000u64 {
            let t = i / 10;
            assert!(b.admit(&v4(0x0c00_0000 + i as u32), t), "one-shot {i}");
            for (j, step) in [(0u8, 2040u64), (1, 2222), (2, 2500)] {
                if t >= 7_000 && i % step == 0 {
                    assert!(b.admit(&[b'p', j], t), "peer {j} at {t}");
                }
            }
        }
    }

    #[test]
    fn a_burst_straddling_a_window_boundary_is_seen_whole() {
        let mut b = blocker(LIMIT);
        let first = (0..50).filter(|_| b.admit(b"10.0.0.1", 9_999)).count();
        let second = (0..50).filter(|_| b.admit(b"10.0.0.1", 10_000)).count();
        assert_eq!((first, second), (50, 0));
        // Half a window later, half of the previous window still counts.
        let mut b = blocker(LIMIT);
        assert_eq!((0..50).filter(|_| b.admit(b"10.0.0.1", 9_999)).count(), 50);
        assert_eq!((0..50).filter(|_| b.admit(b"10.0.0.1", 15_000)).count(), 25);
    }

    #[test]
    fn without_a_block_time_only_datagrams_over_the_limit_are_dropped() {
        let mut b = blocker(RateLimit {
            block_ms: 0,
            ..LIMIT
        });
        // 10 per second for 60 s: the limit lets 5 per second through.
        let admitted = (0..600u64)
            .filter(|i| b.admit(b"10.0.0.1", i * 100))
            .count();
        assert!(
            (290..=310).contains(&admitted),
            "admitted {admitted} of 600"
        );
    }

    #[test]
    fn addresses_of_one_source_share_its_count() {
        let mut b = blocker(LIMIT);
        // IPv4 and its IPv4-mapped IPv6 form (a dual-stack socket), and scoped link-local
        // addresses of one /64.
        let v4 = (0..100)
            .filter(|i| {
                b.admit(
                    if i % 2 == 0 {
                        b"10.0.0.1"
                    } else {
                        b"::ffff:10.0.0.1"
                    },
                    0,
                )
            })
            .count();
        let link = (0..100u32)
            .filter(|i| b.admit(format!("fe80::{i:x}%lo").as_bytes(), 0))
            .count();
        // Text that is no address (only a user-supplied socket can report one) is its own source.
        let text = (0..100).filter(|_| b.admit(b"not an address", 0)).count();
        assert_eq!((v4, link, text), (50, 50, 50));
    }

    #[test]
    fn a_clock_stepping_back_is_no_time_passing() {
        let mut b = blocker(LIMIT);
        assert_eq!((0..50).filter(|_| b.admit(b"10.0.0.1", 50_000)).count(), 50);
        assert!(
            !b.admit(b"10.0.0.1", 0),
            "counted in the window of the latest time seen"
        );
        assert!(b.admit(b"10.0.0.2", 0));
    }

    #[test]
    fn a_limit_past_the_counters_is_applied_as_their_top() {
        let mut b = blocker(RateLimit {
            per_second: u32::MAX,
            window_ms: u64::MAX,
            block_ms: u64::MAX,
        });
        let admitted = (0..70_000).filter(|_| b.admit(b"10.0.0.1", 5)).count();
        assert_eq!(admitted, usize::from(u16::MAX - 1));
        assert!(
            !b.admit(b"10.0.0.1", u64::MAX),
            "blocked until the end of time"
        );
    }
}
