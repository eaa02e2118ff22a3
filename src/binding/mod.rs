//! The napi-rs layer: a thin `Engine` class over [`crate::core::engine::Engine`] and, once
//! bound, a [`crate::driver::BoundSocket`].
//!
//! Everything that crosses into JS is numbers, one Buffer per drained batch (allocated by JS) and
//! the tape written into a JS-owned Int32Array (see docs/ARCHITECTURE.md). Errors of the
//! operating system come back as errno values so the JS side can build exactly the errors dgram
//! would have thrown. Every entry point catches panics (none is known; the core is fuzzed): they
//! become JS exceptions instead of unwinding into Node.
//!
//! The calls made per datagram are plain N-API functions ([`hot`]); the rest are napi-rs methods.

mod hot;
mod inner;
mod main_loop;
mod raw;
#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::{Function, Int32Array, ToNapiValue, Unknown};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{CleanupEnvHook, Env, Status};
use napi_derive::napi;

use crate::core::engine::Engine as CoreEngine;
use crate::core::keys::INTERNED_KEYS;
use crate::core::pacer::Pacer;
use crate::core::rate_limit::RateLimit;
use crate::driver::address::bind_address;
use crate::driver::{BoundSocket, Receive, Shared, Wake};
use inner::{EngineInner, EBADF, EINVAL};
use main_loop::Watcher;

type WakeFn = ThreadsafeFunction<(), (), (), Status, false, true>;

/// The interned dictionary keys, in id order (id = index + 1).
#[napi]
pub fn interned_keys() -> Vec<&'static str> {
    INTERNED_KEYS.to_vec()
}

/// The calls made per datagram (`register`, `release`, `lookup`, `ingest`, `pendingBytes`,
/// `drain`, `enqueue`, `flush`), as plain N-API functions that take an engine's `hotHandle()`
/// first: napi-rs methods cost about 200 ns more per call (src/binding/hot.rs).
#[napi(
    catch_unwind,
    // Raw N-API functions, which napi-rs cannot describe: typed by hand in lib/native.d.ts. The
    // path is resolved from generated/binding.d.ts, where the type lands.
    ts_return_type = "import('../lib/native').HotFunctions"
)]
pub fn hot_functions(env: &Env) -> napi::Result<Unknown<'_>> {
    // SAFETY: on the JS thread of this call; the value is live for its scope.
    match unsafe { hot::functions(env.raw()) } {
        Some(value) => Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) }),
        None => Err(napi::Error::from_reason("cannot make the engine functions")),
    }
}

/// The numbers shared with JS (docs/ARCHITECTURE.md: tape format, header words, send results),
/// so JS takes them from here rather than restating them.
#[napi(object)]
pub struct TapeFormat {
    pub op_mask: i32,
    pub t_dict: i32,
    pub t_list: i32,
    pub t_end: i32,
    pub t_bytes: i32,
    pub t_int: i32,
    pub t_float: i32,
    pub t_key: i32,
    pub t_rawkey: i32,
    pub k_query: i32,
    pub k_response: i32,
    pub k_error_reply: i32,
    pub k_unexpected_tid: i32,
    pub k_wrong_source: i32,
    pub k_short_tid: i32,
    pub k_unknown_type: i32,
    pub k_decode_error: i32,
    pub header_words: u32,
    pub ipv6_flag: i32,
    /// Header word indices (`H_*` in src/core/tape.rs).
    pub h_kind: u32,
    pub h_slot: u32,
    pub h_gen: u32,
    pub h_tid: u32,
    pub h_address_start: u32,
    pub h_address_len: u32,
    pub h_port: u32,
    pub h_size: u32,
    pub h_value_words: u32,
    /// `sendNow()`/`enqueue()` result: the address is not an IP literal (JS resolves it first).
    pub send_not_an_ip: i32,
    /// `sendNow()` result: datagrams already wait for `flush()`; enqueue behind them.
    pub send_later: i32,
    /// `query()` result: every tid is in flight (nothing registered or sent).
    pub query_no_tid: i32,
    /// Added to `query()`'s result when the datagram was enqueued for `flush()`.
    pub query_enqueued: f64,
}

