#!/usr/bin/env python3
"""Writes the seed corpora: fuzz/seeds/tokenize (datagrams) and fuzz/seeds/engine (programs in the
format documented on `check_engine` in src/checks.rs), plus the known-hostile inputs that are
larger than the fuzzers' -max_len into fuzz/regressions/tokenize (replayed by `cargo test`).

Run from anywhere: python3 fuzz/make_seeds.py
"""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_LEN = 4096

ID1 = b"abcdefghij0123456789"
ID2 = b"mnopqrstuvwxyz123456"
IH = b"\x8b\x1f\x00\xff" * 5
NODE = ID2 + b"\x7f\x00\x00\x01\x1a\xe1"  # compact node info: id + ip + port
NODE6 = ID2 + b"\x00" * 15 + b"\x01" + b"\x1a\xe1"


def b(s):
    return s if isinstance(s, bytes) else s.encode()


def enc(v):
    """Canonical bencode (sorted keys)."""
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, (bytes, str)):
        v = b(v)
        return b"%d:" % len(v) + v
    if isinstance(v, list):
        return b"l" + b"".join(enc(x) for x in v) + b"e"
    if isinstance(v, dict):
        items = sorted((b(k), x) for k, x in v.items())
        return b"d" + b"".join(enc(k) + enc(x) for k, x in items) + b"e"
    raise TypeError(v)


def query(q, a, t=b"aa", **extra):
    return enc(dict(t=t, y="q", q=q, a=a, **extra))


def response(r, t=b"aa", **extra):
    return enc(dict(t=t, y="r", r=r, **extra))


def krpc_messages():
    m = []
    for t in (b"aa", b"\x00\x01", b"\xff\xfe"):
        m.append(query("ping", {"id": ID1}, t))
        m.append(response({"id": ID2}, t))
    m.append(query("find_node", {"id": ID1, "target": ID2}))
    m.append(response({"id": ID2, "nodes": NODE * 3}))
    m.append(response({"id": ID2, "nodes6": NODE6 * 2}))
    m.append(query("get_peers", {"id": ID1, "info_hash": IH}))
    m.append(response({"id": ID2, "token": "aoeusnth", "values": [b"axje.u", b"idhtnm"]}))
    m.append(response({"id": ID2, "token": "aoeusnth", "nodes": NODE * 8}))
    m.append(query("announce_peer", {"id": ID1, "implied_port": 1, "info_hash": IH,
                                     "port": 6881, "token": "aoeusnth"}))
    m.append(query("announce_peer", {"id": ID1, "info_hash": IH, "port": 6881,
                                     "token": "aoeusnth", "name": "ubuntu.iso"}))
    m.append(response({"id": ID2}, v=b"LT\x01\x02", ip=b"\x7f\x00\x00\x01\x1a\xe1"))
    m.append(enc(dict(t="aa", y="e", e=[201, "A Generic Error Ocurred"])))
    m.append(enc(dict(t="aa", y="e", e=[203, "Protocol Error, such as a malformed packet"])))
    m.append(enc(dict(t="aa", y="e", e=[204, "Method Unknown"])))
    # BEP 44 / 51 / 43 shapes (every interned key appears somewhere).
    m.append(query("put", {"id": ID1, "v": "hello", "token": "tk", "seq": 4, "sig": b"s" * 64,
                           "k": b"k" * 32, "salt": "foobar", "cas": 3}))
    m.append(query("get", {"id": ID1, "target": ID2, "seq": 1}))
    m.append(response({"id": ID2, "interval": 21600, "num": 1000, "samples": IH * 2,
                       "nodes": NODE}, ro=1))
    m.append(query("find_node", {"id": ID1, "target": ID2, "want": ["n4", "n6"]}, ro=1))
    # Non-canonical but accepted by bencode@2: unsorted and duplicate keys, trailing garbage.
    m.append(b"d1:y1:q1:t2:aa1:q4:ping1:ad2:id20:" + ID1 + b"ee")
    m.append(b"d1:t2:aa1:y1:r1:rd2:id20:" + ID2 + b"e1:y1:ee")
    m.append(response({"id": ID2}) + b"GARBAGE")
    return m


