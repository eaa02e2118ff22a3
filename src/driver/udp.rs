//! A bound UDP socket: sends that go straight to the kernel from the caller's thread, a Tokio
//! task that flushes what the kernel could not take at once, and a receive path.
//!
//! Receiving happens in one of two places (`Receive`):
//! * `OnCaller`: whoever owns the event loop of the JS thread (the binding, with libuv) is told
//!   about readability and calls [`BoundSocket::read_ready`] there. Nothing crosses a thread, so
//!   a reply costs no thread wake-up: on an idle VM each wake-up of a sleeping thread costs tens of
//!   microseconds, which dominated the round trip of a single query.
//! * `OnRuntime`: a Tokio task reads and wakes JS through the [`Wake`] callback once per batch.
//!   Used where the caller's loop cannot be reached.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
#[cfg(unix)]
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use socket2::{Domain, SockRef, Socket, Type};
#[cfg(unix)]
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::Notify;

use super::clock::Clock;
use super::recv::{recv_batch, RECV_BATCH, RECV_BUFFER, SCRATCH_BYTES};
use super::runtime;
use crate::core::engine::{Engine, Source};
use crate::core::pacer::Pacer;

/// Most datagrams read per wake-up before control goes back to the loop, so one flooded socket
/// cannot starve timers, sends or other sockets (quinn bounds its receive loop the same way).
const IO_LOOP_BOUND: usize = 160;
/// Most time spent reading per wake-up, for the same reason.
const RECV_TIME_BOUND: Duration = Duration::from_micros(500);
/// Bytes queued while the kernel's send buffer is full. dgram queues without a limit; past this
/// a send fails with ENOBUFS instead of growing memory forever.
const MAX_QUEUED_SEND_BYTES: usize = 4 << 20;
/// The platform's "no buffer space" error, reported when that bound is hit.
#[cfg(unix)]
const ENOBUFS: i32 = libc::ENOBUFS;
#[cfg(windows)]
const ENOBUFS: i32 = windows_sys::Win32::Networking::WinSock::WSAENOBUFS;
#[cfg(windows)]
use windows_sys::Win32::Networking::WinSock::WSAECONNRESET;

/// Tells JS that the inbox has something. Called at most once per drain.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// Where datagrams are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receive {
    /// On the caller's thread, when its event loop reports readability.
    OnCaller,
    /// On the runtime thread.
    OnRuntime,
}

/// What the JS thread and the runtime share.
pub struct Shared {
    engine: Mutex<Engine>,
    /// The engine's time (ticks and milliseconds).
    pub clock: Clock,
    /// Set when JS has been woken and has not drained yet: wake only on the empty -> non-empty edge.
    woken: AtomicBool,
    /// Signalled after each drain, for a runtime reader that stopped because the inbox was full:
    /// it waits here, leaving the datagrams in the kernel's queue, instead of reading them only
    /// to drop them (or spinning on a socket that stays readable).
    drained: Notify,
}

impl Shared {
    /// Shares `engine` between JS and the driver.
    pub fn new(engine: Engine) -> Arc<Self> {
        Arc::new(Self {
            engine: Mutex::new(engine),
            clock: Clock::new(),
            woken: AtomicBool::new(false),
            drained: Notify::new(),
        })
    }

    /// The engine. A panic while the lock was held cannot leave it half-updated in a way that
    /// matters more than losing the process, so poisoning is ignored rather than propagated.
    pub fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Called by JS right before draining: later datagrams must wake it again. Clearing before
    /// taking means a wake can be spurious (an empty drain) but never lost.
    pub fn rearm(&self) {
        self.woken.store(false, Ordering::Release);
    }

    /// Called by JS after it took the inbox: a reader waiting for room may read again. A drain
    /// with no reader waiting leaves one permit, which costs that reader one extra look.
    pub fn drained(&self) {
        self.drained.notify_one();
    }

    fn wake_if_needed(&self, wake: &Wake) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            wake();
        }
    }
}

struct SendQueue {
    datagrams: VecDeque<(Vec<u8>, SocketAddr)>,
    bytes: usize,
    /// The runtime took the front datagram and has not sent it yet: a new one must still wait
    /// behind it.
    held: bool,
    /// Opt-in pacing of every outgoing datagram (`sendRate`).
    pacer: Option<Pacer>,
}

