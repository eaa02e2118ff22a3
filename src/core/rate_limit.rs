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
}
