//! The receive path: bounded bursts of `recvmmsg` into the engine, on the caller's thread
//! ([`super::BoundSocket::read_ready`]) or in the runtime task ([`receive`]). A burst stops where
//! the inbox might not take more, so what JS has not drained yet waits in the kernel's queue.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

#[cfg(windows)]
use windows_sys::Win32::Networking::WinSock::WSAECONNRESET;

use super::recv::{recv_batch, RECV_BATCH, RECV_BUFFER, SCRATCH_BYTES};
use super::shared::{Gate, Shared, Wake};
use super::udp::Watched;
use crate::core::engine::Source;

/// Most datagrams read per wake-up before control goes back to the loop, so one flooded socket
/// cannot starve timers, sends or other sockets (quinn bounds its receive loop the same way).
pub(super) const IO_LOOP_BOUND: usize = 160;

/// Most time spent reading per wake-up, for the same reason.
pub(super) const RECV_TIME_BOUND: Duration = Duration::from_micros(500);

pub(super) async fn receive(
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

/// Scratch memory for reading, one set per thread (the JS thread, the runtime thread) instead of
/// per socket: a socket costs no 128 KiB of buffers, and short-lived sockets do not churn them.
pub(super) struct Scratch {
    pub(super) buffer: Vec<u8>,
    pub(super) burst: Vec<u8>,
    pub(super) marks: Vec<(usize, usize, SocketAddr)>,
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
pub(super) enum Burst {
    /// The socket's queue is empty.
    Empty,
    /// A count or time bound was hit: more may be waiting.
    Bounded,
    /// The inbox might not take the next datagrams: they wait in the kernel until JS drains.
    InboxFull,
}

/// Reads datagrams in bursts and ingests each burst under one lock.
pub(super) struct Receiver {
    ipv6_socket: bool,
    /// IPv4 senders of a dual-stack socket come as `::ffff:a.b.c.d`; they are reported as
    /// `a.b.c.d`, family IPv4, as an IPv4 socket would report them.
    pub(super) dual_stack: bool,
    pub(super) last_ip: Option<IpAddr>,
    pub(super) address_text: [u8; 64],
    pub(super) address_len: usize,
}

impl Receiver {
    pub(super) fn new(ipv6_socket: bool, dual_stack: bool) -> Self {
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
    pub(super) fn read_burst(&mut self, socket: &UdpSocket, shared: &Shared, gate: &Gate) -> Burst {
        SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
            Ok(mut scratch) => self.read_burst_with(&mut scratch, socket, shared, gate),
            // Only reachable if reading re-entered itself on this thread; the next readiness
            // event reads instead.
            Err(_) => Burst::Bounded,
        })
    }

    pub(super) fn read_burst_with(
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
    pub(super) fn format_address(&mut self, ip: IpAddr) {
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
