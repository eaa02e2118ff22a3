//! A bound UDP socket: a receive task that feeds the engine, and sends that go straight to the
//! kernel from the caller's thread.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use socket2::{Domain, SockAddr, SockRef, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::Notify;

use super::runtime;
use crate::core::engine::{Engine, Source};

/// Most datagrams read per wake-up before the task yields, so one flooded socket cannot starve
/// the others on the shared runtime thread (quinn bounds its receive loop the same way).
const IO_LOOP_BOUND: usize = 160;
/// Most time spent reading per wake-up, for the same reason.
const RECV_TIME_BOUND: Duration = Duration::from_micros(500);
/// Largest UDP payload plus slack: a datagram is never truncated.
const RECV_BUFFER: usize = 65536;
/// Bytes queued while the kernel's send buffer is full. dgram queues without a limit; past this
/// a send fails with ENOBUFS instead of growing memory forever.
const MAX_QUEUED_SEND_BYTES: usize = 4 << 20;

/// Tells JS that the inbox has something. Called at most once per drain.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// What the JS thread and the receive task share.
pub struct Shared {
    engine: Mutex<Engine>,
    /// Set when JS has been woken and has not drained yet: wake only on the empty -> non-empty edge.
    woken: AtomicBool,
}

impl Shared {
    /// Shares `engine` between JS and the driver.
    pub fn new(engine: Engine) -> Arc<Self> {
        Arc::new(Self {
            engine: Mutex::new(engine),
            woken: AtomicBool::new(false),
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

    fn wake_if_needed(&self, wake: &Wake) {
        if !self.woken.swap(true, Ordering::AcqRel) {
            wake();
        }
    }
}

struct SendQueue {
    datagrams: VecDeque<(Vec<u8>, SocketAddr)>,
    bytes: usize,
}

/// Stops a socket's task; cheap to clone and independent of the socket's owner.
#[derive(Clone)]
pub struct Closer(Arc<Notify>);

impl Closer {
    /// Stops the task (idempotent).
    pub fn close(&self) {
        self.0.notify_one();
    }
}

/// A socket bound on the runtime, with its receive task running.
pub struct BoundSocket {
    socket: Arc<UdpSocket>,
    local: SocketAddr,
    queue: Arc<Mutex<SendQueue>>,
    writable: Arc<Notify>,
    shutdown: Arc<Notify>,
}

impl BoundSocket {
    /// Binds `address` and starts feeding `shared`'s engine; `wake` is called when JS has work.
    /// `epoch` is the clock origin of the engine's `now_ms` values (rate limiting needs one).
    pub fn bind(
        address: SocketAddr,
        shared: Arc<Shared>,
        wake: Wake,
        epoch: Instant,
    ) -> io::Result<Self> {
        let domain = if address.is_ipv6() {
            Domain::IPV6
        } else {
            Domain::IPV4
        };
        let socket = Socket::new(domain, Type::DGRAM.nonblocking().cloexec(), None)?;
        socket.bind(&address.into())?;
        let local = socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::from(io::ErrorKind::AddrNotAvailable))?;
        let handle = runtime::handle()?;
        let socket = {
            let _context = handle.enter();
            Arc::new(UdpSocket::from_std(socket.into())?)
        };
        let bound = Self {
            socket: Arc::clone(&socket),
            local,
            queue: Arc::new(Mutex::new(SendQueue {
                datagrams: VecDeque::new(),
                bytes: 0,
            })),
            writable: Arc::new(Notify::new()),
            shutdown: Arc::new(Notify::new()),
        };
        handle.spawn(run(
            socket,
            shared,
            wake,
            epoch,
            Arc::clone(&bound.queue),
            Arc::clone(&bound.writable),
            Arc::clone(&bound.shutdown),
        ));
        Ok(bound)
    }

    /// The bound address (port 0 resolved).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Sends one datagram. Tries the kernel right away on the calling thread (no hop to the
    /// runtime thread, so no added latency); if the send buffer is full, queues it for the task,
    /// keeping order with anything queued before.
    pub fn send(&self, data: &[u8], to: SocketAddr) -> io::Result<usize> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.datagrams.is_empty() {
            match SockRef::from(&*self.socket).send_to(data, &SockAddr::from(to)) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                result => return result,
            }
        }
        if queue.bytes + data.len() > MAX_QUEUED_SEND_BYTES {
            return Err(io::Error::from_raw_os_error(libc_enobufs()));
        }
        queue.bytes += data.len();
        queue.datagrams.push_back((data.to_vec(), to));
        drop(queue);
        self.writable.notify_one();
        Ok(data.len())
    }

