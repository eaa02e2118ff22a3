//! Driver tests on real loopback sockets: what the kernel, the driver and the engine do together,
//! without JS.

use std::net::UdpSocket;
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use super::{BoundSocket, Receive, Shared};
use crate::core::engine::{Engine, Source};

/// A valid 64 KB query whose arguments tape densely (`a.x` is a list of ~32,000 empty lists), the
/// shape that fills the inbox's tape before its bytes.
fn dense_query(n: u16) -> Vec<u8> {
    let mut q = b"d1:ad2:id20:abcdefghij01234567891:xl".to_vec();
    q.extend(b"le".repeat(32_600));
    q.extend(b"ee1:q4:ping1:t2:");
    q.extend(n.to_be_bytes());
    q.extend(b"1:y1:qe");
    q
}

fn bind(receive: Receive) -> (BoundSocket, Arc<Shared>) {
    let shared = Shared::new(Engine::new(500));
    let socket = BoundSocket::bind(
        "127.0.0.1:0".parse().expect("a literal socket address"),
        Arc::clone(&shared),
        Arc::new(|| {}),
        receive,
        None,
        None,
    )
    .expect("bind on loopback");
    socket
        .sock_ref()
        .set_recv_buffer_size(4 << 20)
        .expect("SO_RCVBUF");
    (socket, shared)
}

const SOURCE: Source<'static> = Source {
    address: b"127.0.0.1",
    ipv6: false,
    port: 9,
};

/// Fills the inbox until it refuses a datagram, as when JS has not drained for a while; returns
/// `(datagrams_in, dropped_inbox)` then.
fn fill_inbox(shared: &Shared) -> (u64, u64) {
    let mut engine = shared.engine();
    while engine.stats().dropped_inbox == 0 {
        engine.ingest(&dense_query(0), SOURCE);
    }
    let stats = engine.stats();
    (stats.datagrams_in, stats.dropped_inbox)
}

fn send_dense(to: std::net::SocketAddr, count: u64) {
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback sender");
    for n in 0..count {
        sender
            .send_to(&dense_query(n as u16), to)
            .expect("send to loopback");
    }
}

/// Empties the inbox as JS's `drain()` does (hot.rs), signal included.
fn drain(shared: &Shared) {
    {
        let mut engine = shared.engine();
        let inbox = engine.inbox();
        let mut out = vec![0; (4 << 20) + 1];
        inbox
            .drain(&mut out, |_| ())
            .expect("room for the whole tape");
    }
    shared.drained();
}

/// Issue 10, failure 8: a read burst on the caller's thread used to take every waiting datagram
/// from the kernel and drop at ingest what the inbox could not hold. Whether one burst passes the
/// cap in JS depends on how fast the kernel copies (the reported 13 % loss was not reproducible on
/// this VM); here the inbox starts full so the outcome does not depend on timing.
#[test]
fn a_burst_leaves_in_the_kernel_what_the_inbox_cannot_take() {
    let (socket, shared) = bind(Receive::OnCaller);
    let (prefilled, refused) = fill_inbox(&shared);
    let sent = 16u64;
    send_dense(socket.local_addr(), sent);
    sleep(Duration::from_millis(50));

    // What JS does on each readiness event: read a burst, then drain everything.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        socket.read_ready();
        let stats = shared.engine().stats();
        assert_eq!(
            stats.dropped_inbox, refused,
            "nothing read only to be dropped"
        );
        if stats.datagrams_in == prefilled + sent {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{stats:?}: datagrams left unread"
        );
        drain(&shared);
    }
    socket.close();
}

/// The runtime thread's reader, with the inbox full, used to read on and drop (counted) what it
/// could not queue: a JS thread that was merely slow (a loaded machine) lost datagrams that
/// k-rpc-socket, whose datagrams wait in the kernel, delivers. It now waits for a drain.
#[test]
fn the_runtime_reader_waits_for_a_drain_instead_of_dropping() {
    let (socket, shared) = bind(Receive::OnRuntime);
    let (prefilled, refused) = fill_inbox(&shared);
    let sent = 16u64;
    send_dense(socket.local_addr(), sent);
    // Time for the runtime thread to see the socket readable and find no room.
    sleep(Duration::from_millis(300));
    let stats = shared.engine().stats();
    assert_eq!(
        stats.dropped_inbox, refused,
        "read only to be dropped: {stats:?}"
    );
    assert_eq!(
        stats.datagrams_in, prefilled,
        "nothing read while the inbox is full"
    );

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        drain(&shared);
        sleep(Duration::from_millis(20));
        let stats = shared.engine().stats();
        assert_eq!(stats.dropped_inbox, refused, "{stats:?}");
        if stats.datagrams_in == prefilled + sent {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{stats:?}: datagrams left unread"
        );
    }
    socket.close();
}
