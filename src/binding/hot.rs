//! The calls JS makes for every datagram, as plain Node-API functions.
//!
//! A `#[napi]` class method costs about 260 ns per call on the 2-vCPU machine of bench/, about
//! 200 ns of it in napi-rs's per-call bookkeeping (a native-borrow scope registered in a
//! process-wide map, a class identity check), measured with `perf`. A query and its reply make
//! five to seven of these calls on each side. Here each function gets its state as N-API callback
//! data and reads its arguments with the plain N-API getters: about 60 ns per call.
//!
//! [`functions`] makes them once per JS environment; each takes the engine's handle first
//! ([`super::raw::handle`]: an N-API external owning an `Rc` of the [`EngineInner`] state; everything
//! here runs on the JS thread that created it). lib/native.js binds them to each engine object.

use std::cell::{Cell, RefCell};
use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr};
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;

use napi::sys;

use super::raw::{run, BadArgument, Call, Output, INLINE_TEXT};
use super::Io;
use crate::core::engine::Source;
use crate::driver::{BoundSocket, Shared};

/// `enqueue()` result when the address is not an IP literal: JS resolves it and calls again.
pub(super) const SEND_NOT_AN_IP: i32 = -1_000_000;
/// `sendNow()` result when datagrams wait for `flush()`: JS enqueues behind them instead.
pub(super) const SEND_LATER: i32 = -1_000_001;
// errno values from libc, so they are the target's own (JS names them with util.getSystemErrorName).
pub(super) const EINVAL: i32 = libc::EINVAL;
pub(super) const EBADF: i32 = libc::EBADF;

/// Hands memory freed inside the allocator back to the system. glibc raises its mmap threshold
/// each time a large mmapped block is freed, so after one burst the next large buffers (the
/// inbox's, the batch Buffers and tapes of JS) come from the heap, and freeing them only returns
/// them to glibc's free lists: 4 sockets kept some 50 MB more than k-rpc-socket after one burst.
/// JS calls this rarely: a tick after a burst, and once big buffers it dropped are collected.
fn return_free_memory() {
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
    fn register(&self, last_tid: u32, host: &[u8], gen: u32, port: u32) -> f64 {
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

    /// The slot holding `tid`, or -1.
    fn lookup(&self, tid: u32) -> i32 {
        let Ok(tid) = u16::try_from(tid) else {
            return -1;
        };
        self.shared
            .engine()
            .lookup(tid)
            .map_or(-1, |slot| slot as i32)
    }

    /// Feeds a datagram received by a JS socket (the `opts.socket` path).
    fn ingest(&self, datagram: &[u8], address: &[u8], port: u32, ipv6: bool) {
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
    fn pending_bytes(&self) -> f64 {
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
    fn drain(&self, tape: &mut [i32], bytes: &mut [u8]) -> i32 {
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
    fn enqueue(&self, data: &[u8], port: u32, address: &[u8]) -> i32 {
        self.send_with(port, address, |socket, to| match socket.enqueue(data, to) {
            Ok(()) => 0,
            Err(e) => -e.raw_os_error().unwrap_or(EINVAL),
        })
    }

    /// Sends `data` at once (see `BoundSocket::send_now`): bytes sent, `-errno`,
    /// `SEND_NOT_AN_IP` when `address` needs a DNS lookup first, or `SEND_LATER` when datagrams
    /// are waiting for `flush()` (then nothing was done: enqueue it behind them).
    fn send_now(&self, data: &[u8], port: u32, address: &[u8]) -> i32 {
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
        let Some(ip) = std::str::from_utf8(address)
            .ok()
            .and_then(|text| text.parse::<IpAddr>().ok())
        else {
            return Err(SEND_NOT_AN_IP);
        };
        let ip = match ip {
            IpAddr::V4(v4) if self.dual_stack() => IpAddr::V6(v4.to_ipv6_mapped()),
            ip => ip,
        };
        if ip.is_ipv6() != self.ipv6 {
            return Err(-EINVAL);
        }
        Ok(SocketAddr::new(ip, u16::try_from(port).unwrap_or(0)))
    }

    /// Sends everything enqueued; `results[i]` gets bytes sent or `-errno` per datagram. Returns
    /// the count, or `-needed` when `results` is too short (nothing sent).
    fn flush(&self, results: &mut [i32]) -> i32 {
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

type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// An object holding the per-datagram functions. Made once per JS environment: each function
/// takes the engine's handle (see [`super::raw::handle`]) as its first argument, so no engine needs
/// functions of its own (8 functions per engine cost 4.5 KB of RSS each, measured with 10,000
/// engines).
///
/// # Safety
/// `env` must be the live environment of the current call, on its JS thread.
pub(super) unsafe fn functions(env: sys::napi_env) -> Option<sys::napi_value> {
    const FUNCTIONS: [(&CStr, Callback); 10] = [
        (c"register", register),
        (c"release", release),
        (c"lookup", lookup),
        (c"ingest", ingest),
        (c"pendingBytes", pending_bytes),
        (c"drain", drain),
        (c"enqueue", enqueue),
        (c"sendNow", send_now),
        (c"flush", flush),
        (c"returnFreeMemory", return_free_memory_fn),
    ];
    let mut object = ptr::null_mut();
    // SAFETY: plain N-API calls on the JS thread of `env`.
    unsafe {
        if sys::napi_create_object(env, &mut object) != sys::Status::napi_ok {
            return None;
        }
        for (name, callback) in FUNCTIONS {
            let mut function = ptr::null_mut();
            if sys::napi_create_function(
                env,
                name.as_ptr(),
                name.count_bytes() as isize,
                Some(callback),
                ptr::null_mut(),
                &mut function,
            ) != sys::Status::napi_ok
                || sys::napi_set_named_property(env, object, name.as_ptr(), function)
                    != sys::Status::napi_ok
            {
                return None;
            }
        }
    }
    Some(object)
}

/// `register(lastTid, host, gen, port)`: `slot * 65536 + tid`, or -1 when no tid is free.
unsafe extern "C" fn register(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"register", |call| {
            let (mut inline, mut heap) = ([0; INLINE_TEXT], Vec::new());
            let host = call.text(1, &mut inline, &mut heap)?;
            Ok(Output::Number(call.hot.register(
                call.u32(0)?,
                host,
                call.u32(2)?,
                call.u32(3)?,
            )))
        })
    }
}

/// `returnFreeMemory()`: gives back the inbox's spare capacity after a burst, then see
/// [`return_free_memory`]. JS calls it on the first quiet tick after a burst, and once a big
/// tape or batch Buffer it dropped has been garbage collected.
unsafe extern "C" fn return_free_memory_fn(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"returnFreeMemory", |call| {
            call.hot.shared.engine().inbox().release_spare();
            return_free_memory();
            Ok(Output::Undefined)
        })
    }
}

/// `release(slot)`: frees a slot.
unsafe extern "C" fn release(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"release", |call| {
            call.hot.shared.engine().release(call.u32(0)?);
            Ok(Output::Undefined)
        })
    }
}