/// The tape format.
#[napi]
pub fn tape_format() -> TapeFormat {
    use crate::core::tape::*;
    TapeFormat {
        op_mask: OP_MASK,
        t_dict: T_DICT,
        t_list: T_LIST,
        t_end: T_END,
        t_bytes: T_BYTES,
        t_int: T_INT,
        t_float: T_FLOAT,
        t_key: T_KEY,
        t_rawkey: T_RAWKEY,
        k_query: K_QUERY,
        k_response: K_RESPONSE,
        k_error_reply: K_ERROR_REPLY,
        k_unexpected_tid: K_UNEXPECTED_TID,
        k_wrong_source: K_WRONG_SOURCE,
        k_short_tid: K_SHORT_TID,
        k_unknown_type: K_UNKNOWN_TYPE,
        k_decode_error: K_DECODE_ERROR,
        header_words: HEADER_WORDS as u32,
        ipv6_flag: crate::core::engine::IPV6_FLAG,
        h_kind: H_KIND as u32,
        h_slot: H_SLOT as u32,
        h_gen: H_GEN as u32,
        h_tid: H_TID as u32,
        h_address_start: H_ADDRESS_START as u32,
        h_address_len: H_ADDRESS_LEN as u32,
        h_port: H_PORT as u32,
        h_size: H_SIZE as u32,
        h_value_words: H_VALUE_WORDS as u32,
        send_not_an_ip: inner::SEND_NOT_AN_IP,
        send_later: inner::SEND_LATER,
        query_no_tid: inner::QUERY_NO_TID,
        query_enqueued: inner::QUERY_ENQUEUED,
    }
}

/// Counters of one socket (numbers are exact below 2^53).
#[napi(object)]
pub struct EngineStats {
    pub datagrams_in: f64,
    pub bytes_in: f64,
    pub datagrams_out: f64,
    pub bytes_out: f64,
    pub malformed: f64,
    pub unexpected_tid: f64,
    pub wrong_source: f64,
    pub bad_tid: f64,
    pub timeouts: f64,
    pub dropped_inbox: f64,
    pub dropped_port_zero: f64,
    pub send_errors: f64,
    pub rate_limited: f64,
    pub dropped_read_only: f64,
    pub send_queued: f64,
    pub send_queue_full: f64,
    pub send_queue_length: f64,
    pub queries_in_flight: f64,
}

/// The address a socket is bound to.
#[napi(object)]
pub struct LocalAddress {
    pub address: String,
    pub port: u32,
    pub ipv6: bool,
}

/// A bound socket and whatever tells JS about its datagrams.
struct Io {
    socket: Arc<BoundSocket>,
    /// Node's loop watches the socket (the default: no thread hop per reply)...
    watcher: Option<Watcher>,
    /// ...or the runtime thread reads and wakes JS through this (weak: never keeps Node alive).
    wake: Option<Arc<WakeFn>>,
}

impl Io {
    fn shut(self) {
        if let Some(watcher) = self.watcher {
            watcher.stop();
        }
        self.socket.close();
    }
}

type SharedIo = Rc<RefCell<Option<Io>>>;

/// The reference gives a request a `ttl` of 4 and, on each tick, decrements it or (once it is 0)
/// times the request out: the 5th tick after a request was made times it out.
const TICKS_TO_TIMEOUT: u64 = 5;

