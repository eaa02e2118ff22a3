//! Protocol behaviour of the core between two in-memory engines (tests/pair): the matching and
//! timeout rules of docs/ARCHITECTURE.md, "Data path", and what a third party on the path can do.

mod pair;

use krpc_socket::core::rate_limit::RateLimit;
use krpc_socket::core::tape::{
    K_ERROR_REPLY, K_QUERY, K_RESPONSE, K_UNEXPECTED_TID, K_WRONG_SOURCE,
};
use pair::{Datagram, Endpoint, Pair, LIFETIME_TICKS};

fn kinds(records: &[pair::Record]) -> Vec<i32> {
    records.iter().map(|r| r.kind).collect()
}

#[test]
fn a_query_and_its_reply_round_trip_and_free_the_slot() {
    let mut p = Pair::new();
    let server = p.server.endpoint.clone();
    let (slot, tid, gen, q) = p.client.query(p.now, &server, "ping").unwrap();
    assert_eq!(tid, 1, "the first tid after 0");
    p.send(q);
    assert_eq!(p.deliver(), 1);

    let incoming = p.server.records();
    assert_eq!(kinds(&incoming), [K_QUERY]);
    assert_eq!(
        incoming[0].from, p.client.endpoint,
        "the source is the client's"
    );
    assert_eq!(incoming[0].t.as_deref(), Some(&tid.to_be_bytes()[..]));
    assert_eq!(incoming[0].slot, -1, "a query names no slot");

    let reply = p.server.reply_to(&incoming[0]);
    let replies = p.deliver_to_client(reply);
    assert_eq!(kinds(&replies), [K_RESPONSE]);
    assert_eq!(
        (replies[0].slot, replies[0].gen, replies[0].tid),
        (slot as i32, gen as i32, i32::from(tid))
    );
    assert_eq!(
        p.client.engine.stats().queries_in_flight,
        1,
        "JS releases the slot it completes"
    );
    p.client.engine.release(slot);
    assert_eq!(p.client.engine.stats().queries_in_flight, 0);
    assert!(
        p.advance(LIFETIME_TICKS * 2).is_empty(),
        "a released query never times out"
    );
}

#[test]
fn an_error_reply_matches_like_a_reply() {
    let mut p = Pair::new();
    let (slot, _, _, incoming) = p.query_server("get_peers");
    let error = p.server.error_to(&incoming[0], 203, "Protocol Error");
    let replies = p.deliver_to_client(error);
    assert_eq!(kinds(&replies), [K_ERROR_REPLY]);
    assert_eq!(replies[0].slot, slot as i32);
}

#[test]
fn a_third_party_that_guesses_the_tid_cannot_complete_the_query() {
    let mut p = Pair::new();
    let (slot, tid, _, incoming) = p.query_server("find_node");

    // The forger copies the server's reply byte for byte but sends from another address.
    let mut forged = p.server.reply_to(&incoming[0]);
    forged.from = Endpoint::new("127.0.0.66", p.server.endpoint.port);
    p.send(forged);
    let genuine = p.server.reply_to(&incoming[0]);
    p.send(genuine);
    p.deliver();

    let replies = p.client.records();
    assert_eq!(kinds(&replies), [K_WRONG_SOURCE, K_RESPONSE]);
    assert_eq!(replies[0].tid, i32::from(tid));
    assert_eq!(
        replies[1].slot, slot as i32,
        "the genuine reply still completes the query"
    );
    assert_eq!(p.client.engine.stats().wrong_source, 1);
}

#[test]
fn by_default_any_port_of_the_queried_ip_may_answer_and_match_port_narrows_it() {
    for (match_port, expected) in [(false, K_RESPONSE), (true, K_WRONG_SOURCE)] {
        let mut p = Pair::new();
        p.client.engine.set_match_port(match_port);
        let (_, _, _, incoming) = p.query_server("ping");
        let mut reply = p.server.reply_to(&incoming[0]);
        reply.from.port += 1;
        p.send(reply);
        p.deliver();
        assert_eq!(
            kinds(&p.client.records()),
            [expected],
            "match_port {match_port}"
        );
    }
}

#[test]
fn a_silent_peer_times_out_on_the_fifth_tick_and_a_late_reply_is_unexpected() {
    let mut p = Pair::new();
    let (slot, _, gen, incoming) = p.query_server("ping");
    for tick in 1..LIFETIME_TICKS {
        assert!(p.advance(1).is_empty(), "still in flight at tick {tick}");
    }
    assert_eq!(p.advance(1), [(slot, gen)]);
    assert!(p.advance(1).is_empty(), "reported once");
    assert_eq!(p.client.engine.stats().timeouts, 1);
    // JS fails the query with ETIMEDOUT and releases the slot; the reply that comes after that
    // belongs to nobody.
    p.client.engine.release(slot);
    let late = p.server.reply_to(&incoming[0]);
    assert_eq!(kinds(&p.deliver_to_client(late)), [K_UNEXPECTED_TID]);
}

