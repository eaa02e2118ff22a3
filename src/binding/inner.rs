//! The state of one engine on its JS thread, and what the per-datagram calls do with it. The
//! N-API plumbing is elsewhere: `raw.rs` (handles and argument reading) and `hot.rs` (the
//! exported functions), both of which use this module and neither of which it uses.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

use super::Io;
use crate::core::engine::Source;
use crate::driver::address::{destination, AddressError};
use crate::driver::{BoundSocket, Shared};

/// `enqueue()` result when the address is not an IP literal: JS resolves it and calls again.
pub(super) const SEND_NOT_AN_IP: i32 = -1_000_000;
/// `sendNow()` result when datagrams wait for `flush()`: JS enqueues behind them instead.
pub(super) const SEND_LATER: i32 = -1_000_001;
/// `query()` result when every tid is in flight (nothing was registered or sent).
pub(super) const QUERY_NO_TID: i32 = -1;
/// Added to `query()`'s result when the datagram was enqueued for `flush()` rather than sent:
/// above any `slot * 65536 + tid`, below 2^53.
pub(super) const QUERY_ENQUEUED: f64 = 4_294_967_296.0;
// errno values from libc, so they are the target's own (JS names them with util.getSystemErrorName).
pub(super) const EINVAL: i32 = libc::EINVAL;
pub(super) const EBADF: i32 = libc::EBADF;

/// Hands memory freed inside the allocator back to the system. glibc raises its mmap threshold
/// each time a large mmapped block is freed, so after one burst the next large buffers (the
/// inbox's, the batch Buffers and tapes of JS) come from the heap, and freeing them only returns
/// them to glibc's free lists: 4 sockets kept some 50 MB more than k-rpc-socket after one burst.
/// JS calls this rarely: a tick after a burst, and once big buffers it dropped are collected.
pub(super) fn return_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; any thread may call it.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The state of one `Engine` (the napi class) that its per-datagram functions reach through a
/// handle: the engine shared with the driver, the bound socket once there is one, the family.
pub(super) struct EngineInner {
    /// The engine, its clock and the wake flag, shared with the driver.
    pub shared: Arc<Shared>,
    pub io: Rc<RefCell<Option<Io>>>,
    pub ipv6: bool,
    /// IPV6_V6ONLY as the `ipv6Only` option set it (`None`: not given, the system's default).
    /// `Some(false)` on an IPv6 engine is dual-stack: IPv4 destinations are sent to as mapped.
    pub ipv6_only: Cell<Option<bool>>,
    /// `sendRate` as (datagrams per second, burst), for the socket's pacer at bind.
    pub send_rate: Cell<Option<(f64, u32)>>,
}

impl EngineInner {
    /// One IPv6 socket for both families (`type: 'udp6', ipv6Only: false`).
    pub fn dual_stack(&self) -> bool {
        self.ipv6 && self.ipv6_only.get() == Some(false)
    }

    /// Registers a query: `slot * 65536 + tid`, or -1 when every tid is in flight.
    pub(super) fn register(&self, last_tid: u32, host: &[u8], gen: u32, port: u32) -> f64 {
        let now = self.shared.clock.ticks();
        let port = u16::try_from(port).unwrap_or(0);
        match self
            .shared
            .engine()
            .register_peer(now, last_tid as u16, host, port, gen)
        {
            Ok((slot, tid)) => f64::from(slot) * 65536.0 + f64::from(tid),
            Err(_) => -1.0,
        }
    }

