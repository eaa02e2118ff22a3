//! The transaction table: which queries are in flight, under which 16-bit tid, in which slot.
//!
//! Slots mirror k-rpc-socket's `_ids`/`_reqs` arrays index for index (JS keeps those arrays for
//! compatibility), and a new query takes the lowest free slot exactly like the reference's
//! `_ids.indexOf(0)`. Unlike the reference, every operation is O(1) or O(log n): a tid index
//! replaces the linear `indexOf` scans, a min-heap hands out the lowest free slot, and deadlines
//! sit in a FIFO queue, so expiring requests costs O(expired) instead of a scan per tick.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use super::multiply_hash::MultiplyHash;

/// Number of usable tids: 1..=65535 (k-rpc-socket never hands out 0).
const TID_SPACE: usize = 65536;
/// Deadline entries of completed requests tolerated beyond twice the live count (tiny under
/// the fuzzer, whose short programs would otherwise never reach a compaction).
#[cfg(not(fuzzing))]
const DEADLINE_SLACK: usize = 1024;
#[cfg(fuzzing)]
const DEADLINE_SLACK: usize = 2;

/// A query waiting for its reply.
#[derive(Debug)]
pub struct Pending {
    /// The 16-bit transaction id written into `t`.
    pub tid: u16,
    /// JS-chosen generation number, so records about a slot that was freed and reused in the
    /// meantime can be recognised as stale on the JS side.
    pub gen: u32,
    /// `peer.host` as given to `query()`. Replies are matched by comparing it, as text, with the
    /// source address text (the reference compares `req.peer.host !== rinfo.address`), which keeps
    /// non-IP hosts of custom sockets (WebRTC ids and the like) working too.
    pub host: HostText,
    /// `peer.port`, compared with the reply's source port when port matching is on; 0 = any.
    pub port: u16,
    /// The time, on the caller's clock (ticks of the JS timer for the binding), from which the
    /// query has timed out.
    pub deadline: u64,
}

/// The text of a query's `peer.host`: inline up to [`HostText::INLINE`] bytes (every IP literal
/// without a zone index), on the heap beyond (the hosts of custom sockets can be any string). A
/// query made and answered then costs no allocation for it.
#[derive(Debug, Clone)]
pub struct HostText(HostRepr);

#[derive(Debug, Clone)]
enum HostRepr {
    /// `len` bytes at the start of `bytes`.
    Inline {
        len: u8,
        bytes: [u8; HostText::INLINE],
    },
    Heap(Box<[u8]>),
}

impl HostText {
    /// Longest text kept inline: `INET6_ADDRSTRLEN`, an IPv6 literal's longest text and its NUL.
    pub const INLINE: usize = 46;

    /// A copy of `text`.
    pub fn new(text: &[u8]) -> Self {
        let mut bytes = [0; Self::INLINE];
        match bytes.get_mut(..text.len()) {
            Some(room) => {
                room.copy_from_slice(text);
                // At most INLINE (46) bytes: the length fits.
                let len = text.len() as u8;
                HostText(HostRepr::Inline { len, bytes })
            }
            None => HostText(HostRepr::Heap(text.into())),
        }
    }
}

impl std::ops::Deref for HostText {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            HostRepr::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or_default(),
            HostRepr::Heap(text) => text,
        }
    }
}

/// Why a query could not be registered.
#[derive(Debug, PartialEq, Eq)]
pub enum RegisterError {
    /// All 65535 tids are in flight; handing one out again would let one reply complete the
    /// wrong query (the reference does exactly that after a wraparound).
    NoFreeTid,
}

/// Slots, tids and deadlines of the queries in flight.
#[derive(Debug, Default)]
pub struct Transactions {
    slots: Vec<Option<Pending>>,
    free_slots: BinaryHeap<Reverse<u32>>,
    /// The slot of each tid in flight. A hash map sized by what is in flight (a flat 65536-entry
    /// array per socket made 10,000 short-lived sockets fragment the allocator by 60 MB).
    slot_by_tid: HashMap<u16, u32, MultiplyHash>,
    /// `(deadline, slot, gen)` in registration order. All requests of one table share a lifetime,
    /// so registration order is deadline order; completed requests are skipped lazily when their
    /// entry reaches the front (their `gen` no longer matches).
    deadlines: VecDeque<(u64, u32, u32)>,
    in_flight: usize,
}

impl Transactions {
    /// Creates an empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of queries in flight.
    pub fn len(&self) -> usize {
        self.in_flight
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.in_flight == 0
    }

    /// Number of slots ever used (the length k-rpc-socket's `_ids` array would have).
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Registers a query. `last_tid` is the tid handed out last (JS `_tick`); the new tid is the
    /// next one after it that is not in flight, skipping 0 and wrapping after 65535, so with no
    /// collisions the sequence is exactly the reference's 1, 2, ..., 65535, 1, ...
    /// O(1) amortised; O(65535) only when nearly every tid is in flight.
    pub fn register(
        &mut self,
        last_tid: u16,
        host: &[u8],
        gen: u32,
        deadline: u64,
    ) -> Result<(u32, u16), RegisterError> {
        self.register_peer(last_tid, host, 0, gen, deadline)
    }