def hostile():
    h = [
        b"", b"d-3:e", b"l-3:e", b"d1:a-3:e", b"d1:ad-3:ee", b"-3:e", b"-4:spam", b"-1.5:ab",
        b"-0:x", b"-0.5:x", b"-.5:x", b"4.9:spam", b"+4:spam", b"04:spam", b":spam", b"0:",
        # truncated strings, huge lengths
        b"10:abc", b"3:", b"4:sp", b"d1:a10:abce", b"d1:t2:a", b"l4:spe", b"d3:foo", b"d",
        b"l", b"li1e", b"d1:ai1", b"i", b"i42", b"4294967296:x", b"4294967295:x",
        b"18446744073709551615:x", b"18446744073709551616:ab", b"1000000000000000000000000:ab",
        b"9" * 400 + b":ab", b"999999999999999:x", b"9999999999999999:x",
        # integers: beyond 2^31, 2^53, 2^64, Infinity; lenient forms
        b"i2147483647e", b"i2147483648e", b"i-2147483648e", b"i-2147483649e",
        b"i9007199254740993e", b"i18446744073709551615e", b"i18446744073709551616e",
        b"i-18446744073709551616e", b"i99999999999999999999e", b"i" + b"9" * 400 + b"e",
        b"i-" + b"9" * 400 + b"e", b"ie", b"i-e", b"i+e", b"i-0e", b"i+0e", b"i042e",
        b"i1.5e", b"i1e3e", b"i 1e", b"i--1e", b"i+-1e", b"i1-e", b"ixe",
        b"i000000000000000000000000042e",
        # structure
        b"le", b"de", b"lleledee", b"dli1eei2ee", b"di1ei2ee", b"dle3:fooe", b"e", b"e:", b"x",
        b"d0:i1ee", b"d:i1ee", b"d9:__proto__d1:y1:q1:t2:aaee", b"d11:constructori1ee",
        b"d1:ai1e1:ai2ee", b"lli1eeli2e",
        # depth: at, over the limit (fits in max_len), siblings
        b"l" * 512 + b"e" * 512, b"l" * 513 + b"e" * 513, b"l" * 2000 + b"e" * 2000,
        b"d1:a" * 512 + b"0:" + b"e" * 512, b"d1:a" * 513 + b"0:" + b"e" * 513,
        b"l" + b"le" * 1500 + b"e", b"ld1:k" * 200 + b"i1e" + b"ee" * 200, b"l" * 3000,
        # t of length 0/1/2/3, missing, not a byte string
        b"d1:t0:1:y1:re", b"d1:t1:a1:y1:re", b"d1:t2:aa1:y1:re", b"d1:t3:abc1:y1:re",
        b"d1:y1:re", b"d1:ti1e1:y1:re", b"d1:tle1:y1:ee", b"d1:tde1:y1:ee", b"d1:t0:1:y1:ee",
        b"d1:t1:x1:y1:ee", b"d1:t2:\x00\x001:y1:re",
        # every y type
        b"d1:t2:aa1:y1:qe", b"d1:t2:aa1:y1:re", b"d1:t2:aa1:y1:ee", b"d1:t2:aa1:y1:xe",
        b"d1:t2:aa1:y0:e", b"d1:t2:aa1:y2:qqe", b"d1:t2:aa1:yi0e", b"d1:t2:aa1:yi5ee",
        b"d1:t2:aa1:yi-0ee", b"d1:t2:aa1:ylee", b"d1:t2:aa1:yl1:ree", b"d1:t2:aa1:yll1:reee",
        b"d1:t2:aa1:yl1:r1:ree", b"d1:t2:aa1:ydee", b"d1:t2:aa1:yd1:y1:ree",
        b"d1:t2:aa1:y1:Qe", b"d1:t2:aa1:y2:r\x00e", b"d1:t2:aa1:y4:\xef\xbb\xbfre",
        b"d1:t2:aa1:y1:q1:y1:re", b"d1:t2:aa1:y1:r1:y1:qe", b"d1:t2:aae", b"i0e", b"1:q",
        b"l1:ye", b"d1:yi0e1:t2:aae",
    ]
    return h


def big_hostile():
    """Known-hostile inputs above -max_len: kept as regressions, replayed by cargo test."""
    return {
        "nest-100k-lists": b"l" * 100_000 + b"e" * 100_000,
        "nest-20k-dicts": b"d1:a" * 20_000 + b"0:" + b"e" * 20_000,
        "nest-100k-unterminated": b"l" * 100_000,
        "wide-20k-siblings": b"l" + b"le" * 20_000 + b"e",
        "string-60k": b"59994:" + b"x" * 59_994,
        "int-5000-digits": b"i" + b"7" * 5000 + b"e",
        "neg-len-deep": b"l" * 400 + b"-3:" + b"e" * 400,
    }


# ---- engine programs ----
TICK = struct.pack(">H", 125)


def ingest(src, data):
    assert len(data) <= 254
    return bytes([0, src, len(data)]) + data


