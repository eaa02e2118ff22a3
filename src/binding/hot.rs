//! The calls JS makes for every datagram, as plain Node-API functions.
//!
//! A `#[napi]` class method costs about 260 ns per call on the 2-vCPU machine of bench/, about
//! 200 ns of it in napi-rs's per-call bookkeeping (a native-borrow scope registered in a
//! process-wide map, a class identity check), measured with `perf`. A query and its reply make
//! five to seven of these calls on each side. Here each function gets its state as N-API callback
//! data and reads its arguments with the plain N-API getters: about 60 ns per call.
//!
//! [`functions`] makes them once per JS environment; each takes the engine's [`handle`] first
//! (an N-API external owning an `Rc` of the [`Hot`] state: everything here runs on the JS thread
//! that created it). lib/native.js binds them to each engine object.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_void, CStr};
use std::net::{IpAddr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use napi::sys;

use super::Io;
use crate::core::engine::Source;
use crate::driver::Shared;

/// `enqueue()` result when the address is not an IP literal: JS resolves it and calls again.
pub(super) const SEND_NOT_AN_IP: i32 = -1_000_000;
/// `sendNow()` result when datagrams wait for `flush()`: JS enqueues behind them instead.
pub(super) const SEND_LATER: i32 = -1_000_001;
pub(super) const EINVAL: i32 = 22;
pub(super) const EBADF: i32 = 9;

/// Longest address text read without allocating. An IPv6 literal with a zone index is at most
/// 45 + 1 + 15 bytes; anything longer is still read, on the heap.
const INLINE_TEXT: usize = 80;

/// What the per-datagram functions need, shared with the `Engine` class.
pub(super) struct Hot {
    pub shared: Arc<Shared>,
    pub io: Rc<RefCell<Option<Io>>>,
    pub ipv6: bool,
    pub epoch: Instant,
}

impl Hot {
    pub fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Registers a query: `slot * 65536 + tid`, or -1 when every tid is in flight.
    fn register(&self, last_tid: u32, host: &[u8], gen: u32, port: u32) -> f64 {
        let now = self.now_ms();
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
        let now = self.now_ms();
        self.shared.engine().ingest_at(datagram, source, now);
    }

    /// Bytes waiting for the next `drain()`, or -1 when the inbox is empty.
    fn pending_bytes(&self) -> f64 {
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
            Ok(()) => size.max(1) as i32,
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
        let io = self.io.borrow();
        let Some(socket) = io.as_ref().map(|io| &io.socket) else {
            return -EBADF;
        };
        let to = match self.destination(port, address) {
            Ok(to) => to,
            Err(code) => return code,
        };
        match socket.enqueue(data, to) {
            Ok(()) => 0,
            Err(e) => -e.raw_os_error().unwrap_or(EINVAL),
        }
    }

    /// Sends `data` at once (see `BoundSocket::send_now`): bytes sent, `-errno`,
    /// `SEND_NOT_AN_IP` when `address` needs a DNS lookup first, or `SEND_LATER` when datagrams
    /// are waiting for `flush()` (then nothing was done: enqueue it behind them).
    fn send_now(&self, data: &[u8], port: u32, address: &[u8]) -> i32 {
        let io = self.io.borrow();
        let Some(socket) = io.as_ref().map(|io| &io.socket) else {
            return -EBADF;
        };
        let to = match self.destination(port, address) {
            Ok(to) => to,
            Err(code) => return code,
        };
        let Some(result) = socket.send_now(data, to) else {
            return SEND_LATER;
        };
        let mut engine = self.shared.engine();
        if result >= 0 {
            engine.count_sent(result as usize);
        } else {
            engine.count_send_error();
        }
        result
    }

    /// The socket address to send to, or the code `enqueue`/`sendNow` return instead.
    fn destination(&self, port: u32, address: &[u8]) -> Result<SocketAddr, i32> {
        let Some(ip) = std::str::from_utf8(address)
            .ok()
            .and_then(|text| text.parse::<IpAddr>().ok())
        else {
            return Err(SEND_NOT_AN_IP);
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
            if result >= 0 {
                engine.count_sent(result as usize);
            } else {
                engine.count_send_error();
            }
        }
        count as i32
    }
}

type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// An object holding the per-datagram functions. Made once per JS environment: each function
/// takes the engine's handle (see [`handle`]) as its first argument, so no engine needs
/// functions of its own (8 functions per engine cost 4.5 KB of RSS each, measured with 10,000
/// engines).
///
/// # Safety
/// `env` must be the live environment of the current call, on its JS thread.
pub(super) unsafe fn functions(env: sys::napi_env) -> Option<sys::napi_value> {
    const FUNCTIONS: [(&CStr, Callback); 9] = [
        (c"register", register),
        (c"release", release),
        (c"lookup", lookup),
        (c"ingest", ingest),
        (c"pendingBytes", pending_bytes),
        (c"drain", drain),
        (c"enqueue", enqueue),
        (c"sendNow", send_now),
        (c"flush", flush),
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

thread_local! {
    /// The `Hot` of every live handle on this thread, with the number of handles to each (one
    /// engine can make several). Any N-API external can reach the functions (`binding.js` is
    /// public), so a pointer is used only if it is one of these.
    static LIVE_HANDLES: RefCell<HashMap<usize, usize>> = RefCell::new(HashMap::new());
}

/// A JS handle (an N-API external) owning one reference to `hot`, released when it is collected.
///
/// # Safety
/// `env` must be the live environment of the current call, on its JS thread.
pub(super) unsafe fn handle(env: sys::napi_env, hot: &Rc<Hot>) -> Option<sys::napi_value> {
    let data = Rc::into_raw(Rc::clone(hot)).cast_mut().cast::<c_void>();
    LIVE_HANDLES.with(|live| *live.borrow_mut().entry(data as usize).or_insert(0) += 1);
    let mut external = ptr::null_mut();
    // SAFETY: `data` stays valid until the finalizer runs, and is released here if the
    // external could not be made.
    unsafe {
        if sys::napi_create_external(env, data, Some(release_hot), ptr::null_mut(), &mut external)
            != sys::Status::napi_ok
        {
            release_hot(env, data, ptr::null_mut());
            return None;
        }
    }
    Some(external)
}

unsafe extern "C" fn release_hot(_env: sys::napi_env, data: *mut c_void, _hint: *mut c_void) {
    // `try_with`: a finalizer running during thread teardown must not panic (it would abort).
    let _ = LIVE_HANDLES.try_with(|live| {
        let mut live = live.borrow_mut();
        if let Some(count) = live.get_mut(&(data as usize)) {
            *count -= 1;
            if *count == 0 {
                live.remove(&(data as usize));
            }
        }
    });
    // SAFETY: `data` is the `Rc::into_raw` of `handle`, released once.
    drop(unsafe { Rc::from_raw(data.cast::<Hot>()) });
}

fn is_live_handle(data: *mut c_void) -> bool {
    LIVE_HANDLES
        .try_with(|live| live.borrow().contains_key(&(data as usize)))
        .unwrap_or(false)
}

/// Most arguments a function takes, the handle included.
const MAX_ARGS: usize = 6;

/// One call's arguments (after the handle) and state.
struct Call<'a> {
    env: sys::napi_env,
    argv: [sys::napi_value; MAX_ARGS],
    hot: &'a Hot,
}

/// Raised (as a TypeError) when JS passes something else than the engine's own wrappers do.
struct BadArgument;

impl<'a> Call<'a> {
    /// The call's arguments; the first must be a handle made by [`handle`].
    ///
    /// # Safety
    /// A callback's `env` and `info`.
    unsafe fn new(env: sys::napi_env, info: sys::napi_callback_info) -> Option<Self> {
        let mut argc = MAX_ARGS;
        let mut argv = [ptr::null_mut(); MAX_ARGS];
        let mut data = ptr::null_mut();
        // SAFETY: per the contract of this function.
        unsafe {
            if sys::napi_get_cb_info(
                env,
                info,
                &mut argc,
                argv.as_mut_ptr(),
                ptr::null_mut(),
                ptr::null_mut(),
            ) != sys::Status::napi_ok
                || sys::napi_get_value_external(env, argv[0], &mut data) != sys::Status::napi_ok
                || !is_live_handle(data)
            {
                return None;
            }
            argv.copy_within(1.., 0);
            // A live handle owns a reference to its `Hot`, and JS holds the handle for the call.
            Some(Self {
                env,
                argv,
                hot: &*data.cast::<Hot>(),
            })
        }
    }

    fn u32(&self, index: usize) -> Result<u32, BadArgument> {
        let mut value = 0;
        // SAFETY: a value of this call (missing arguments are undefined, which fails cleanly).
        let status = unsafe { sys::napi_get_value_uint32(self.env, self.argv[index], &mut value) };
        (status == sys::Status::napi_ok)
            .then_some(value)
            .ok_or(BadArgument)
    }

    fn bool(&self, index: usize) -> Result<bool, BadArgument> {
        let mut value = false;
        // SAFETY: as in `u32`.
        let status = unsafe { sys::napi_get_value_bool(self.env, self.argv[index], &mut value) };
        (status == sys::Status::napi_ok)
            .then_some(value)
            .ok_or(BadArgument)
    }

    /// The string's UTF-8 bytes, in `inline` when they fit, else in `heap`.
    fn text<'b>(
        &self,
        index: usize,
        inline: &'b mut [u8; INLINE_TEXT],
        heap: &'b mut Vec<u8>,
    ) -> Result<&'b [u8], BadArgument> {
        let value = self.argv[index];
        let mut len = 0;
        // SAFETY: the buffer is INLINE_TEXT bytes long; N-API writes at most that, NUL included.
        let status = unsafe {
            sys::napi_get_value_string_utf8(
                self.env,
                value,
                inline.as_mut_ptr().cast(),
                INLINE_TEXT,
                &mut len,
            )
        };
        if status != sys::Status::napi_ok {
            return Err(BadArgument);
        }
        if len + 1 < INLINE_TEXT {
            return Ok(&inline[..len]);
        }
        // It may have been cut: ask for the full length and read it again.
        // SAFETY: a null buffer asks N-API for the length only; then `heap` has room for it.
        unsafe {
            if sys::napi_get_value_string_utf8(self.env, value, ptr::null_mut(), 0, &mut len)
                != sys::Status::napi_ok
            {
                return Err(BadArgument);
            }
            heap.resize(len + 1, 0);
            if sys::napi_get_value_string_utf8(
                self.env,
                value,
                heap.as_mut_ptr().cast(),
                len + 1,
                &mut len,
            ) != sys::Status::napi_ok
            {
                return Err(BadArgument);
            }
        }
        Ok(&heap[..len])
    }

    /// The elements of a typed array of the given N-API type, borrowed for this call. JS does
    /// not run while the call does, so nothing else touches them meanwhile; the engine's JS never
    /// passes two views of one memory to the same call.
    #[allow(clippy::mut_from_ref)]
    fn typed<T>(
        &self,
        index: usize,
        kind: sys::napi_typedarray_type,
    ) -> Result<&mut [T], BadArgument> {
        let mut actual = -1;
        let mut length = 0;
        let mut data = ptr::null_mut();
        // SAFETY: a value of this call; on success N-API reports a live backing store of
        // `length` elements of `kind` at `data` (null only when empty).
        unsafe {
            if sys::napi_get_typedarray_info(
                self.env,
                self.argv[index],
                &mut actual,
                &mut length,
                &mut data,
                ptr::null_mut(),
                ptr::null_mut(),
            ) != sys::Status::napi_ok
                || actual != kind
            {
                return Err(BadArgument);
            }
            if length == 0 || data.is_null() {
                return Ok(&mut []);
            }
            Ok(std::slice::from_raw_parts_mut(data.cast::<T>(), length))
        }
    }

    fn bytes(&self, index: usize) -> Result<&mut [u8], BadArgument> {
        self.typed(index, sys::TypedarrayType::uint8_array)
    }

    fn int32s(&self, index: usize) -> Result<&mut [i32], BadArgument> {
        self.typed(index, sys::TypedarrayType::int32_array)
    }
}