    /// [`Transactions::register`] with the peer's port, for port-aware matching.
    pub fn register_peer(
        &mut self,
        last_tid: u16,
        host: &[u8],
        port: u16,
        gen: u32,
        deadline: u64,
    ) -> Result<(u32, u16), RegisterError> {
        let tid = self.next_free_tid(last_tid)?;
        let slot = match self.free_slots.pop() {
            Some(Reverse(slot)) => slot,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        self.slots[slot as usize] = Some(Pending {
            tid,
            gen,
            host: HostText::new(host),
            port,
            deadline,
        });
        self.slot_by_tid.insert(tid, slot);
        self.deadlines.push_back((deadline, slot, gen));
        self.in_flight += 1;
        Ok((slot, tid))
    }

    fn next_free_tid(&self, last_tid: u16) -> Result<u16, RegisterError> {
        let mut tid = last_tid;
        for _ in 0..TID_SPACE - 1 {
            tid = if tid == u16::MAX { 1 } else { tid + 1 };
            if !self.slot_by_tid.contains_key(&tid) {
                return Ok(tid);
            }
        }
        Err(RegisterError::NoFreeTid)
    }

    /// Frees a slot and its tid. Freeing a free or unknown slot does nothing, like the
    /// reference's `_cancel` on an empty slot.
    pub fn release(&mut self, slot: u32) -> Option<Pending> {
        let pending = self.slots.get_mut(slot as usize)?.take()?;
        self.slot_by_tid.remove(&pending.tid);
        self.free_slots.push(Reverse(slot));
        self.in_flight -= 1;
        if self.deadlines.len() > 2 * self.in_flight + DEADLINE_SLACK {
            self.compact_deadlines();
        }
        Some(pending)
    }

    /// Drops the deadline entries of requests that completed. Answered requests otherwise stay
    /// queued until their deadline: at 150k replies/s with a 2 s timeout that was 375k entries,
    /// 8 MB, for 16 queries in flight. Compacting when the queue is more than twice the live
    /// count costs O(1) amortised per request (at least `in_flight + DEADLINE_SLACK` releases
    /// happen between two compactions, each of which walks at most `2 * in_flight + slack`).
    fn compact_deadlines(&mut self) {
        let slots = &self.slots;
        self.deadlines.retain(|&(_, slot, gen)| {
            matches!(slots.get(slot as usize), Some(Some(pending)) if pending.gen == gen)
        });
        if self.deadlines.capacity() > 4 * self.deadlines.len() + 4 * DEADLINE_SLACK {
            self.deadlines
                .shrink_to(2 * self.deadlines.len() + DEADLINE_SLACK);
        }
    }

    /// Number of deadline entries queued, live or not (for tests of the bound above).
    #[cfg(test)]
    fn queued_deadlines(&self) -> usize {
        self.deadlines.len()
    }

    /// The slot and request currently holding `tid`. tid 0 is never in flight.
    pub fn lookup(&self, tid: u16) -> Option<(u32, &Pending)> {
        let slot = *self.slot_by_tid.get(&tid)?;
        let pending = self.slots.get(slot as usize)?.as_ref()?;
        Some((slot, pending))
    }

    /// Appends `(slot, gen)` of every request whose deadline is at or before `now`, in slot
    /// order (the reference times requests out in slot order within one tick). Each request is
    /// reported once; it stays registered until the caller releases it, because the JS side
    /// frees slots through the overridable `_cancel`.
    pub fn expire(&mut self, now: u64, out: &mut Vec<(u32, u32)>) {
        let first = out.len();
        while let Some(&(deadline, slot, gen)) = self.deadlines.front() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_front();
            let live = matches!(
                self.slots.get(slot as usize),
                Some(Some(pending)) if pending.gen == gen
            );
            if live {
                out.push((slot, gen));
            }
        }
        out[first..].sort_unstable();
        // A table that drained completely can shed the lazily skipped entries in one go.
        if self.in_flight == 0 {
            self.deadlines.clear();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn reg(t: &mut Transactions, last: u16, gen: u32, deadline: u64) -> (u32, u16) {
        t.register(last, b"127.0.0.1", gen, deadline).unwrap()
    }

    #[test]
    fn host_texts_short_and_long_keep_their_bytes() {
        for len in [
            0,
            1,
            9,
            HostText::INLINE - 1,
            HostText::INLINE,
            HostText::INLINE + 1,
            300,
        ] {
            let text: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert_eq!(&*HostText::new(&text), &text[..], "length {len}");
        }
    }

    #[test]
    fn tids_follow_the_reference_sequence_and_skip_zero() {
        let mut t = Transactions::new();
        assert_eq!(reg(&mut t, 0, 1, 10), (0, 1));
        assert_eq!(reg(&mut t, 1, 2, 10), (1, 2));
        assert_eq!(reg(&mut t, 0x1233, 3, 10).1, 0x1234);
        assert_eq!(reg(&mut t, 65534, 4, 10).1, 65535);
        assert_eq!(
            reg(&mut t, 65535, 5, 10).1,
            3,
            "wraps to 1, skipping the in-flight 1 and 2"
        );
    }

    #[test]
    fn a_tid_in_flight_is_never_handed_out_again() {
        let mut t = Transactions::new();
        let (_, a) = reg(&mut t, 0, 1, 10);
        let (_, b) = reg(&mut t, 0, 2, 10);
        assert_eq!((a, b), (1, 2));
        t.release(0);
        assert_eq!(reg(&mut t, 0, 3, 10).1, 1, "free again after release");
    }

    #[test]
    fn answered_requests_do_not_pile_up_in_the_deadline_queue() {
        let mut t = Transactions::new();
        let mut last = 0;
        let mut live = std::collections::VecDeque::new();
        // 16 in flight, a million answered long before their deadline.
        for gen in 0..1_000_000u32 {
            let (slot, tid) = reg(&mut t, last, gen, 1_000_000_000);
            last = tid;
            live.push_back(slot);
            if live.len() > 16 {
                t.release(live.pop_front().unwrap()).unwrap();
            }
            assert!(t.queued_deadlines() <= 2 * t.len() + DEADLINE_SLACK + 1);
        }
        // Expiry still finds every live request, once, in slot order.
        let mut out = Vec::new();
        t.expire(u64::MAX, &mut out);
        let mut expected: Vec<u32> = live.iter().copied().collect();
        expected.sort_unstable();
        assert_eq!(
            out.iter().map(|&(slot, _)| slot).collect::<Vec<_>>(),
            expected
        );
    }

    #[test]
    fn lowest_free_slot_is_reused_like_index_of_zero() {
        let mut t = Transactions::new();
        for g in 0..3 {
            reg(&mut t, g as u16, g, 10);
        }
        t.release(1);
        t.release(0);
        assert_eq!(reg(&mut t, 3, 9, 10).0, 0);
        assert_eq!(reg(&mut t, 4, 10, 10).0, 1);
        assert_eq!(reg(&mut t, 5, 11, 10).0, 3);
        assert_eq!(t.slot_count(), 4);
    }

    #[test]
    fn lookup_and_release() {
        let mut t = Transactions::new();
        let (slot, tid) = reg(&mut t, 41, 7, 10);
        let (s, p) = t.lookup(tid).unwrap();
        assert_eq!((s, p.gen, &*p.host), (slot, 7, &b"127.0.0.1"[..]));
        assert!(t.lookup(0).is_none());
        assert!(t.release(slot).is_some());
        assert!(t.release(slot).is_none(), "double release is a no-op");
        assert!(t.lookup(tid).is_none());
        assert!(t.is_empty());
    }

    #[test]
    fn exhausting_the_tid_space_is_an_error_not_a_duplicate() {
        let mut t = Transactions::new();
        for i in 0..65535u32 {
            t.register(i as u16, b"h", i, 0).unwrap();
        }
        assert_eq!(t.register(0, b"h", 0, 0), Err(RegisterError::NoFreeTid));
        t.release(500);
        assert_eq!(t.register(0, b"h", 1, 0).unwrap().1, 501);
    }

    #[test]
    fn expire_reports_each_live_request_once_in_slot_order() {
        let mut t = Transactions::new();
        reg(&mut t, 0, 10, 100); // slot 0
        reg(&mut t, 1, 11, 100); // slot 1
        reg(&mut t, 2, 12, 100); // slot 2
        t.release(0);
        reg(&mut t, 3, 13, 100); // slot 0 again, registered last
        reg(&mut t, 4, 14, 200); // slot 3
        let mut out = Vec::new();
        t.expire(99, &mut out);
        assert!(out.is_empty());
        t.expire(100, &mut out);
        assert_eq!(out, vec![(0, 13), (1, 11), (2, 12)]);
        out.clear();
        t.expire(150, &mut out);
        assert!(out.is_empty(), "reported once even though still registered");
        t.expire(200, &mut out);
        assert_eq!(out, vec![(3, 14)]);
    }

    #[test]
    fn stale_deadlines_of_reused_slots_are_skipped() {
        let mut t = Transactions::new();
        reg(&mut t, 0, 1, 100);
        t.release(0);
        reg(&mut t, 1, 2, 300);
        let mut out = Vec::new();
        t.expire(100, &mut out);
        assert!(out.is_empty());
        t.expire(300, &mut out);
        assert_eq!(out, vec![(0, 2)]);
    }
}
