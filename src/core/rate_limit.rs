//! Opt-in inbound limit per source address, applied before a datagram is decoded.
//!
//! The policy follows libtorrent's DHT "dos blocker": a source that averages more than
//! `per_second` datagrams over `window_ms` is ignored for `block_ms`. Only the busiest senders
//! need tracking, so the table is small and fixed (`SLOTS`); a new sender replaces the quietest
//! tracked one. Memory stays constant whatever a flood's source addresses are.

/// Senders tracked at once. libtorrent tracks 20; a few more cost nothing.
const SLOTS: usize = 32;

/// Limits of the blocker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Average datagrams per second a source may send over `window_ms`.
    pub per_second: u32,
    /// Averaging window.
    pub window_ms: u64,
    /// How long a source over the limit is ignored.
    pub block_ms: u64,
}

#[derive(Debug, Clone)]
struct Sender {
    address: [u8; 64],
    address_len: u8,
    window_start_ms: u64,
    count: u32,
    blocked_until_ms: u64,
}

impl Default for Sender {
    fn default() -> Self {
        Self {
            address: [0; 64],
            address_len: 0,
            window_start_ms: 0,
            count: 0,
            blocked_until_ms: 0,
        }
    }
}

impl Sender {
    fn is(&self, address: &[u8]) -> bool {
        self.address_len as usize == address.len() && self.address[..address.len()] == *address
    }
}

/// The table of tracked senders.
#[derive(Debug)]
pub struct Blocker {
    limit: RateLimit,
    senders: Vec<Sender>,
}

impl Blocker {
    /// A blocker with `limit`.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            senders: vec![Sender::default(); SLOTS],
        }
    }

    /// Counts one datagram from `address` at `now_ms`; false when it must be dropped.
    pub fn admit(&mut self, address: &[u8], now_ms: u64) -> bool {
        let Some(address_len) = u8::try_from(address.len()).ok().filter(|&n| n <= 64) else {
            return true;
        };
        let index = match self.senders.iter().position(|s| s.is(address)) {
            Some(index) => index,
            None => {
                let quietest = self.quietest(now_ms);
                let sender = &mut self.senders[quietest];
                *sender = Sender::default();
                sender.address[..address.len()].copy_from_slice(address);
                sender.address_len = address_len;
                sender.window_start_ms = now_ms;
                quietest
            }
        };
        let limit = self.limit;
        let sender = &mut self.senders[index];
        if now_ms < sender.blocked_until_ms {
            return false;
        }
        if now_ms.saturating_sub(sender.window_start_ms) >= limit.window_ms {
            sender.window_start_ms = now_ms;
            sender.count = 0;
        }
        sender.count = sender.count.saturating_add(1);
        let allowed = u64::from(limit.per_second).saturating_mul(limit.window_ms.max(1)) / 1000;
        if u64::from(sender.count) > allowed.max(1) {
            sender.blocked_until_ms = now_ms.saturating_add(limit.block_ms);
            sender.count = 0;
            return false;
        }
        true
    }

    /// Bytes this blocker holds, its own and on the heap.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() + self.senders.capacity() * std::mem::size_of::<Sender>()
    }

    /// The slot to recycle: an empty one, else the sender with the lowest count that is not
    /// currently blocked (blocked senders are the ones worth remembering).
    fn quietest(&self, now_ms: u64) -> usize {
        let mut best = 0;
        let mut best_key = (true, u32::MAX);
        for (i, s) in self.senders.iter().enumerate() {
            if s.address_len == 0 {
                return i;
            }
            let key = (now_ms < s.blocked_until_ms, s.count);
            if key < best_key {
                best_key = key;
                best = i;
            }
        }
        best
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
        let mut b = Blocker::new(LIMIT);
        let admitted = (0..100).filter(|i| b.admit(b"10.0.0.1", *i)).count();
        assert_eq!(admitted, 50, "5/s over 10 s is 50 datagrams");
        assert!(!b.admit(b"10.0.0.1", 200_000), "still blocked");
        assert!(b.admit(b"10.0.0.1", 300_100), "block over");
    }

    #[test]
    fn a_source_under_the_average_is_never_blocked() {
        let mut b = Blocker::new(LIMIT);
        for i in 0..10_000u64 {
            assert!(b.admit(b"10.0.0.2", i * 250), "4 per second");
        }
    }

    #[test]
    fn many_sources_cannot_evict_a_blocked_one() {
        let mut b = Blocker::new(LIMIT);
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
        Blocker::new(limit)
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
            assert!(b.admit(&v4(0x0b00_0000 + n), u64::from(n) / 10), "one-shot sender");
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
            assert!(b.admit(a.replace("::1", "::2").as_bytes(), u64::from(i)), "{a}");
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
}