    /// Registers a query and sends its datagram, in one call (docs/ARCHITECTURE.md, "Sending a
    /// query"). `datagram` is the encoded query with room for the tid at `tid_at` (two bytes,
    /// written here once the tid is known). With `enqueue` (sends of this tick already wait for
    /// `flush()`) it goes behind them; otherwise it is sent at once, or enqueued if the outbox
    /// is not empty. Returns `slot * 65536 + tid`, plus [`QUERY_ENQUEUED`] when enqueued;
    /// [`QUERY_NO_TID`], [`SEND_NOT_AN_IP`], `-EBADF` (not bound) or `-EINVAL` (`tid_at` outside
    /// the datagram) with nothing registered or sent.
    ///
    /// A send that fails after registering (wrong family, a full outbox) leaves the query
    /// registered, to time out: a query's datagram has no send callback to report it to, on
    /// this path as on the two-call one, and the same counters see it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn query(
        &self,
        last_tid: u32,
        host: &[u8],
        gen: u32,
        port: u32,
        datagram: &mut [u8],
        tid_at: usize,
        enqueue: bool,
    ) -> f64 {
        let io = self.io.borrow();
        let Some(socket) = io.as_ref().map(|io| &io.socket) else {
            return f64::from(-EBADF);
        };
        if tid_at.checked_add(2).is_none_or(|end| end > datagram.len()) {
            return f64::from(-EINVAL);
        }
        let to = match self.destination(port, host) {
            Ok(to) => Some(to),
            Err(SEND_NOT_AN_IP) => return f64::from(SEND_NOT_AN_IP),
            Err(_) => None,
        };
        let registered = self.register(last_tid, host, gen, port);
        if registered < 0.0 {
            return f64::from(QUERY_NO_TID);
        }
        let tid = (registered % 65536.0) as u16;
        datagram[tid_at..tid_at + 2].copy_from_slice(&tid.to_be_bytes());
        let Some(to) = to else {
            return registered;
        };
        if !enqueue {
            if let Some(result) = socket.send_now(datagram, to) {
                self.shared.engine().count_send_result(result);
                return registered;
            }
        }
        match socket.enqueue(datagram, to) {
            Ok(()) => registered + QUERY_ENQUEUED,
            // The outbox is full (counted by `enqueue`, as on the two-call path).
            Err(_) => registered,
        }
    }

    /// The slot holding `tid`, or -1.
    pub(super) fn lookup(&self, tid: u32) -> i32 {
        let Ok(tid) = u16::try_from(tid) else {
            return -1;
        };
        self.shared
            .engine()
            .lookup(tid)
            .map_or(-1, |slot| slot as i32)
    }

    /// Feeds a datagram received by a JS socket (the `opts.socket` path).
    pub(super) fn ingest(&self, datagram: &[u8], address: &[u8], port: u32, ipv6: bool) {
        let source = Source {
            address,
            ipv6,
            port: u16::try_from(port).unwrap_or(0),
        };
        let now = self.shared.clock.now_ms();
        self.shared.engine().ingest_at(datagram, source, now);
    }

    /// Bytes waiting for the next `drain()`, or -1 when the inbox is empty.
    ///
    /// JS calls this first whenever it was woken, so this is where later datagrams are allowed to
    /// wake it again (`rearm`), before the inbox is looked at. Rearming only in `drain()` lost
    /// wake-ups on the runtime receive path: a wake sent for datagrams that an earlier drain
    /// had already taken found the inbox empty, JS returned without draining, and the flag stayed
    /// set, so no datagram woke JS again (seen as a server that stopped answering after a flood).
    pub(super) fn pending_bytes(&self) -> f64 {
        self.shared.rearm();
        let mut engine = self.shared.engine();
        if engine.inbox_is_empty() {
            -1.0
        } else {
            engine.inbox().byte_len() as f64
        }
    }

    /// Moves the inbox to JS: the tape into `tape` (word 0 = words used), the bytes into `bytes`
    /// (a Buffer JS allocated with `pendingBytes()`: cheaper than one made through napi, and
    /// from Node's pool when small). Returns the bytes copied (>= 1), 0 when there is nothing,
    /// -1 when `tape` is too small (`tape[0]` = -words needed), -2 when `bytes` is (ask again).
    pub(super) fn drain(&self, tape: &mut [i32], bytes: &mut [u8]) -> i32 {
        self.shared.rearm();
        let mut engine = self.shared.engine();
        let inbox = engine.inbox();
        if inbox.is_empty() {
            if let Some(first) = tape.first_mut() {
                *first = 0;
            }
            return 0;
        }
        let size = inbox.byte_len();
        if bytes.len() < size {
            return -2;
        }
        match inbox.drain(tape, |data| bytes[..size].copy_from_slice(data)) {
            Ok(()) => {
                drop(engine);
                self.shared.drained();
                size.max(1) as i32
            }
            Err(needed) => {
                if let Some(first) = tape.first_mut() {
                    *first = -(needed as i32);
                }
                -1
            }
        }
    }

    /// Accepts `data` for the next `flush()`. Returns 0, `-errno`, or `SEND_NOT_AN_IP` when
    /// `address` needs a DNS lookup first.
    pub(super) fn enqueue(&self, data: &[u8], port: u32, address: &[u8]) -> i32 {
        self.send_with(port, address, |socket, to| match socket.enqueue(data, to) {
            Ok(()) => 0,
            Err(e) => -e.raw_os_error().unwrap_or(EINVAL),
        })
    }

    /// Sends `data` at once (see `BoundSocket::send_now`): bytes sent, `-errno`,
    /// `SEND_NOT_AN_IP` when `address` needs a DNS lookup first, or `SEND_LATER` when datagrams
    /// are waiting for `flush()` (then nothing was done: enqueue it behind them).
    pub(super) fn send_now(&self, data: &[u8], port: u32, address: &[u8]) -> i32 {
        self.send_with(port, address, |socket, to| {
            let Some(result) = socket.send_now(data, to) else {
                return SEND_LATER;
            };
            self.shared.engine().count_send_result(result);
            result
        })
    }

    /// Runs `send` with the bound socket and the destination, or returns the code that stands
    /// for their absence (`-EBADF` before bind, `SEND_NOT_AN_IP`, `-EINVAL` for the wrong family).
    fn send_with(
        &self,
        port: u32,
        address: &[u8],
        send: impl FnOnce(&BoundSocket, SocketAddr) -> i32,
    ) -> i32 {
        let io = self.io.borrow();
        let Some(socket) = io.as_ref().map(|io| &io.socket) else {
            return -EBADF;
        };
        match self.destination(port, address) {
            Ok(to) => send(socket, to),
            Err(code) => code,
        }
    }

    /// The socket address to send to, or the code `enqueue`/`sendNow` return instead.
    fn destination(&self, port: u32, address: &[u8]) -> Result<SocketAddr, i32> {
        destination(address, port, self.ipv6, self.dual_stack()).map_err(|e| match e {
            AddressError::NotAnIp => SEND_NOT_AN_IP,
            AddressError::WrongFamily => -EINVAL,
        })
    }

    /// Sends everything enqueued; `results[i]` gets bytes sent or `-errno` per datagram. Returns
    /// the count, or `-needed` when `results` is too short (nothing sent).
    pub(super) fn flush(&self, results: &mut [i32]) -> i32 {
        let io = self.io.borrow();
        let Some(socket) = io.as_ref().map(|io| &io.socket) else {
            return 0;
        };
        let pending = socket.pending();
        if pending > results.len() {
            return -(pending as i32);
        }
        let count = socket.flush(results);
        let mut engine = self.shared.engine();
        for &result in &results[..count] {
            engine.count_send_result(result);
        }
        count as i32
    }
}