impl SendQueue {
    /// How many of `n` datagrams may go to the kernel now, from the JS thread: none while any
    /// waits for the runtime (they would overtake it), else as many as the pacer has tokens for.
    fn may_send_directly(&mut self, n: usize, epoch: Instant) -> usize {
        if !self.datagrams.is_empty() || self.held {
            return 0;
        }
        match self.pacer.as_mut() {
            None => n,
            Some(pacer) => pacer.take_up_to(nanos_since(epoch), n),
        }
    }
}

/// The pacer's clock.
fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Datagrams accepted by [`BoundSocket::enqueue`] and not flushed yet.
#[derive(Default)]
struct Outbox {
    bytes: Vec<u8>,
    items: Vec<(usize, usize, SocketAddr)>,
}

/// Most datagrams handed to one `sendmmsg` call.
const SEND_BATCH: usize = 64;

/// A socket bound on the runtime, with its task running.
pub struct BoundSocket {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    shared: Arc<Shared>,
    /// The socket's one reader when it reads on the caller's thread (`Receive::OnCaller`); with
    /// `Receive::OnRuntime` the runtime task owns it instead.
    receiver: Option<Mutex<Receiver>>,
    outbox: Mutex<Outbox>,
    queue: Arc<Mutex<SendQueue>>,
    writable: Arc<Notify>,
    shutdown: Arc<Notify>,
    gate: Arc<Gate>,
    epoch: Instant,
}

/// Guards the runtime thread's system calls on the socket against [`BoundSocket::close`].
///
/// `close` must free the port before it returns (dgram does: its `close` event comes after the
/// descriptor was closed, and programs rebind the same port from it), yet the runtime thread may
/// be inside a `recvmmsg` or `sendto` on the descriptor at that moment. Each such call runs with
/// the gate held and only while it is open; `close` shuts it, so once `close` has the lock no call
/// holds a reference to the socket and none will start.
pub struct Gate {
    closed: Mutex<bool>,
}

impl Gate {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            closed: Mutex::new(false),
        })
    }

    /// Runs `call` unless the socket was closed (then `None`).
    fn open<R>(&self, call: impl FnOnce() -> R) -> Option<R> {
        let closed = self.closed.lock().unwrap_or_else(|p| p.into_inner());
        (!*closed).then(call)
    }
}

