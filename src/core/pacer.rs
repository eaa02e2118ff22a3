//! Opt-in pacing of outgoing datagrams (`sendRate`): a token bucket of `burst` tokens refilled
//! at `per_second`, kept as GCRA (the time the next datagram is due, in integer nanoseconds), so
//! no rounding accumulates over a long run. Time is a parameter: the driver passes nanoseconds
//! since the engine's epoch.

/// The bucket of one socket.
#[derive(Debug, Clone)]
pub struct Pacer {
    /// Nanoseconds of refill per datagram.
    interval: u64,
    /// How far ahead of `now` the schedule may run: `(burst - 1)` intervals (the bucket's
    /// depth), plus `slack`.
    tolerance: u64,
    /// When the schedule is next free (GCRA's theoretical arrival time).
    due: u64,
}

/// The runtime's timer has a 1 ms resolution and wakes up to about 2 ms late on a loaded machine;
/// the schedule may catch up that much (never by a whole interval, so no more than `burst` leave
/// at one instant), or every late wake-up would lower the rate below the setting. The cost: after
/// a burst, the next datagram may leave up to 2 ms before a strict bucket would let it.
const TIMER_SLACK_NS: u64 = 2_000_000;

impl Pacer {
    /// `per_second` datagrams per second on average, at most `burst` back to back.
    pub fn new(per_second: f64, burst: u32) -> Self {
        let interval = if per_second.is_finite() && per_second > 0.0 {
            (1e9 / per_second).round().clamp(1.0, u64::MAX as f64) as u64
        } else {
            u64::MAX
        };
        let slack = TIMER_SLACK_NS.min(interval.saturating_sub(1));
        Self {
            interval,
            tolerance: interval
                .saturating_mul(u64::from(burst.max(1)) - 1)
                .saturating_add(slack),
            due: 0,
        }
    }

    /// Nanoseconds from `now` until one datagram may leave (0: now).
    pub fn wait(&self, now: u64) -> u64 {
        self.due.saturating_sub(self.tolerance).saturating_sub(now)
    }

    /// Takes one token if one is there.
    pub fn try_take(&mut self, now: u64) -> bool {
        if self.wait(now) > 0 {
            return false;
        }
        self.due = self.due.max(now).saturating_add(self.interval);
        true
    }

    /// Takes up to `n` tokens; returns how many were there.
    pub fn take_up_to(&mut self, now: u64, n: usize) -> usize {
        let mut taken = 0;
        while taken < n && self.try_take(now) {
            taken += 1;
        }
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_burst_then_the_rate() {
        let mut p = Pacer::new(100.0, 5);
        assert_eq!(p.take_up_to(0, 10), 5);
        // 10 ms per token; the 2 ms slack lets the 6th leave at 8 ms.
        assert_eq!(p.wait(0), 8 * MS);
        assert!(!p.try_take(7 * MS));
        assert!(p.try_take(8 * MS));
        assert!(!p.try_take(8 * MS));
        // Over a long run the count is burst + elapsed * rate, whatever the wake-up pattern.
        let mut sent = 6;
        let mut now = 8 * MS;
        while now < 10_000 * MS {
            now += 7 * MS + 300_000;
            sent += p.take_up_to(now, usize::MAX);
        }
        let expected = 5 + (now + 2 * MS) / (10 * MS);
        assert!(
            sent as u64 == expected || sent as u64 + 1 == expected,
            "{sent} {expected}"
        );
    }

    #[test]
    fn no_more_than_burst_back_to_back_after_idle() {
        let mut p = Pacer::new(250.0, 1);
        assert_eq!(p.take_up_to(0, 10), 1);
        assert_eq!(p.take_up_to(60_000 * MS, 10), 1);
        let mut q = Pacer::new(10_000.0, 3);
        assert_eq!(q.take_up_to(5 * MS, 100), 3);
    }

    #[test]
    fn late_wake_ups_up_to_two_milliseconds_do_not_lower_the_rate() {
        let mut p = Pacer::new(250.0, 1);
        let mut now = 0;
        let mut sent = 0;
        // Each wake-up comes 1.9 ms after the datagram was due.
        for _ in 0..1000 {
            now = now.max(p.wait(now) + now) + 1_900_000;
            sent += p.take_up_to(now, usize::MAX);
        }
        let rate = sent as f64 / (now as f64 / 1e9);
        assert!((rate - 250.0).abs() < 2.5, "{rate}");
    }

    #[test]
    fn degenerate_settings_do_not_overflow() {
        let mut p = Pacer::new(1e12, u32::MAX);
        assert!(p.try_take(u64::MAX));
        let mut q = Pacer::new(f64::NAN, 1);
        assert!(q.try_take(0));
        assert!(!q.try_take(1_000_000 * MS));
    }
}
