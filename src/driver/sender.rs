//! The send path: the outbox JS fills during a tick and flushes with one `sendmmsg`, and the
//! queue the runtime task drains when the kernel had no room or the pacer (`sendRate`) holds
//! datagrams back, in order and bounded.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, UdpSocket};
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::io::Interest;

use super::shared::{Gate, Shared};
use super::udp::{watch, Watched};
use crate::core::pacer::Pacer;

/// Bytes queued while the kernel's send buffer is full. dgram queues without a limit; past this
/// a send fails with ENOBUFS instead of growing memory forever.
pub(super) const MAX_QUEUED_SEND_BYTES: usize = 4 << 20;

/// The platform's "no buffer space" error, reported when that bound is hit.
#[cfg(unix)]
pub(super) const ENOBUFS: i32 = libc::ENOBUFS;

#[cfg(windows)]
pub(super) const ENOBUFS: i32 = windows_sys::Win32::Networking::WinSock::WSAENOBUFS;

pub(super) struct SendQueue {
    pub(super) datagrams: VecDeque<(Vec<u8>, SocketAddr)>,
    pub(super) bytes: usize,
    /// The runtime took the front datagram and has not sent it yet: a new one must still wait
    /// behind it.
    pub(super) held: bool,
    /// Opt-in pacing of every outgoing datagram (`sendRate`).
    pub(super) pacer: Option<Pacer>,
}

impl SendQueue {
    /// How many of `n` datagrams may go to the kernel now, from the JS thread: none while any
    /// waits for the runtime (they would overtake it), else as many as the pacer has tokens for.
    pub(super) fn may_send_directly(&mut self, n: usize, epoch: Instant) -> usize {
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
pub(super) fn nanos_since(epoch: Instant) -> u64 {
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Datagrams accepted by [`BoundSocket::enqueue`] and not flushed yet.
#[derive(Default)]
pub(super) struct Outbox {
    pub(super) bytes: Vec<u8>,
    pub(super) items: Vec<(usize, usize, SocketAddr)>,
}

/// Most datagrams handed to one `sendmmsg` call.
pub(super) const SEND_BATCH: usize = 64;

/// Sends outbox items from `first` (before `end`) in one system call where the platform has one;
/// returns how many were sent, or the error of item `first`.
#[cfg(target_os = "linux")]
pub(super) fn send_batch(
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
pub(super) fn send_batch(
    socket: &UdpSocket,
    outbox: &Outbox,
    first: usize,
    _end: usize,
    results: &mut [i32],
) -> io::Result<usize> {
    send_one(socket, outbox, first, results)
}

pub(super) fn send_one(
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

/// Sends what the JS thread had to queue, in order, each datagram once the pacer (if any) has a
/// token for it and the kernel has room. When the runtime does not watch the socket already, it
/// registers it only when the kernel is full, and for the rest of this flush.
pub(super) async fn flush(
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
pub(super) async fn send_queued(
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