impl BoundSocket {
    /// Binds `address` and starts its task. `wake` is called when JS has work (only used with
    /// `Receive::OnRuntime`). `ipv6_only` sets IPV6_V6ONLY on an IPv6 socket (`None`: the system's default, as dgram
    /// without the option); with `Some(false)` IPv4 senders are reported by their dotted address.
    /// `pacer`: every outgoing datagram waits for a token of it.
    #[allow(clippy::too_many_arguments)]
    pub fn bind(
        address: SocketAddr,
        shared: Arc<Shared>,
        wake: Wake,
        receive: Receive,
        ipv6_only: Option<bool>,
        pacer: Option<Pacer>,
    ) -> io::Result<Self> {
        // The pacer's time: nanoseconds on the engine's clock.
        let epoch = shared.clock.epoch();
        let domain = if address.is_ipv6() {
            Domain::IPV6
        } else {
            Domain::IPV4
        };
        let socket = new_socket(domain)?;
        let mut dual_stack = false;
        if let (Some(only), true) = (ipv6_only, address.is_ipv6()) {
            socket.set_only_v6(only)?;
            dual_stack = !only;
        }
        socket.bind(&address.into())?;
        let local = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::from(io::ErrorKind::AddrNotAvailable))?;
        let handle = runtime::handle()?;
        let socket = Arc::new(UdpSocket::from(socket));
        // Reading on the runtime: it watches the socket for its whole life. Reading on the
        // caller's thread: the runtime does not watch it at all (see `flush`), so neither
        // incoming datagrams nor completed sends wake the runtime's thread.
        let watched = match receive {
            Receive::OnCaller => None,
            Receive::OnRuntime => {
                let _context = handle.enter();
                Some(watch(&socket, Interest::READABLE | Interest::WRITABLE)?)
            }
        };
        let ipv6 = local.is_ipv6();
        let bound = Self {
            socket: Arc::clone(&socket),
            local,
            shared: Arc::clone(&shared),
            receiver: (receive == Receive::OnCaller)
                .then(|| Mutex::new(Receiver::new(ipv6, dual_stack))),
            outbox: Mutex::new(Outbox::default()),
            queue: Arc::new(Mutex::new(SendQueue {
                datagrams: VecDeque::new(),
                bytes: 0,
                held: false,
                pacer,
            })),
            writable: Arc::new(Notify::new()),
            shutdown: Arc::new(Notify::new()),
            gate: Gate::new(),
            epoch,
        };
        let reader =
            (receive == Receive::OnRuntime).then(|| (Receiver::new(ipv6, dual_stack), wake));
        handle.spawn(run(
            socket,
            watched,
            shared,
            reader,
            Arc::clone(&bound.queue),
            Arc::clone(&bound.writable),
            Arc::clone(&bound.shutdown),
            Arc::clone(&bound.gate),
            epoch,
        ));
        Ok(bound)
    }

    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The file descriptor, for an event loop to watch.
    #[cfg(unix)]
    pub fn raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Off unix libuv's functions are not looked up (`main_loop::available` is false), so the
    /// caller's loop never watches a socket and this is never used.
    #[cfg(not(unix))]
    pub fn raw_fd(&self) -> std::ffi::c_int {
        -1
    }

    /// Reads what is waiting (bounded) into the engine, on the calling thread. Returns true when
    /// JS has records to drain.
    pub fn read_ready(&self) -> bool {
        let Some(receiver) = &self.receiver else {
            // The runtime reads this socket; nothing to do on this thread.
            return !self.shared.engine().inbox_is_empty();
        };
        let mut receiver = receiver.lock().unwrap_or_else(|p| p.into_inner());
        // Level-triggered: whatever a full inbox left in the kernel makes the loop call again
        // after JS drained.
        receiver.read_burst(&self.socket, &self.shared, &self.gate);
        !self.shared.engine().inbox_is_empty()
    }

    /// Accepts a datagram for the next [`BoundSocket::flush`]. Sends made while JS handles one
    /// batch (replies, follow-up queries) then reach the kernel in one `sendmmsg`.
    pub fn enqueue(&self, data: &[u8], to: SocketAddr) -> io::Result<()> {
        let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        if outbox.bytes.len() + data.len() > MAX_QUEUED_SEND_BYTES {
            drop(outbox);
            self.shared.engine().count_send_queued(false);
            return Err(io::Error::from_raw_os_error(ENOBUFS));
        }
        let start = outbox.bytes.len();
        outbox.bytes.extend_from_slice(data);
        outbox.items.push((start, data.len(), to));
        Ok(())
    }

    /// Sends everything enqueued, in order. `results[i]` gets the bytes of the i-th datagram, or
    /// `-errno`; datagrams the kernel has no room for yet are queued for the runtime (and count as
    /// sent, like a dgram send waiting in libuv's queue). Returns the number of datagrams;
    /// `results` must have room for all of them (see [`BoundSocket::pending`]).
    pub fn flush(&self, results: &mut [i32]) -> usize {
        let mut outbox = self.outbox.lock().unwrap_or_else(|p| p.into_inner());
        let count = outbox.items.len().min(results.len());
        let mut next = 0;
        let direct = self.queue().may_send_directly(count, self.epoch);
        if direct > 0 {
            while next < direct {
                match send_batch(&self.socket, &outbox, next, direct, results) {
                    Ok(sent) => next += sent,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        results[next] = -e.raw_os_error().unwrap_or(22);
                        next += 1;
                    }
                }
            }
        }
        for (result, &(start, len, to)) in results[next..count]
            .iter_mut()
            .zip(&outbox.items[next..count])
        {
            *result = match self.queue_for_runtime(&outbox.bytes[start..start + len], to) {
                Ok(()) => len as i32,
                Err(e) => -e.raw_os_error().unwrap_or(22),
            };
        }
        outbox.items.drain(..count);
        if outbox.items.is_empty() {
            outbox.bytes.clear();
            if outbox.bytes.capacity() > 1 << 20 {
                outbox.bytes.shrink_to(64 << 10);
            }
        }
        count
    }

    /// Sends one datagram right away, or returns `None` when datagrams wait for
    /// [`BoundSocket::flush`] (it must not overtake them). Otherwise the bytes sent, or `-errno`;
    /// a datagram the kernel has no room for yet is queued for the runtime and counts as sent,
    /// as in `flush`. One call instead of `enqueue` + `flush` for the first sends of a tick.
    pub fn send_now(&self, data: &[u8], to: SocketAddr) -> Option<i32> {
        if self.pending() > 0 {
            return None;
        }
        let sent = if self.queue().may_send_directly(1, self.epoch) == 1 {
            self.socket.send_to(data, to)
        } else {
            Err(io::ErrorKind::WouldBlock.into())
        };
        Some(match sent {
            Ok(n) => n as i32,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match self.queue_for_runtime(data, to) {
                    Ok(()) => data.len() as i32,
                    Err(e) => -e.raw_os_error().unwrap_or(22),
                }
            }
            Err(e) => -e.raw_os_error().unwrap_or(22),
        })
    }

    fn queue(&self) -> MutexGuard<'_, SendQueue> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Datagrams waiting for the runtime (for the pacer, or for room in the kernel's buffer).
    pub fn queued(&self) -> usize {
        let queue = self.queue();
        queue.datagrams.len() + usize::from(queue.held)
    }

    /// Datagrams waiting for [`BoundSocket::flush`].
    pub fn pending(&self) -> usize {
        self.outbox
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .items
            .len()
    }

    fn queue_for_runtime(&self, data: &[u8], to: SocketAddr) -> io::Result<()> {
        let mut queue = self.queue();
        if queue.bytes + data.len() > MAX_QUEUED_SEND_BYTES {
            drop(queue);
            self.shared.engine().count_send_queued(false);
            return Err(io::Error::from_raw_os_error(ENOBUFS));
        }
        queue.bytes += data.len();
        queue.datagrams.push_back((data.to_vec(), to));
        drop(queue);
        self.writable.notify_one();
        self.shared.engine().count_send_queued(true);
        Ok(())
    }

    /// Socket options by reference (buffer sizes).
    pub fn sock_ref(&self) -> SockRef<'_> {
        SockRef::from(&*self.socket)
    }

    /// Frees the port now and stops the task.
    ///
    /// The descriptor itself cannot be closed here: the runtime's task may still name it (a
    /// registration to drop, a call about to start), and a closed number can be reused by the
    /// next `socket()` at once, which that task would then read from, send on or deregister
    /// from its epoll. So the socket behind the descriptor is replaced instead (`dup3` of an
    /// inert socket onto the same number): the UDP socket is released (port free, and gone from
    /// every epoll set, libuv's and the runtime's, as the kernel drops a closed file from them),
    /// while the number stays reserved, pointing at a socket on which every call fails at once,
    /// until the last owner drops it. Costs two system calls on the JS thread, after waiting for
    /// at most one non-blocking call of the runtime's (see [`Gate`]).
    pub fn close(&self) {
        {
            let mut closed = self.gate.closed.lock().unwrap_or_else(|p| p.into_inner());
            if !*closed {
                *closed = true;
                // Without an inert socket (none could be made) the port is freed when the last
                // owner closes the descriptor, a moment later on the runtime thread.
                let _ = replace_with_inert(self.socket.as_raw_fd());
            }
        }
        self.shutdown.notify_one();
    }
}

