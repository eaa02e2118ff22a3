//! The inbox: records waiting for JS, as one byte buffer plus one tape of i32 words
//! (format in docs/ARCHITECTURE.md). JS receives both in a single `drain()` and builds message
//! objects as views of the bytes, so no per-field value ever crosses the napi boundary.

use super::tape::HEADER_WORDS;

/// Most bytes the inbox holds before datagrams are dropped (counted). Bounds memory when JS is
/// blocked: a few seconds of a fast flood, far more than a healthy event loop ever leaves behind.
pub const MAX_INBOX_BYTES: usize = 8 << 20;
/// Most tape words the inbox holds; the tape of a datagram is at most about 1.5 words per byte.
pub const MAX_INBOX_WORDS: usize = 4 << 20;

/// Pending records and the bytes they point into.
#[derive(Debug, Default)]
pub struct Inbox {
    pub(crate) bytes: Vec<u8>,
    pub(crate) tape: Vec<i32>,
    /// Where the previous record's address text sits, so consecutive datagrams from one peer
    /// (the usual case in a burst) share it: fewer bytes, and JS reuses the string.
    last_address: Option<(usize, usize)>,
}

/// Capacity above which [`Inbox::release_spare`] gives the buffers back, and what it keeps then.
const RELEASE_BYTES: usize = 1 << 20;
const KEEP_BYTES: usize = 64 << 10;
const RELEASE_WORDS: usize = 256 << 10;
const KEEP_WORDS: usize = 16 << 10;

/// Where a record's header and value start, to be completed by the caller.
pub(crate) struct RecordStart {
    pub header: usize,
    pub bytes_base: usize,
}

impl Inbox {
    /// True when there is nothing for JS.
    pub fn is_empty(&self) -> bool {
        self.tape.is_empty()
    }

    /// Number of tape words pending (what `drain` needs room for).
    pub fn words(&self) -> usize {
        self.tape.len()
    }

    /// Whether a datagram of `len` bytes is guaranteed to fit under the caps.
    pub(crate) fn has_room_for(&self, len: usize) -> bool {
        let worst_words = HEADER_WORDS + 3 * len + 3;
        self.bytes.len() + len + 64 <= MAX_INBOX_BYTES
            && self.tape.len() + worst_words <= MAX_INBOX_WORDS
    }

    /// How many more datagrams of up to `len` bytes are sure to fit (see `has_room_for`) once
    /// `pending` more datagrams of `pending_bytes` in all, read but not ingested yet, are in.
    pub fn room_for(&self, len: usize, pending: usize, pending_bytes: usize) -> usize {
        let used_bytes = self.bytes.len() + pending_bytes + 64 * pending;
        let used_words = self.tape.len() + (HEADER_WORDS + 3) * pending + 3 * pending_bytes;
        let bytes = MAX_INBOX_BYTES.saturating_sub(used_bytes) / (len + 64);
        let words = MAX_INBOX_WORDS.saturating_sub(used_words) / (HEADER_WORDS + 3 * len + 3);
        bytes.min(words)
    }

    /// Appends the address text (or reuses the previous one) and a zeroed header.
    pub(crate) fn begin(&mut self, address: &[u8]) -> (RecordStart, usize, usize) {
        let (start, len) = match self.last_address {
            Some((start, len)) if self.bytes.get(start..start + len) == Some(address) => {
                (start, len)
            }
            _ => {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(address);
                self.last_address = Some((start, address.len()));
                (start, address.len())
            }
        };
        let header = self.tape.len();
        self.tape.resize(header + HEADER_WORDS, 0);
        let record = RecordStart {
            header,
            bytes_base: self.bytes.len(),
        };
        (record, start, len)
    }

    /// Forgets a record begun with [`Inbox::begin`] (its address text may stay: it is shared).
    pub(crate) fn abandon(&mut self, record: RecordStart) {
        self.tape.truncate(record.header);
        self.bytes.truncate(record.bytes_base);
    }

    /// Gives back capacity grown for a burst (more than 1 MiB of bytes or 256 Ki words) that
    /// the pending records do not use. Returns true when it did. Called while the socket is quiet
    /// (the binding's `returnFreeMemory`): releasing on every drain made a steady flow of big
    /// batches regrow its buffers each time.
    pub fn release_spare(&mut self) -> bool {
        let mut released = false;
        if self.bytes.capacity() > RELEASE_BYTES {
            self.bytes.shrink_to(self.bytes.len().max(KEEP_BYTES));
            released = true;
        }
        if self.tape.capacity() > RELEASE_WORDS {
            self.tape.shrink_to(self.tape.len().max(KEEP_WORDS));
            released = true;
        }
        released
    }

    /// Bytes the next drain hands over (what a caller must allocate for them).
    pub fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Copies the pending tape into `out` (word 0 = words used) and hands the bytes to `take`.
    /// Returns `Err(needed)` when `out` is too small, leaving the inbox untouched.
    pub fn drain<R>(&mut self, out: &mut [i32], take: impl FnOnce(&[u8]) -> R) -> Result<R, usize> {
        let needed = self.tape.len() + 1;
        if out.len() < needed {
            return Err(needed);
        }
        out[0] = self.tape.len() as i32;
        out[1..needed].copy_from_slice(&self.tape);
        let result = take(&self.bytes);
        self.tape.clear();
        self.bytes.clear();
        self.last_address = None;
        Ok(result)
    }
}
