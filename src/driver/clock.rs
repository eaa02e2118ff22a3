//! The two clocks of one engine, kept by the driver so that the core only ever sees time as a
//! parameter and the binding holds none.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Ticks of the JS timer (the transaction table's time: a query times out on the 5th tick after
/// it was made, as the reference's ttl of 4 does) and monotonic milliseconds (the rate limiter's
/// time, read by whichever thread ingests).
#[derive(Debug)]
pub struct Clock {
    epoch: Instant,
    ticks: AtomicU64,
}

impl Clock {
    pub fn new() -> Self {
        Self {
            epoch: Instant::now(),
            ticks: AtomicU64::new(0),
        }
    }

    /// The clock's origin (the pacer counts nanoseconds from it).
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Milliseconds since the engine was made.
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The current tick.
    pub fn ticks(&self) -> u64 {
        // Only the JS thread advances it; Relaxed is enough for a counter read on that thread.
        self.ticks.load(Ordering::Relaxed)
    }

    /// Advances to the next tick and returns it.
    pub fn advance_tick(&self) -> u64 {
        self.ticks.fetch_add(1, Ordering::Relaxed) + 1
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