/// One socket on which every call fails at once, shared by all closed sockets of the process
/// (each holds a duplicate of it): an unbound, non-blocking AF_UNIX datagram socket. Receiving
/// finds nothing (`EAGAIN`) and sending to an IP address is refused (`EINVAL`) before anything
/// could leave. Made on first use, and kept.
fn inert() -> io::Result<RawFd> {
    static INERT: std::sync::OnceLock<Socket> = std::sync::OnceLock::new();
    if let Some(socket) = INERT.get() {
        return Ok(socket.as_raw_fd());
    }
    let socket = Socket::new(Domain::UNIX, Type::DGRAM.nonblocking().cloexec(), None)?;
    Ok(INERT.get_or_init(|| socket).as_raw_fd())
}

/// Points `fd` at the inert socket, closing what it referred to (atomically: the number is never
/// free in between).
fn replace_with_inert(fd: RawFd) -> io::Result<()> {
    let inert = inert()?;
    loop {
        // SAFETY: `inert` is a descriptor kept open for the life of the process, and `fd` one
        // this socket owns; dup3 only changes what `fd` refers to.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let result = unsafe { libc::dup3(inert, fd, libc::O_CLOEXEC) };
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let result = unsafe {
            let result = libc::dup2(inert, fd);
            if result >= 0 {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
            result
        };
        if result >= 0 {
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        self.close();
    }
}

/// Sends outbox items from `first` (before `end`) in one system call where the platform has one;
/// returns how many were sent, or the error of item `first`.
#[cfg(target_os = "linux")]
fn send_batch(
    socket: &UdpSocket,
    outbox: &Outbox,
    first: usize,
    end: usize,
    results: &mut [i32],
) -> io::Result<usize> {
    let items = &outbox.items[first..end.min(first + SEND_BATCH)];
    if items.len() == 1 {
        return send_one(socket, outbox, first, results);
    }
    let addresses: Vec<socket2::SockAddr> = items.iter().map(|&(_, _, to)| to.into()).collect();
    let mut iovecs: Vec<libc::iovec> = items
        .iter()
        .map(|&(start, len, _)| libc::iovec {
            iov_base: outbox.bytes[start..start + len].as_ptr() as *mut std::ffi::c_void,
            iov_len: len,
        })
        .collect();
    let mut messages: Vec<libc::mmsghdr> = addresses
        .iter()
        .zip(iovecs.iter_mut())
        .map(|(address, iovec)| {
            // SAFETY: msghdr is plain data; zero is a valid value for every field.
            let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
            header.msg_name = address.as_ptr() as *mut std::ffi::c_void;
            header.msg_namelen = address.len();
            header.msg_iov = iovec;
            header.msg_iovlen = 1;
            libc::mmsghdr {
                msg_hdr: header,
                msg_len: 0,
            }
        })
        .collect();
    // SAFETY: every pointer in `messages` refers to `addresses`, `iovecs` or the outbox's bytes,
    // all alive and unmoved for the duration of the call.
    let sent = unsafe {
        libc::sendmmsg(
            socket.as_raw_fd(),
            messages.as_mut_ptr(),
            messages.len() as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if sent <= 0 {
        // The first datagram failed: send it alone for its own error (or success on a retry).
        return send_one(socket, outbox, first, results);
    }
    for (i, message) in messages.iter().take(sent as usize).enumerate() {
        results[first + i] = message.msg_len as i32;
    }
    Ok(sent as usize)
}

#[cfg(not(target_os = "linux"))]
fn send_batch(
    socket: &UdpSocket,
    outbox: &Outbox,
    first: usize,
    _end: usize,
    results: &mut [i32],
) -> io::Result<usize> {
    send_one(socket, outbox, first, results)
}

fn send_one(
    socket: &UdpSocket,
    outbox: &Outbox,
    index: usize,
    results: &mut [i32],
) -> io::Result<usize> {
    let (start, len, to) = outbox.items[index];
    let sent = socket.send_to(&outbox.bytes[start..start + len], to)?;
    results[index] = sent as i32;
    Ok(1)
}

/// A non-blocking, close-on-exec UDP socket. Where the flags cannot be given to socket(2)
/// (macOS, Windows), socket2 sets close-on-exec / no-inherit itself and non-blocking is set after.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn new_socket(domain: Domain) -> io::Result<Socket> {
    Socket::new(domain, Type::DGRAM.nonblocking().cloexec(), None)
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn new_socket(domain: Domain) -> io::Result<Socket> {
    let socket = Socket::new(domain, Type::DGRAM, None)?;
    socket.set_nonblocking(true)?;
    Ok(socket)
}

/// The socket's descriptor, for registering with the runtime without giving it ownership: the
/// socket stays owned by its `Arc`, which outlives every registration (they are dropped first).
#[cfg(unix)]
struct Descriptor(RawFd);

#[cfg(unix)]
impl AsRawFd for Descriptor {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The runtime's registration of the socket.
#[cfg(unix)]
type Watched = AsyncFd<Descriptor>;
#[cfg(not(unix))]
type Watched = portable::Watched;

#[cfg(not(unix))]
use portable::watch;

#[cfg(unix)]
fn watch(socket: &UdpSocket, interest: Interest) -> io::Result<AsyncFd<Descriptor>> {
    // SAFETY: the descriptor belongs to a socket that the caller keeps open for longer than
    // the returned registration (both live in the same task, the socket in an Arc).
    let registered =
        unsafe { AsyncFd::register_with_interest(Descriptor(socket.as_raw_fd()), interest) };
    registered.map_err(|e| e.into_parts().1)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    socket: Arc<UdpSocket>,
    watched: Option<Watched>,
    shared: Arc<Shared>,
    reader: Option<(Receiver, Wake)>,
    queue: Arc<Mutex<SendQueue>>,
    writable: Arc<Notify>,
    shutdown: Arc<Notify>,
    gate: Arc<Gate>,
    epoch: Instant,
) {
    // Shutdown ends the task wherever it waits, a flush waiting for the kernel or the pacer
    // included: once closed, the socket is inert and would never become writable. What still
    // waits is dropped, as dgram drops the sends queued on a closed socket.
    let sends = async {
        loop {
            writable.notified().await;
            flush(&socket, watched.as_ref(), &queue, &shared, &gate, epoch).await;
        }
    };
    // Sends and reads wait side by side: a flush waiting for the pacer (seconds, with a backlog)
    // must not hold up reading.
    tokio::select! {
        biased;
        _ = shutdown.notified() => {}
        _ = sends => {}
        _ = receive(&socket, watched.as_ref(), &shared, reader, &gate) => {}
    }
}

async fn receive(
    socket: &UdpSocket,
    watched: Option<&Watched>,
    shared: &Shared,
    reader: Option<(Receiver, Wake)>,
    gate: &Gate,
) {
    let Some((mut receiver, wake)) = reader else {
        return std::future::pending().await;
    };
    let Some(fd) = watched else {
        return std::future::pending().await;
    };
    loop {
        let Ok(mut guard) = fd.readable().await else {
            return;
        };
        let burst = receiver.read_burst(socket, shared, gate);
        if !shared.engine().inbox_is_empty() {
            shared.wake_if_needed(&wake);
        }
        match burst {
            Burst::Empty => guard.clear_ready(),
            Burst::Bounded => tokio::task::yield_now().await,
            // What waits stays in the kernel's queue (bounded by SO_RCVBUF, as with dgram) until
            // JS drains; readiness stays set, so the next look reads on.
            Burst::InboxFull => {
                drop(guard);
                shared.drained.notified().await;
            }
        }
    }
}

/// Sends what the JS thread had to queue, in order, each datagram once the pacer (if any) has a
/// token for it and the kernel has room. When the runtime does not watch the socket already, it
/// registers it only when the kernel is full, and for the rest of this flush.
async fn flush(
    socket: &UdpSocket,
    watched: Option<&Watched>,
    queue: &Mutex<SendQueue>,
    shared: &Shared,
    gate: &Gate,
    epoch: Instant,
) {
    let mut temporary = None;
    loop {
        let next = {
            let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
            let now = nanos_since(epoch);
            match q.pacer.as_mut().map_or(0, |pacer| pacer.wait(now)) {
                _ if q.datagrams.is_empty() => return,
                0 => {
                    if let Some(pacer) = q.pacer.as_mut() {
                        pacer.try_take(now);
                    }
                    let Some(item) = q.datagrams.pop_front() else {
                        return;
                    };
                    q.bytes -= item.0.len();
                    q.held = true;
                    Ok(item)
                }
                wait => Err(Duration::from_nanos(wait)),
            }
        };
        let next = match next {
            Ok(item) => item,
            Err(wait) => {
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let result = send_queued(socket, watched, &mut temporary, gate, &next).await;
        queue.lock().unwrap_or_else(|p| p.into_inner()).held = false;
        match result {
            None => return,
            Some(Err(_)) => shared.engine().count_send_error(),
            Some(Ok(_)) => {}
        }
    }
}

/// One send, waiting for room in the kernel's buffer; `None` once the socket is closed.
async fn send_queued(
    socket: &UdpSocket,
    watched: Option<&Watched>,
    temporary: &mut Option<Watched>,
    gate: &Gate,
    (data, to): &(Vec<u8>, SocketAddr),
) -> Option<io::Result<usize>> {
    match gate.open(|| socket.send_to(data, *to))? {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        result => return Some(result),
    }
    let fd = match watched {
        Some(fd) => fd,
        None => {
            if temporary.is_none() {
                *temporary = Some(watch(socket, Interest::WRITABLE).ok()?);
            }
            temporary.as_ref()?
        }
    };
    loop {
        let Ok(mut guard) = fd.writable().await else {
            return None;
        };
        match guard.try_io(|_| gate.open(|| socket.send_to(data, *to)).transpose()) {
            Ok(Ok(None)) => return None,
            Ok(result) => return Some(result.map(|sent| sent.unwrap_or(0))),
            Err(_would_block) => continue,
        }
    }
}

/// Scratch memory for reading, one set per thread (the JS thread, the runtime thread) instead of
/// per socket: a socket costs no 128 KiB of buffers, and short-lived sockets do not churn them.
struct Scratch {
    buffer: Vec<u8>,
    burst: Vec<u8>,
    marks: Vec<(usize, usize, SocketAddr)>,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch {
        buffer: vec![0; SCRATCH_BYTES],
        burst: Vec::with_capacity(RECV_BUFFER),
        marks: Vec::with_capacity(IO_LOOP_BOUND),
    });
}

/// Why a read burst stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Burst {
    /// The socket's queue is empty.
    Empty,
    /// A count or time bound was hit: more may be waiting.
    Bounded,
    /// The inbox might not take the next datagrams: they wait in the kernel until JS drains.
    InboxFull,
}

/// Reads datagrams in bursts and ingests each burst under one lock.
struct Receiver {
    ipv6_socket: bool,
    /// IPv4 senders of a dual-stack socket come as `::ffff:a.b.c.d`; they are reported as
    /// `a.b.c.d`, family IPv4, as an IPv4 socket would report them.
    dual_stack: bool,
    last_ip: Option<IpAddr>,
    address_text: [u8; 64],
    address_len: usize,
}

impl Receiver {
    fn new(ipv6_socket: bool, dual_stack: bool) -> Self {
        Self {
            ipv6_socket,
            dual_stack,
            last_ip: None,
            address_text: [0; 64],
            address_len: 0,
        }
    }

    /// Reads until the socket is empty, a bound is hit, or the inbox might not take the next
    /// datagrams: those stay in the kernel's queue and are read once JS drained (the next
    /// readiness event in Node's loop, which is level-triggered; `Shared::drained` on the
    /// runtime).
    fn read_burst(&mut self, socket: &UdpSocket, shared: &Shared, gate: &Gate) -> Burst {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => self.read_burst_with(&mut scratch, socket, shared, gate),
            // Only reachable if reading re-entered itself on this thread; the next readiness
            // event reads instead.
            Err(_) => Burst::Bounded,
        })
    }

    fn read_burst_with(
        &mut self,
        scratch: &mut Scratch,
        socket: &UdpSocket,
        shared: &Shared,
        gate: &Gate,
    ) -> Burst {
        let Scratch {
            buffer,
            burst,
            marks,
        } = scratch;
        let started = Instant::now();
        let mut outcome = Burst::Empty;
        burst.clear();
        marks.clear();
        loop {
            let slots = RECV_BATCH.min(shared.engine().inbox_room_for(
                RECV_BUFFER,
                marks.len(),
                burst.len(),
            ));
            if slots == 0 {
                outcome = Burst::InboxFull;
                break;
            }
            let scratch = &mut buffer[..slots * RECV_BUFFER];
            let read = gate.open(|| {
                recv_batch(socket, scratch, |data, from| {
                    marks.push((burst.len(), data.len(), from));
                    burst.extend_from_slice(data);
                })
            });
            let Some(read) = read else { break };
            match read {
                // Fewer than asked: the socket is empty, no need for a call that says so.
                Ok((count, asked)) if count < asked => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // Windows reports the ICMP "port unreachable" of an earlier send as WSAECONNRESET
                // on a later receive; the datagrams behind it are still there: read on (within
                // the bounds below).
                #[cfg(windows)]
                Err(e) if e.raw_os_error() == Some(WSAECONNRESET) => {}
                // ICMP errors surface on unconnected sockets only with IP_RECVERR; anything
                // else is transient for UDP. Try again on the next readiness event.
                Err(_) => break,
            }
            if marks.len() >= IO_LOOP_BOUND || started.elapsed() >= RECV_TIME_BOUND {
                outcome = Burst::Bounded;
                break;
            }
        }
        if marks.is_empty() {
            return outcome;
        }
        let now_ms = shared.clock.now_ms();
        let mut engine = shared.engine();
        for &(start, len, from) in marks.iter() {
            let ip = match from.ip() {
                IpAddr::V6(v6) if self.dual_stack => {
                    v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
                }
                ip => ip,
            };
            self.format_address(ip);
            let source = Source {
                address: &self.address_text[..self.address_len],
                ipv6: self.ipv6_socket && ip.is_ipv6(),
                port: from.port(),
            };
            engine.ingest_at(&burst[start..start + len], source, now_ms);
        }
        // A 60 KB flood burst should not pin its capacity on every thread forever.
        if burst.capacity() > 4 * RECV_BUFFER {
            burst.shrink_to(RECV_BUFFER);
        }
        outcome
    }

    /// The address as Node prints it in `rinfo.address`, cached for consecutive datagrams.
    fn format_address(&mut self, ip: IpAddr) {
        if self.last_ip == Some(ip) {
            return;
        }
        let mut cursor = io::Cursor::new(&mut self.address_text[..]);
        // 64 bytes hold any IPv6 text (at most 45), so this cannot fail.
        let _ = write!(cursor, "{ip}");
        self.address_len = cursor.position() as usize;
        self.last_ip = Some(ip);
    }
}

/// Readiness without `AsyncFd` (unix-only): the runtime registers its own handle to the socket,
/// a `tokio::net::UdpSocket` made from a duplicate (`try_clone`), and learns readiness from it.
/// Reads and writes still go through the std socket; `Guard` has the two `AsyncFdReadyGuard`
/// methods used above.
#[cfg(not(unix))]
mod portable {
    use std::io;
    use std::net::UdpSocket;

    use tokio::io::Interest;

    pub struct Watched(tokio::net::UdpSocket);

    pub fn watch(socket: &UdpSocket, _interest: Interest) -> io::Result<Watched> {
        let duplicate = socket.try_clone()?;
        duplicate.set_nonblocking(true)?;
        tokio::net::UdpSocket::from_std(duplicate).map(Watched)
    }

    pub struct Guard<'a>(&'a Watched, Interest);

    impl Watched {
        pub async fn readable(&self) -> io::Result<Guard<'_>> {
            self.0
                .readable()
                .await
                .map(|()| Guard(self, Interest::READABLE))
        }

        pub async fn writable(&self) -> io::Result<Guard<'_>> {
            self.0
                .writable()
                .await
                .map(|()| Guard(self, Interest::WRITABLE))
        }
    }

    impl Guard<'_> {
        /// The socket was read until it would block: forget the readiness.
        pub fn clear_ready(&mut self) {
            let _ = self
                .0
                 .0
                .try_io(self.1, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
        }

        /// Runs `f`; a `WouldBlock` clears the readiness and comes back as `Err`.
        pub fn try_io<R>(
            &mut self,
            f: impl FnOnce(&()) -> io::Result<R>,
        ) -> Result<io::Result<R>, ()> {
            match self.0 .0.try_io(self.1, || f(&())) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(()),
                other => Ok(other),
            }
        }
    }
}
