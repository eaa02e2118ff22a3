//! The tape word format shared with JS (`lib/tape.js`); see `docs/ARCHITECTURE.md`, "Tape format".
//!
//! Values are written as a flat sequence of `i32` words so that one `Int32Array` can carry a whole
//! batch across the napi boundary without allocating a JS object per value in Rust.

/// Mask selecting the opcode (low 4 bits) of a value word.
pub const OP_MASK: i32 = 0xf;

/// Start of a dict: `[T_DICT]`, then (key token, value) pairs until `T_END`.
pub const T_DICT: i32 = 1;
/// Start of a list: `[T_LIST]`, then values until `T_END`.
pub const T_LIST: i32 = 2;
/// End of the innermost open dict or list: `[T_END]`.
pub const T_END: i32 = 3;
/// Byte string: `[T_BYTES, start, len]`, offsets absolute in the batch bytes.
pub const T_BYTES: i32 = 4;
/// Number whose float64 value is an int32 and not -0: `[T_INT, value]`.
pub const T_INT: i32 = 5;
/// Any other number: `[T_FLOAT, lo, hi]`, the float64 bits split in two words.
pub const T_FLOAT: i32 = 6;
/// Interned dict key: `[T_KEY | id << 4]` (see `keys.rs`).
pub const T_KEY: i32 = 7;
/// Non-interned dict key: `[T_RAWKEY, start, len]`, UTF-8 decoded by JS.
pub const T_RAWKEY: i32 = 8;

/// Record kind: `y = 'q'`, emitted as `query`.
pub const K_QUERY: i32 = 1;
/// Record kind: `y = 'r'` matching a pending request.
pub const K_RESPONSE: i32 = 2;
/// Record kind: `y = 'e'` matching a pending request.
pub const K_ERROR_REPLY: i32 = 3;
/// Record kind: reply whose tid is 0 or not pending.
pub const K_UNEXPECTED_TID: i32 = 4;
/// Record kind: reply with a pending tid from another source IP.
pub const K_WRONG_SOURCE: i32 = 5;
/// Record kind: reply whose `t` is a byte string shorter than 2 bytes.
pub const K_SHORT_TID: i32 = 6;
/// Record kind: any other `y`; the value words hold the message (none for `null`).
pub const K_UNKNOWN_TYPE: i32 = 7;
/// Record kind: the datagram failed to decode; the value is one `T_BYTES` with the message text.
pub const K_DECODE_ERROR: i32 = 8;

/// Number of words in a record header.
pub const HEADER_WORDS: usize = 9;

// The words of a record header, by index (JS reads them by these indices, from `tapeFormat()`).
/// Record kind (`K_*`).
pub const H_KIND: usize = 0;
/// Slot of the matched request, or -1.
pub const H_SLOT: usize = 1;
/// Generation of the matched request (0 when none).
pub const H_GEN: usize = 2;
/// Transaction id of a reply, or -1.
pub const H_TID: usize = 3;
/// Offset of the source address text in the batch bytes.
pub const H_ADDRESS_START: usize = 4;
/// Length of the address text (low 16 bits), `IPV6_FLAG` set for an IPv6 source.
pub const H_ADDRESS_LEN: usize = 5;
/// Source port.
pub const H_PORT: usize = 6;
/// Datagram size in bytes (`rinfo.size`).
pub const H_SIZE: usize = 7;
/// Number of value words after the header.
pub const H_VALUE_WORDS: usize = 8;

/// The opcode of a value word.
#[inline]
pub fn opcode(word: i32) -> i32 {
    word & OP_MASK
}

/// The interned key id carried by a `T_KEY` word.
#[inline]
pub fn key_id(word: i32) -> u32 {
    // Logical shift: ids are unsigned, and a word is never negative for a valid id anyway.
    (word as u32) >> 4
}

/// Appends `T_DICT`.
#[inline]
pub fn push_dict(out: &mut Vec<i32>) {
    out.push(T_DICT);
}

/// Appends `T_LIST`.
#[inline]
pub fn push_list(out: &mut Vec<i32>) {
    out.push(T_LIST);
}

/// Appends `T_END`.
#[inline]
pub fn push_end(out: &mut Vec<i32>) {
    out.push(T_END);
}

/// Appends a byte string at absolute offset `start` of length `len`.
#[inline]
pub fn push_bytes(out: &mut Vec<i32>, start: u32, len: u32) {
    out.extend_from_slice(&[T_BYTES, start as i32, len as i32]);
}

/// Appends an interned key (`id` from [`crate::core::keys::intern`]).
#[inline]
pub fn push_key(out: &mut Vec<i32>, id: u32) {
    out.push(T_KEY | ((id as i32) << 4));
}

/// Appends a raw (non-interned) key at absolute offset `start` of length `len`.
#[inline]
pub fn push_rawkey(out: &mut Vec<i32>, start: u32, len: u32) {
    out.extend_from_slice(&[T_RAWKEY, start as i32, len as i32]);
}

/// Appends `T_INT`.
#[inline]
pub fn push_int(out: &mut Vec<i32>, value: i32) {
    out.extend_from_slice(&[T_INT, value]);
}

/// Appends `T_FLOAT` with the bits of `value`.
#[inline]
pub fn push_float(out: &mut Vec<i32>, value: f64) {
    let bits = value.to_bits();
    out.extend_from_slice(&[T_FLOAT, bits as u32 as i32, (bits >> 32) as u32 as i32]);
}

/// Appends a JS number: `T_INT` when it round-trips through int32 and is not -0 (so JS can
/// rebuild it exactly from one word), `T_FLOAT` otherwise.
#[inline]
pub fn push_number(out: &mut Vec<i32>, value: f64) {
    // `as` saturates (and maps NaN to 0), so the round-trip compare rejects every non-int32.
    let i = value as i32;
    if i as f64 == value && !(i == 0 && value.is_sign_negative()) {
        push_int(out, i);
    } else {
        push_float(out, value);
    }
}

/// Rebuilds the float64 carried by a `T_FLOAT` token's two payload words.
#[inline]
pub fn float_from_words(lo: i32, hi: i32) -> f64 {
    f64::from_bits(((hi as u32 as u64) << 32) | lo as u32 as u64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let cases: &[(f64, &[i32])] = &[
            (0.0, &[T_INT, 0]),
            (42.0, &[T_INT, 42]),
            (-42.0, &[T_INT, -42]),
            (2147483647.0, &[T_INT, i32::MAX]),
            (-2147483648.0, &[T_INT, i32::MIN]),
        ];
        for (v, want) in cases {
            let mut out = vec![];
            push_number(&mut out, *v);
            assert_eq!(&out, want, "{v}");
        }
        for v in [
            -0.0,
            2147483648.0,
            -2147483649.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9007199254740992.0,
            0.5,
        ] {
            let mut out = vec![];
            push_number(&mut out, v);
            assert_eq!(out.len(), 3);
            assert_eq!(out[0], T_FLOAT);
            let back = float_from_words(out[1], out[2]);
            assert_eq!(back.to_bits(), v.to_bits(), "{v}");
        }
    }

    #[test]
    fn float_word_order() {
        let mut out = vec![];
        push_float(&mut out, f64::from_bits(0x1234_5678_9abc_def0));
        assert_eq!(out, [T_FLOAT, 0x9abc_def0_u32 as i32, 0x1234_5678]);
    }

    #[test]
    fn keys() {
        let mut out = vec![];
        push_key(&mut out, 28);
        assert_eq!(opcode(out[0]), T_KEY);
        assert_eq!(key_id(out[0]), 28);
        assert_eq!(out[0], 7 | 28 << 4);
    }
}