def ingest_rest(src, data):
    return bytes([0, src, 255]) + data


def template(pick, y, src, tlen):
    return bytes([1, pick, y, src, tlen])


def register(last_tid, host):
    return bytes([2]) + struct.pack(">H", last_tid) + bytes([host])


def release_pick(pick):
    return bytes([3, pick])


def release_slot(slot):
    return bytes([4]) + struct.pack(">H", slot)


def expire(advance):
    return bytes([5]) + struct.pack(">H", advance)


def drain(mode=0, extra=0):
    return bytes([6, mode, extra])


def bulk(count, host):
    """count 1..=255 registrations; `fill()` fills the table (every tid in flight)."""
    return bytes([7, count, host])


def fill():
    return bytes([7, 0, 0xF1])


def engine_programs(messages, hostile_inputs):
    progs = []
    # Each realistic message: registered as tid "aa" (0x6161) for host 0, then received from the
    # right host, from another host, and drained.
    for msg in messages:
        if len(msg) > 254:
            continue
        progs.append(TICK + register(0x6160, 0) + ingest(0, msg) + ingest(1, msg) + drain())
    # Hostile datagrams, a few per program, with different sources and drain modes.
    small = [x for x in hostile_inputs if len(x) <= 254]
    for k in range(0, len(small), 4):
        p = TICK + register(0x6160, k % 6)
        for j, x in enumerate(small[k:k + 4]):
            p += ingest((k + j) % 6, x)
        p += drain(k % 5, 7)
        progs.append(p)
    for x in hostile_inputs:
        if 254 < len(x) <= MAX_LEN - 16:
            progs.append(TICK + ingest_rest(2, x))
    # Transaction table life cycles.
    progs.append(TICK + register(0, 0) + register(1, 1) + register(2, 2) + expire(400)
                 + template(0, 0, 0, 0) + template(1, 1, 1, 0) + template(2, 0, 0, 0)
                 + expire(100) + drain(1) + drain(0) + release_pick(0) + release_pick(0)
                 + register(3, 0) + expire(1000) + drain())
    progs.append(TICK + register(65534, 0) + register(65535, 0) + register(0, 0)
                 + template(0, 0, 0, 1) + template(0, 0, 0, 2) + template(0, 0, 0, 3)
                 + template(0, 2, 0, 0) + template(0, 3, 0, 0) + template(0, 4, 0, 0)
                 + template(0, 5, 0, 0) + template(0, 0, 0, 0x10) + template(0, 0, 0, 0x20)
                 + release_slot(1) + release_slot(9999) + template(1, 0, 0, 0) + drain(3, 200))
    progs.append(b"\x00\x00" + register(0, 0) + expire(0) + expire(0) + register(5, 4)
                 + template(0, 0, 4, 0) + template(1, 1, 3, 0) + drain(4, 3))
    progs.append(b"\xff\xff" + bulk(255, 0) + bulk(45, 1) + release_pick(7) + release_pick(100)
                 + register(0, 0) + register(0, 1) + expire(65535) + expire(65535)
                 + expire(65535) + expire(65535) + expire(65535) + drain())
    return progs


def engine_regressions():
    """Programs too slow to seed the fuzzer with (~65k registrations), replayed by cargo test."""
    # Every tid in flight, then one more (NoFreeTid), then a release makes one free.
    return {
        "fill-tid-space": TICK + fill() + bulk(1, 0) + fill() + release_pick(200)
        + register(7, 5) + template(3, 0, 0, 0) + expire(600) + drain(),
    }


def write_dir(path, items):
    os.makedirs(path, exist_ok=True)
    for data in items:
        name = hashlib.sha1(data).hexdigest()
        with open(os.path.join(path, name), "wb") as f:
            f.write(data)


def main():
    msgs = krpc_messages()
    hostile_inputs = hostile()
    for x in msgs + hostile_inputs:
        assert len(x) <= MAX_LEN, len(x)
    write_dir(os.path.join(HERE, "seeds", "tokenize"), msgs + hostile_inputs)
    write_dir(os.path.join(HERE, "seeds", "engine"), engine_programs(msgs, hostile_inputs))
    reg = os.path.join(HERE, "regressions", "tokenize")
    os.makedirs(reg, exist_ok=True)
    for name, data in big_hostile().items():
        with open(os.path.join(reg, "hostile-" + name), "wb") as f:
            f.write(data)
    reg = os.path.join(HERE, "regressions", "engine")
    os.makedirs(reg, exist_ok=True)
    for name, data in engine_regressions().items():
        with open(os.path.join(reg, "hostile-" + name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