enum Output {
    Undefined,
    Int(i32),
    Number(f64),
}

/// Runs `body` for a callback: arguments it rejects become a TypeError, a panic an Error,
/// neither unwinds into Node.
///
/// # Safety
/// A callback's `env` and `info`, of a function made by [`functions`].
unsafe fn run(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    name: &CStr,
    body: impl FnOnce(&Call<'_>) -> Result<Output, BadArgument>,
) -> sys::napi_value {
    // SAFETY: per the contract of this function.
    let Some(call) = (unsafe { Call::new(env, info) }) else {
        // SAFETY: on the JS thread of this callback.
        unsafe {
            sys::napi_throw_type_error(
                env,
                ptr::null(),
                c"krpc-socket: not an engine handle".as_ptr(),
            )
        };
        return ptr::null_mut();
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| body(&call)));
    let mut result = ptr::null_mut();
    // SAFETY: N-API calls on the JS thread of this callback; a null result reads as undefined.
    unsafe {
        match outcome {
            Ok(Ok(Output::Undefined)) => {}
            Ok(Ok(Output::Int(value))) => {
                sys::napi_create_int32(env, value, &mut result);
            }
            Ok(Ok(Output::Number(value))) => {
                sys::napi_create_double(env, value, &mut result);
            }
            Ok(Err(BadArgument)) => {
                let message = format!("krpc-socket: bad argument to {}", name.to_string_lossy());
                let message = std::ffi::CString::new(message).unwrap_or_default();
                sys::napi_throw_type_error(env, ptr::null(), message.as_ptr());
            }
            Err(_) => {
                sys::napi_throw_error(env, ptr::null(), c"krpc-socket: internal error".as_ptr());
            }
        }
    }
    result
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

/// `drain(tape, bytes)`: see [`Hot::drain`].
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
            let buffer = call.bytes(0)?;
            let (offset, length) = (call.u32(1)? as usize, call.u32(2)? as usize);
            let Some(data) = buffer.get(offset..offset.saturating_add(length)) else {
                return Ok(Output::Int(-EINVAL));
            };
            let (mut inline, mut heap) = ([0; INLINE_TEXT], Vec::new());
            let address = call.text(4, &mut inline, &mut heap)?;
            Ok(Output::Int(call.hot.enqueue(data, call.u32(3)?, address)))
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
            let buffer = call.bytes(0)?;
            let (offset, length) = (call.u32(1)? as usize, call.u32(2)? as usize);
            let Some(data) = buffer.get(offset..offset.saturating_add(length)) else {
                return Ok(Output::Int(-EINVAL));
            };
            let (mut inline, mut heap) = ([0; INLINE_TEXT], Vec::new());
            let address = call.text(4, &mut inline, &mut heap)?;
            Ok(Output::Int(call.hot.send_now(data, call.u32(3)?, address)))
        })
    }
}

/// `flush(results)`: see [`Hot::flush`].
unsafe extern "C" fn flush(env: sys::napi_env, info: sys::napi_callback_info) -> sys::napi_value {
    // SAFETY: made by `functions`.
    unsafe {
        run(env, info, c"flush", |call| {
            Ok(Output::Int(call.hot.flush(call.int32s(0)?)))
        })
    }
}