#[test]
fn a_replayed_reply_after_completion_is_unexpected() {
    let mut p = Pair::new();
    let (slot, _, _, incoming) = p.query_server("ping");
    let reply = p.server.reply_to(&incoming[0]);
    assert_eq!(kinds(&p.deliver_to_client(reply.clone())), [K_RESPONSE]);
    p.client.engine.release(slot);
    assert_eq!(kinds(&p.deliver_to_client(reply)), [K_UNEXPECTED_TID]);
}

#[test]
fn no_tid_is_handed_out_twice_while_in_flight_even_across_wraparound() {
    let mut p = Pair::new();
    let server = p.server.endpoint.clone();
    let mut slots = Vec::new();
    for _ in 0..65535 {
        let (slot, tid, _, _) = p.client.query(p.now, &server, "ping").unwrap();
        slots.push((slot, tid));
    }
    assert!(
        p.client.query(p.now, &server, "ping").is_none(),
        "all 65535 tids in flight"
    );
    // Free one in the middle: the next query gets exactly that tid, after wrapping past 65535.
    let (slot, tid) = slots[30_000];
    p.client.engine.release(slot);
    let (_, again, _, q) = p.client.query(p.now, &server, "ping").unwrap();
    assert_eq!(again, tid);
    // And its reply matches the new query, not a stale one.
    p.send(q);
    p.deliver();
    let incoming = p.server.records();
    let reply = p.server.reply_to(&incoming[0]);
    let replies = p.deliver_to_client(reply);
    assert_eq!(kinds(&replies), [K_RESPONSE]);
    assert_eq!(replies[0].tid, i32::from(tid));
}

#[test]
fn a_flooding_source_is_cut_off_while_the_queried_peer_still_gets_through() {
    let mut p = Pair::new();
    p.client.engine.set_rate_limit(
        Some(RateLimit {
            per_second: 5,
            window_ms: 1000,
            block_ms: 10_000,
        }),
        [11, 12],
    );
    let (slot, _, _, incoming) = p.query_server("ping");
    let flooder = Endpoint::new("127.0.0.99", 5555);
    for _ in 0..200 {
        p.send(Datagram {
            from: flooder.clone(),
            to: p.client.endpoint.clone(),
            bytes: b"d1:t2:\xff\xff1:y1:re".to_vec(),
        });
    }
    let reply = p.server.reply_to(&incoming[0]);
    let records = p.deliver_to_client(reply);
    let limited = p.client.engine.stats().rate_limited;
    assert!(
        limited >= 150,
        "most of the flood is dropped before decoding: {limited}"
    );
    assert_eq!(records.len() as u64, 200 - limited + 1);
    let last = records.last().unwrap();
    assert_eq!((last.kind, last.slot), (K_RESPONSE, slot as i32));
}

#[test]
fn hostile_datagrams_never_complete_a_query_and_never_stop_the_genuine_reply() {
    let mut p = Pair::new();
    let (slot, tid, _, incoming) = p.query_server("ping");
    let t = tid.to_be_bytes();
    let hostile: Vec<Vec<u8>> = vec![
        b"d-3:e".to_vec(),
        b"l".repeat(100_000),
        [
            b"d1:t2:".as_slice(),
            &t,
            b"1:y1:r1:rd2:id".as_slice(),
            b"i1eee",
        ]
        .concat(),
        [b"d1:t1:".as_slice(), &t[..1], b"1:y1:re"].concat(),
        [b"d1:ti".as_slice(), tid.to_string().as_bytes(), b"e1:y1:re"].concat(),
        b"d1:y1:qe".to_vec(),
        Vec::new(),
    ];
    for bytes in hostile {
        // From a third address: a blind attacker who knows or guesses the tid.
        p.send(Datagram {
            from: Endpoint::new("127.0.0.3", p.server.endpoint.port),
            to: p.client.endpoint.clone(),
            bytes,
        });
    }
    let reply = p.server.reply_to(&incoming[0]);
    let records = p.deliver_to_client(reply);
    let completing: Vec<_> = records.iter().filter(|r| r.slot == slot as i32).collect();
    // Only the forgery that decodes as a reply with the right tid names the slot (as from the
    // wrong source, which JS reports and ignores); the genuine reply completes it.
    assert_eq!(completing.len(), 2);
    assert_eq!(completing[0].kind, K_WRONG_SOURCE);
    assert_eq!(completing[1].kind, K_RESPONSE);
}
