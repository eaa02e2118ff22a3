//! Interned dictionary keys.
//!
//! The KRPC keys that appear in almost every message get a small id so the tape can carry one word
//! (`T_KEY | id << 4`) instead of an offset/length pair, and JS can reuse one string per key instead
//! of UTF-8 decoding the same bytes for every message. JS receives this table through the binding
//! (`internedKeys()`), so the order below is the single source of truth for the ids.

/// The interned keys; the id of `INTERNED_KEYS[i]` is `i + 1` (id 0 is never used, so a zero
/// payload in a `T_KEY` word can never be mistaken for a valid key).
pub const INTERNED_KEYS: [&str; 28] = [
    "t",
    "y",
    "q",
    "a",
    "r",
    "e",
    "id",
    "info_hash",
    "target",
    "nodes",
    "nodes6",
    "values",
    "token",
    "want",
    "port",
    "implied_port",
    "name",
    "v",
    "ip",
    "ro",
    "interval",
    "num",
    "samples",
    "seq",
    "sig",
    "k",
    "salt",
    "cas",
];

/// Id of `t` (transaction id), used by the classifier.
pub const KEY_T: u32 = 1;
/// Id of `y` (message type), used by the classifier.
pub const KEY_Y: u32 = 2;

/// Returns the id (`1..=INTERNED_KEYS.len()`) of `key` if it is interned.
///
/// Runs on every dict key of every datagram, so it dispatches on the length first: most keys are
/// rejected or resolved after one integer compare and one short byte compare.
#[inline]
pub fn intern(key: &[u8]) -> Option<u32> {
    let id = match key.len() {
        1 => match key.first().copied()? {
            b't' => 1,
            b'y' => 2,
            b'q' => 3,
            b'a' => 4,
            b'r' => 5,
            b'e' => 6,
            b'v' => 18,
            b'k' => 26,
            _ => return None,
        },
        2 => match key {
            b"id" => 7,
            b"ip" => 19,
            b"ro" => 20,
            _ => return None,
        },
        3 => match key {
            b"num" => 22,
            b"seq" => 24,
            b"sig" => 25,
            b"cas" => 28,
            _ => return None,
        },
        4 => match key {
            b"want" => 14,
            b"port" => 15,
            b"name" => 17,
            b"salt" => 27,
            _ => return None,
        },
        5 => match key {
            b"nodes" => 10,
            b"token" => 13,
            _ => return None,
        },
        6 => match key {
            b"target" => 9,
            b"nodes6" => 11,
            b"values" => 12,
            _ => return None,
        },
        7 if key == b"samples" => 23,
        8 if key == b"interval" => 21,
        9 if key == b"info_hash" => 8,
        12 if key == b"implied_port" => 16,
        _ => return None,
    };
    Some(id)
}

/// The key text for an interned id, or `None` for 0 or an unknown id.
pub fn key_name(id: u32) -> Option<&'static str> {
    INTERNED_KEYS.get((id as usize).checked_sub(1)?).copied()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn table_and_matcher_agree() {
        for (i, k) in INTERNED_KEYS.iter().enumerate() {
            assert_eq!(intern(k.as_bytes()), Some(i as u32 + 1), "{k}");
            assert_eq!(key_name(i as u32 + 1), Some(*k));
        }
        assert_eq!(key_name(0), None);
        assert_eq!(key_name(INTERNED_KEYS.len() as u32 + 1), None);
        assert_eq!(intern(b"t"), Some(KEY_T));
        assert_eq!(intern(b"y"), Some(KEY_Y));
    }

    #[test]
    fn contract_order() {
        let expected = "t y q a r e id info_hash target nodes nodes6 values token want port \
                        implied_port name v ip ro interval num samples seq sig k salt cas";
        let got = INTERNED_KEYS.join(" ");
        assert_eq!(got, expected);
    }

    #[test]
    fn non_keys() {
        for k in [
            &b""[..],
            b"T",
            b"x",
            b"yy",
            b"i",
            b"id ",
            b"info_has",
            b"info_hashh",
            b"implied_porT",
            b"\xffy",
            b"nodes7",
            b"__proto__",
        ] {
            assert_eq!(intern(k), None, "{k:?}");
        }
    }

    #[test]
    fn ids_fit_in_a_key_word() {
        // T_KEY words carry the id in bits 4..31 of an i32.
        assert!(INTERNED_KEYS.len() < (1 << 27));
    }
}