/// The engine's opt-in settings: the RPC options of the same names (README, "Options"), as
/// lib/options.js has validated them. A field left out changes nothing; with every field left
/// out the engine behaves as k-rpc-socket does.
#[napi(object)]
pub struct EngineConfig {
    /// `matchPort`: a reply must also come from the port that was queried (the reference checks
    /// the IP only).
    pub match_port: Option<bool>,
    /// `rateLimit`: a per-source inbound limit, checked before anything is decoded.
    pub rate_limit: Option<RateLimitConfig>,
    /// `readOnly` (BEP 43): incoming queries are dropped in the engine, counted.
    pub read_only: Option<bool>,
    /// dgram's `ipv6Only`, for an IPv6 socket, before bind: IPV6_V6ONLY; `false` is dual-stack
    /// (IPv4 senders reported dotted, IPv4 destinations sent to as `::ffff:a.b.c.d`).
    pub ipv6_only: Option<bool>,
    /// `sendRate`, before bind: every datagram the socket sends waits for a token.
    pub send_rate: Option<SendRateConfig>,
}

/// `rateLimit`'s settings; each one left out (or out of range) takes libtorrent's DHT default.
#[napi(object)]
pub struct RateLimitConfig {
    /// Average datagrams per second allowed from one source. Default 5.
    pub per_second: Option<f64>,
    /// The window the average is taken over, in ms. Default 10 s.
    pub window_ms: Option<f64>,
    /// How long a source over the limit is ignored, in ms (0: only the datagrams over it).
    /// Default 5 minutes.
    pub block_ms: Option<f64>,
}

impl RateLimitConfig {
    /// The limit to apply, or none when the rate truncates to 0 datagrams per second.
    fn resolve(&self) -> Option<RateLimit> {
        let per_second = match self.per_second {
            // The core counts in u32: a larger rate must not wrap around to a small one.
            Some(rate) if rate > 0.0 => rate.min(f64::from(u32::MAX)) as u32,
            _ => 5,
        };
        let window_ms = match self.window_ms {
            Some(ms) if ms > 0.0 => ms,
            _ => 10_000.0,
        };
        let block_ms = match self.block_ms {
            Some(ms) if ms >= 0.0 => ms,
            _ => 300_000.0,
        };
        (per_second > 0).then(|| RateLimit {
            per_second,
            window_ms: window_ms.max(1.0) as u64,
            block_ms: block_ms as u64,
        })
    }
}

/// `sendRate`'s settings.
#[napi(object)]
pub struct SendRateConfig {
    /// Datagrams per second, over every datagram the socket sends.
    pub per_second: f64,
    /// How many may leave at once after a quiet spell. Default: what the rate makes in 1 ms (at
    /// least 1), since the runtime's timer that releases waiting datagrams has a 1 ms resolution.
    pub burst: Option<u32>,
}

impl SendRateConfig {
    fn resolve(&self) -> (f64, u32) {
        let burst = match self.burst {
            Some(burst) if burst > 0 => burst,
            _ => (self.per_second / 1000.0)
                .ceil()
                .clamp(1.0, f64::from(u32::MAX)) as u32,
        };
        (self.per_second, burst)
    }
}

/// One KRPC socket's engine: transaction table, inbox and (once bound) a native UDP socket.
#[napi]
pub struct Engine {
    hot: Rc<EngineInner>,
    /// The trigger of the receive path, chosen by JS at construction from what the runtime is
    /// (lib/native.js): Node's own loop watches the socket, or the runtime thread reads it.
    receive_on_loop: bool,
    /// The path the socket was bound with, kept after close for `receivePath()`.
    bound_path: Cell<Option<Receive>>,
    /// Closes the socket when the Node environment goes away (a worker terminated, or the
    /// process exiting without `destroy()`), so nothing outlives its JS thread.
    cleanup: Option<CleanupEnvHook<SharedIo>>,
}