/// `lookup(tid)`: the slot holding `tid`, or -1.
unsafe extern "C" fn lookup(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"lookup", |call| {
            Ok(Output::Int(call.hot.lookup(call.u32(0)?)))
        })
    }
}

/// `ingest(datagram, address, port, ipv6)`.
unsafe extern "C" fn ingest(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"ingest", |call| {
            let (mut inline, mut heap) = ([0; INLINE_TEXT], Vec::new());
            let address = call.text(1, &mut inline, &mut heap)?;
            call.hot
                .ingest(call.bytes(0)?, address, call.u32(2)?, call.bool(3)?);
            Ok(Output::Undefined)
        })
    }
}

/// `pendingBytes()`: bytes waiting for `drain()`, or -1.
unsafe extern "C" fn pending_bytes(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"pendingBytes", |call| {
            Ok(Output::Number(call.hot.pending_bytes()))
        })
    }
}

/// `drain(tape, bytes)`: see [`EngineInner::drain`].
unsafe extern "C" fn drain(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"drain", |call| {
            let (tape, bytes) = (call.int32s(0)?, call.bytes(1)?);
            // Both are written: two views of one memory would be two `&mut` to it.
            let tape_range = tape.as_ptr_range();
            let (tape_start, tape_end) = (tape_range.start as usize, tape_range.end as usize);
            let bytes_range = bytes.as_ptr_range();
            let (bytes_start, bytes_end) = (bytes_range.start as usize, bytes_range.end as usize);
            if tape_start < bytes_end && bytes_start < tape_end {
                return Err(BadArgument);
            }
            Ok(Output::Int(call.hot.drain(tape, bytes)))
        })
    }
}

/// `enqueue(buffer, offset, length, port, address)`: 0, `-errno`, or `SEND_NOT_AN_IP`.
unsafe extern "C" fn enqueue(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"enqueue", |call| {
            with_datagram(call, EngineInner::enqueue)
        })
    }
}

/// `sendNow(buffer, offset, length, port, address)`: bytes sent, `-errno`, `SEND_NOT_AN_IP` or
/// `SEND_LATER`.
unsafe extern "C" fn send_now(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"sendNow", |call| {
            with_datagram(call, EngineInner::send_now)
        })
    }
}

/// Reads the `(buffer, offset, length, port, address)` of a send and hands the datagram, the port
/// and the address text to `send`. A range outside the buffer is `-EINVAL`, as dgram's.
fn with_datagram(
    call: &Call<'_>,
    send: impl FnOnce(&EngineInner, &[u8], u32, &[u8]) -> i32,
) -> Result<Output, BadArgument> {
    let buffer = call.bytes(0)?;
    let (offset, length) = (call.u32(1)? as usize, call.u32(2)? as usize);
    let Some(data) = buffer.get(offset..offset.saturating_add(length)) else {
        return Ok(Output::Int(-EINVAL));
    };
    let (mut inline, mut heap) = ([0; INLINE_TEXT], Vec::new());
    let address = call.text(4, &mut inline, &mut heap)?;
    Ok(Output::Int(send(call.hot, data, call.u32(3)?, address)))
}

/// `flush(results)`: see [`EngineInner::flush`].
unsafe extern "C" fn flush(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"flush", |call| {
            Ok(Output::Int(call.hot.flush(call.int32s(0)?)))
        })
    }
}
