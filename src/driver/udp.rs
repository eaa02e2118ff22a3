//! A bound UDP socket: its setup (family, IPV6_V6ONLY, bind), the Tokio task that serves it,
//! and its close, which frees the port before it returns. The send path is `sender.rs`, the
//! receive path `reader.rs`, what the threads share `shared.rs`.
//!
//! Receiving happens in one of two places (`Receive`):
//! * `OnCaller`: whoever owns the event loop of the JS thread (the binding, with libuv) is told
//!   about readability and calls [`BoundSocket::read_ready`] there. Nothing crosses a thread, so
//!   a reply costs no thread wake-up: on an idle VM each wake-up of a sleeping thread costs tens of
//!   microseconds, which dominated the round trip of a single query.
//! * `OnRuntime`: a Tokio task reads and wakes JS through the [`Wake`] callback once per batch.
//!   Used where the caller's loop cannot be reached.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, UdpSocket};
#[cfg(unix)]
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use socket2::{Domain, SockRef, Socket, Type};
#[cfg(unix)]
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::Notify;

use super::reader::{receive, Receiver};
use super::runtime;
use super::sender::{flush, send_batch, Outbox, SendQueue, ENOBUFS, MAX_QUEUED_SEND_BYTES};
use super::shared::{Gate, Receive, Shared, Wake};
use crate::core::pacer::Pacer;

#[cfg(windows)]
use windows_sys::Win32::Networking::WinSock::WSAECONNRESET;

/// Reported for a failed send that carries no OS error code (none is known to occur).
const EINVAL: i32 = libc::EINVAL;

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
                        results[next] = -e.raw_os_error().unwrap_or(EINVAL);
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
                Err(e) => -e.raw_os_error().unwrap_or(EINVAL),
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
                    Err(e) => -e.raw_os_error().unwrap_or(EINVAL),
                }
            }
            Err(e) => -e.raw_os_error().unwrap_or(EINVAL),
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
pub(super) struct Descriptor(RawFd);

#[cfg(unix)]
impl AsRawFd for Descriptor {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The runtime's registration of the socket.
#[cfg(unix)]
pub(super) type Watched = AsyncFd<Descriptor>;
#[cfg(not(unix))]
pub(super) type Watched = portable::Watched;

#[cfg(not(unix))]
use portable::watch;

#[cfg(unix)]
pub(super) fn watch(socket: &UdpSocket, interest: Interest) -> io::Result<AsyncFd<Descriptor>> {
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
