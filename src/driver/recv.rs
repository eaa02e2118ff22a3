//! Reading several datagrams per system call.
//!
//! Reading until `EAGAIN` one `recvfrom` at a time costs one call that returns nothing per
//! wake-up; at one or two datagrams per wake-up (a flood paced by its sender, a few queries in
//! flight) that empty call is a third to a half of the system calls. `recvmmsg` with
//! `MSG_DONTWAIT` returns what is queued, up to [`RECV_BATCH`], and reports an empty queue by
//! returning fewer: a wake-up with one datagram costs one call.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Largest UDP payload plus slack: a datagram is never truncated.
pub const RECV_BUFFER: usize = 65536;
/// Datagrams one call can return. The scratch memory is this many [`RECV_BUFFER`]s per thread
/// (only the pages datagrams touch become resident).
pub const RECV_BATCH: usize = 16;

/// Scratch bytes one [`recv_batch`] call needs.
pub const SCRATCH_BYTES: usize = RECV_BUFFER * RECV_BATCH;

/// Reads up to [`RECV_BATCH`] datagrams (as many as `scratch` holds) and calls `each` with every
/// one, in arrival order. Returns how many were read; fewer than asked means the socket was empty.
/// `WouldBlock` when nothing was queued.
#[cfg(target_os = "linux")]
pub fn recv_batch(
    socket: &UdpSocket,
    scratch: &mut [u8],
    mut each: impl FnMut(&[u8], SocketAddr),
) -> io::Result<(usize, usize)> {
    use std::os::fd::AsRawFd;

    let slots = (scratch.len() / RECV_BUFFER).clamp(1, RECV_BATCH);
    // SAFETY: plain C structs for which all-zero is a valid value.
    let mut addresses: [libc::sockaddr_storage; RECV_BATCH] = unsafe { std::mem::zeroed() };
    let mut iovecs: [libc::iovec; RECV_BATCH] = unsafe { std::mem::zeroed() };
    let mut messages: [libc::mmsghdr; RECV_BATCH] = unsafe { std::mem::zeroed() };
    for (i, chunk) in scratch
        .chunks_exact_mut(RECV_BUFFER)
        .take(slots)
        .enumerate()
    {
        iovecs[i] = libc::iovec {
            iov_base: chunk.as_mut_ptr().cast(),
            iov_len: chunk.len(),
        };
        let header = &mut messages[i].msg_hdr;
        header.msg_name = std::ptr::addr_of_mut!(addresses[i]).cast();
        header.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        header.msg_iov = &mut iovecs[i];
        header.msg_iovlen = 1;
    }
    // SAFETY: every header points into `addresses`, `iovecs` and `scratch`, all alive and
    // unmoved for the duration of the call, with the lengths given.
    let received = unsafe {
        libc::recvmmsg(
            socket.as_raw_fd(),
            messages.as_mut_ptr(),
            slots as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        )
    };
    if received < 0 {
        return Err(io::Error::last_os_error());
    }
    let received = received as usize;
    for (i, message) in messages.iter().take(received).enumerate() {
        let len = (message.msg_len as usize).min(RECV_BUFFER);
        if let Some(from) = socket_address(&addresses[i]) {
            each(&scratch[i * RECV_BUFFER..i * RECV_BUFFER + len], from);
        }
    }
    Ok((received, slots))
}

/// The IP address the kernel wrote into `storage` (a UDP socket only receives from those).
#[cfg(target_os = "linux")]
fn socket_address(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

    match libc::c_int::from(storage.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, which it is large
            // enough for and aligned for.
            let v4 = unsafe { &*std::ptr::from_ref(storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                u16::from_be(v4.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let v6 = unsafe { &*std::ptr::from_ref(storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(v6.sin6_addr.s6_addr),
                u16::from_be(v6.sin6_port),
                v6.sin6_flowinfo,
                v6.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// One `recv_from` per call where there is no `recvmmsg` (it always asked for one, so the caller
/// reads on until `WouldBlock`).
#[cfg(not(target_os = "linux"))]
pub fn recv_batch(
    socket: &UdpSocket,
    scratch: &mut [u8],
    mut each: impl FnMut(&[u8], SocketAddr),
) -> io::Result<(usize, usize)> {
    let (len, from) = socket.recv_from(scratch)?;
    each(&scratch[..len], from);
    Ok((1, 1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_is_queued_in_order_and_reports_an_empty_socket() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut scratch = vec![0; SCRATCH_BYTES];
        let nothing = recv_batch(&receiver, &mut scratch, |_, _| {});
        assert_eq!(nothing.unwrap_err().kind(), io::ErrorKind::WouldBlock);

        for i in 0..(RECV_BATCH + 3) {
            let payload = vec![i as u8; i * 100];
            sender
                .send_to(&payload, receiver.local_addr().unwrap())
                .unwrap();
        }
        let mut seen = Vec::new();
        let mut read = |scratch: &mut Vec<u8>| {
            recv_batch(&receiver, scratch, |data, from| {
                assert_eq!(from, sender.local_addr().unwrap());
                seen.push(data.to_vec());
            })
        };
        let (first, asked) = read(&mut scratch).unwrap();
        if cfg!(target_os = "linux") {
            assert_eq!((first, asked), (RECV_BATCH, RECV_BATCH));
            let (second, _) = read(&mut scratch).unwrap();
            assert_eq!(second, 3, "fewer than asked: the socket is empty");
        } else {
            while read(&mut scratch).is_ok() {}
        }
        assert_eq!(seen.len(), RECV_BATCH + 3);
        for (i, data) in seen.iter().enumerate() {
            assert_eq!(data, &vec![i as u8; i * 100]);
        }
    }
}