    /// Socket options by reference (buffer sizes).
    pub fn sock_ref(&self) -> SockRef<'_> {
        SockRef::from(&*self.socket)
    }

    /// Stops the task; the socket closes when the task lets go of it, on the runtime thread.
    pub fn close(&self) {
        self.shutdown.notify_one();
    }

    /// A handle that stops the task from elsewhere (an environment cleanup hook).
    pub fn closer(&self) -> Closer {
        Closer(Arc::clone(&self.shutdown))
    }
}

impl Drop for BoundSocket {
    fn drop(&mut self) {
        self.close();
    }
}

fn libc_enobufs() -> i32 {
    105 // ENOBUFS on Linux; the value only feeds the error text JS shows.
}

async fn run(
    socket: Arc<UdpSocket>,
    shared: Arc<Shared>,
    wake: Wake,
    epoch: Instant,
    queue: Arc<Mutex<SendQueue>>,
    writable: Arc<Notify>,
    shutdown: Arc<Notify>,
) {
    let ipv6 = socket.local_addr().map(|a| a.is_ipv6()).unwrap_or(false);
    let mut receiver = Receiver::new(ipv6, epoch);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.notified() => return,
            _ = writable.notified() => flush(&socket, &queue, &shared).await,
            ready = socket.readable() => {
                if ready.is_err() {
                    return;
                }
                if receiver.read_burst(&socket, &shared, &wake) {
                    tokio::task::yield_now().await;
                }
            }
        }
    }
}

/// Sends what the JS thread had to queue, waiting for the kernel as needed.
async fn flush(socket: &UdpSocket, queue: &Mutex<SendQueue>, shared: &Shared) {
    loop {
        let next = {
            let mut q = queue.lock().unwrap_or_else(|p| p.into_inner());
            match q.datagrams.pop_front() {
                Some(item) => {
                    q.bytes -= item.0.len();
                    item
                }
                None => return,
            }
        };
        if socket.send_to(&next.0, next.1).await.is_err() {
            shared.engine().count_send_error();
        }
    }
}

/// Reads datagrams in bursts and ingests each burst under one lock.
struct Receiver {
    buffer: Vec<u8>,
    burst: Vec<u8>,
    marks: Vec<(usize, usize, SocketAddr)>,
    ipv6_socket: bool,
    epoch: Instant,
    last_ip: Option<IpAddr>,
    address_text: [u8; 64],
    address_len: usize,
}

impl Receiver {
    fn new(ipv6_socket: bool, epoch: Instant) -> Self {
        Self {
            buffer: vec![0; RECV_BUFFER],
            burst: Vec::with_capacity(RECV_BUFFER),
            marks: Vec::with_capacity(IO_LOOP_BOUND),
            ipv6_socket,
            epoch,
            last_ip: None,
            address_text: [0; 64],
            address_len: 0,
        }
    }

    /// Returns true when it stopped because of its bounds (more may be waiting).
    fn read_burst(&mut self, socket: &UdpSocket, shared: &Shared, wake: &Wake) -> bool {
        let started = Instant::now();
        let mut bounded = false;
        self.burst.clear();
        self.marks.clear();
        loop {
            match socket.try_recv_from(&mut self.buffer) {
                Ok((len, from)) => {
                    let start = self.burst.len();
                    self.burst.extend_from_slice(&self.buffer[..len]);
                    self.marks.push((start, len, from));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // ICMP errors surface on unconnected sockets only with IP_RECVERR; anything
                // else is transient for UDP. Try again on the next readiness event.
                Err(_) => break,
            }
            if self.marks.len() >= IO_LOOP_BOUND || started.elapsed() >= RECV_TIME_BOUND {
                bounded = true;
                break;
            }
        }
        if self.marks.is_empty() {
            return bounded;
        }
        let now_ms = self.epoch.elapsed().as_millis() as u64;
        let mut engine = shared.engine();
        for i in 0..self.marks.len() {
            let (start, len, from) = self.marks[i];
            self.format_address(from.ip());
            let source = Source {
                address: &self.address_text[..self.address_len],
                ipv6: self.ipv6_socket,
                port: from.port(),
            };
            engine.ingest_at(&self.burst[start..start + len], source, now_ms);
        }
        let has_work = !engine.inbox_is_empty();
        drop(engine);
        if has_work {
            shared.wake_if_needed(wake);
        }
        bounded
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
