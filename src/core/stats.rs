//! Counters an operator needs to see what the socket is doing (datagrams, drops, timeouts).
//! Plain integers: they are only touched under the engine's lock.

/// Cumulative counters of one socket. `queries_in_flight` is filled in when a snapshot is taken.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams received (including the ones dropped below).
    pub datagrams_in: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Datagrams handed to the kernel (or queued for it).
    pub datagrams_out: u64,
    /// Bytes handed to the kernel (or queued for it).
    pub bytes_out: u64,
    /// Datagrams that are not valid bencode (each one became a `warning`).
    pub malformed: u64,
    /// Replies whose tid is not in flight.
    pub unexpected_tid: u64,
    /// Replies whose tid is in flight but whose source is not the queried host.
    pub wrong_source: u64,
    /// Replies whose `t` is missing or not a byte string (dropped silently, as the reference does).
    pub bad_tid: u64,
    /// Queries that timed out.
    pub timeouts: u64,
    /// Datagrams dropped because JS had not drained the inbox and it reached its cap.
    pub dropped_inbox: u64,
    /// Datagrams from port 0 (dropped silently, as the reference does).
    pub dropped_port_zero: u64,
    /// Datagrams dropped by the opt-in per-source rate limit, before decoding.
    pub rate_limited: u64,
    /// Queries dropped unanswered by the opt-in read-only mode (BEP 43).
    pub dropped_read_only: u64,
    /// Datagrams that waited in the socket's send queue: for the pacer (`sendRate`), or for room
    /// in the kernel's send buffer.
    pub send_queued: u64,
    /// Datagrams refused (ENOBUFS) because that queue held its maximum (4 MiB).
    pub send_queue_full: u64,
    /// Sends the kernel refused.
    pub send_errors: u64,
    /// Queries in flight when the snapshot was taken.
    pub queries_in_flight: u64,
}