#[napi]
impl Engine {
    /// Queries time out on the 5th `expire()` call (a tick of the JS timer) after they were
    /// registered, as the reference's `ttl` of 4 makes them: counted in ticks, not
    /// milliseconds, so two sockets whose timers fire in order time out in that order too.
    ///
    /// `receive_on_loop`: have Node's event loop (libuv) watch the socket once bound. Only true
    /// where the runtime is Node's own libuv: elsewhere the `uv_*` symbols may be stubs that
    /// abort (Bun) or never fire (Deno). Absent or false: the runtime thread reads.
    #[napi(constructor, catch_unwind)]
    pub fn new(ipv6: bool, receive_on_loop: Option<bool>) -> Self {
        Self {
            hot: Rc::new(EngineInner {
                shared: Shared::new(CoreEngine::with_lifetime(TICKS_TO_TIMEOUT)),
                io: Rc::new(RefCell::new(None)),
                ipv6,
                ipv6_only: Cell::new(None),
                send_rate: Cell::new(None),
            }),
            receive_on_loop: receive_on_loop.unwrap_or(false),
            bound_path: Cell::new(None),
            cleanup: None,
        }
    }

    /// How datagrams reach JS: "loop" (Node's event loop watches the socket and the JS thread
    /// reads it) or "runtime" (the runtime thread reads and wakes JS). Before bind, the path a
    /// bind would take; after, the one it took.
    #[napi(catch_unwind)]
    pub fn receive_path(&self) -> &'static str {
        match self
            .bound_path
            .get()
            .unwrap_or_else(|| self.planned_receive())
        {
            Receive::OnCaller => "loop",
            Receive::OnRuntime => "runtime",
        }
    }

    fn planned_receive(&self) -> Receive {
        // `available()` resolves symbols only (dlsym); no uv function is called before a bind
        // with the loop trigger.
        if self.receive_on_loop && main_loop::available() {
            Receive::OnCaller
        } else {
            Receive::OnRuntime
        }
    }

    /// The handle the per-datagram functions (see [`hot_functions`]) take first.
    #[napi(catch_unwind, ts_return_type = "unknown")]
    pub fn hot_handle<'env>(&self, env: &'env Env) -> napi::Result<Unknown<'env>> {
        // SAFETY: on the JS thread of this call; the value is live for its scope.
        match unsafe { raw::handle(env.raw(), &self.hot) } {
            Some(value) => Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) }),
            None => Err(napi::Error::from_reason("cannot make the engine handle")),
        }
    }

    /// Applies the opt-in settings (see [`EngineConfig`]); before bind for `ipv6_only` and
    /// `send_rate`. Settings left out keep their current value (all off at first).
    #[napi(catch_unwind)]
    pub fn configure(&self, config: EngineConfig) {
        let mut engine = self.hot.shared.engine();
        if let Some(on) = config.match_port {
            engine.set_match_port(on);
        }
        if let Some(limit) = config.rate_limit {
            engine.set_rate_limit(limit.resolve(), random_seed());
        }
        if let Some(on) = config.read_only {
            engine.set_read_only(on);
        }
        if let Some(only) = config.ipv6_only {
            self.hot.ipv6_only.set(Some(only));
            engine.set_dual_stack(self.hot.dual_stack());
        }
        if let Some(rate) = config.send_rate {
            self.hot.send_rate.set(Some(rate.resolve()));
        }
    }

    /// One tick of the JS timer (made while queries are in flight): `(slot, gen)` pairs of the
    /// queries whose time is up, or null (the common case).
    #[napi(catch_unwind)]
    pub fn expire(&self) -> Option<Int32Array> {
        let now = self.hot.shared.clock.advance_tick();
        let mut engine = self.hot.shared.engine();
        let expired = engine.expire(now);
        if expired.is_empty() {
            return None;
        }
        let words: Vec<i32> = expired
            .iter()
            .flat_map(|&(slot, gen)| [slot as i32, gen as i32])
            .collect();
        Some(Int32Array::new(words))
    }

    /// Binds a native socket; returns 0 or an errno. `address` is an IP literal (JS resolves
    /// names first, as dgram does). `wake` is called when datagrams wait in the inbox: from
    /// Node's own loop with the loop trigger, else from the runtime thread.
    #[napi(catch_unwind)]
    pub fn bind(
        &mut self,
        env: Env,
        port: u32,
        address: String,
        wake: Function<(), ()>,
    ) -> napi::Result<i32> {
        if self.hot.io.borrow().is_some() {
            return Ok(EINVAL);
        }
        let Some(addr) = bind_address(&address, port, self.hot.ipv6) else {
            return Ok(EINVAL);
        };
        let receive = self.planned_receive();
        let wake_fn: Option<Arc<WakeFn>> = match receive {
            Receive::OnCaller => None,
            Receive::OnRuntime => Some(Arc::new(
                wake.build_threadsafe_function::<()>()
                    .callee_handled::<false>()
                    .weak::<true>()
                    .build()?,
            )),
        };
        let caller = wake_fn.clone();
        let wake_cb: Wake = Arc::new(move || {
            if let Some(f) = &caller {
                f.call((), ThreadsafeFunctionCallMode::NonBlocking);
            }
        });
        let socket = match BoundSocket::bind(
            addr,
            Arc::clone(&self.hot.shared),
            wake_cb,
            receive,
            self.hot.ipv6_only.get().filter(|_| self.hot.ipv6),
            self.hot
                .send_rate
                .get()
                .map(|(per_second, burst)| Pacer::new(per_second, burst)),
        ) {
            Ok(socket) => Arc::new(socket),
            Err(e) => return Ok(e.raw_os_error().unwrap_or(EINVAL)),
        };
        let watcher = match receive {
            Receive::OnRuntime => None,
            Receive::OnCaller => {
                let reader = Arc::clone(&socket);
                // SAFETY: `wake` is a live JS function value of this call's scope.
                let callback = unsafe { ToNapiValue::to_napi_value(env.raw(), wake)? };
                Some(
                    Watcher::start(
                        env.raw(),
                        socket.raw_fd(),
                        callback,
                        Box::new(move || reader.read_ready()),
                    )
                    .ok_or_else(|| {
                        napi::Error::from_reason("cannot watch the socket on the event loop")
                    })?,
                )
            }
        };
        self.bound_path.set(Some(receive));
        *self.hot.io.borrow_mut() = Some(Io {
            socket,
            watcher,
            wake: wake_fn,
        });
        self.cleanup = Some(env.add_env_cleanup_hook(Rc::clone(&self.hot.io), |io| {
            if let Some(io) = io.borrow_mut().take() {
                io.shut();
            }
        })?);
        Ok(0)
    }

    fn with_socket<R>(&self, f: impl FnOnce(&BoundSocket) -> R) -> Option<R> {
        self.hot.io.borrow().as_ref().map(|io| f(&io.socket))
    }

    /// The bound address, or null before bind.
    #[napi(catch_unwind)]
    pub fn local_address(&self) -> Option<LocalAddress> {
        self.with_socket(|s| {
            let local = s.local_addr();
            LocalAddress {
                address: local.ip().to_string(),
                port: u32::from(local.port()),
                ipv6: local.is_ipv6(),
            }
        })
    }

    /// Closes the native socket (if any) and whatever watched it.
    #[napi(catch_unwind)]
    pub fn close(&mut self, env: Env) -> napi::Result<()> {
        if let Some(io) = self.hot.io.borrow_mut().take() {
            io.shut();
        }
        if let Some(hook) = self.cleanup.take() {
            env.remove_env_cleanup_hook(hook)?;
        }
        Ok(())
    }

    /// Lets the socket keep the event loop alive (dgram's `ref()`).
    #[napi(js_name = "ref", catch_unwind)]
    pub fn ref_loop(&self, env: Env) {
        self.set_ref(env, true);
    }

    /// Undoes [`Engine::ref_loop`].
    #[napi(js_name = "unref", catch_unwind)]
    pub fn unref_loop(&self, env: Env) {
        self.set_ref(env, false);
    }

    fn set_ref(&self, env: Env, keep_alive: bool) {
        let io = self.hot.io.borrow();
        let Some(io) = io.as_ref() else { return };
        if let Some(watcher) = &io.watcher {
            watcher.set_ref(keep_alive);
        }
        if let Some(wake) = &io.wake {
            // SAFETY: called on the JS thread that owns the function, as napi requires.
            unsafe {
                if keep_alive {
                    napi::sys::napi_ref_threadsafe_function(env.raw(), wake.raw());
                } else {
                    napi::sys::napi_unref_threadsafe_function(env.raw(), wake.raw());
                }
            }
        }
    }

    /// SO_RCVBUF as the kernel reports it, or -errno.
    #[napi(catch_unwind)]
    pub fn get_recv_buffer_size(&self) -> i64 {
        self.buffer_size(|s| s.recv_buffer_size())
    }

    /// SO_SNDBUF as the kernel reports it, or -errno.
    #[napi(catch_unwind)]
    pub fn get_send_buffer_size(&self) -> i64 {
        self.buffer_size(|s| s.send_buffer_size())
    }

    /// Sets SO_RCVBUF; 0 or an errno.
    #[napi(catch_unwind)]
    pub fn set_recv_buffer_size(&self, size: u32) -> i32 {
        self.set_buffer_size(|s| s.set_recv_buffer_size(size as usize))
    }

    /// Sets SO_SNDBUF; 0 or an errno.
    #[napi(catch_unwind)]
    pub fn set_send_buffer_size(&self, size: u32) -> i32 {
        self.set_buffer_size(|s| s.set_send_buffer_size(size as usize))
    }

    fn buffer_size(&self, get: impl Fn(&socket2::SockRef<'_>) -> std::io::Result<usize>) -> i64 {
        match self.with_socket(|s| get(&s.sock_ref())) {
            None => -i64::from(EBADF),
            Some(Ok(n)) => n as i64,
            Some(Err(e)) => -i64::from(e.raw_os_error().unwrap_or(EINVAL)),
        }
    }

    fn set_buffer_size(&self, set: impl Fn(&socket2::SockRef<'_>) -> std::io::Result<()>) -> i32 {
        match self.with_socket(|s| set(&s.sock_ref())) {
            None => EBADF,
            Some(Ok(())) => 0,
            Some(Err(e)) => e.raw_os_error().unwrap_or(EINVAL),
        }
    }

    /// A snapshot of the counters.
    #[napi(catch_unwind)]
    pub fn stats(&self) -> EngineStats {
        let s = self.hot.shared.engine().stats();
        EngineStats {
            datagrams_in: s.datagrams_in as f64,
            bytes_in: s.bytes_in as f64,
            datagrams_out: s.datagrams_out as f64,
            bytes_out: s.bytes_out as f64,
            malformed: s.malformed as f64,
            unexpected_tid: s.unexpected_tid as f64,
            wrong_source: s.wrong_source as f64,
            bad_tid: s.bad_tid as f64,
            timeouts: s.timeouts as f64,
            dropped_inbox: s.dropped_inbox as f64,
            dropped_port_zero: s.dropped_port_zero as f64,
            send_errors: s.send_errors as f64,
            rate_limited: s.rate_limited as f64,
            dropped_read_only: s.dropped_read_only as f64,
            send_queued: s.send_queued as f64,
            send_queue_full: s.send_queue_full as f64,
            send_queue_length: self.with_socket(|socket| socket.queued()).unwrap_or(0) as f64,
            queries_in_flight: s.queries_in_flight as f64,
        }
    }
}

/// A secret for the rate limiter's hash of sources, so a remote cannot pick addresses that
/// share a source's counters (std's per-process random hash keys are the source of randomness).
fn random_seed() -> [u64; 2] {
    let state = RandomState::new();
    [state.hash_one(0u64), state.hash_one(1u64)]
}
