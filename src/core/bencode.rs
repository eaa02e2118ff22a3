//! Bencode tokenizer with bencode@2.0.3's decoding semantics (docs/compatibility.md,
//! "The decoder"), writing tape tokens.
//!
//! The reference decoder (`node_modules/bencode/lib/decode.js`) is lenient in many ways that remote
//! peers can observe (through which datagrams become `query`/`response` events and through the
//! text of `warning` errors), so this mirrors its algorithm step by step: which delimiter is
//! searched for first, where the integer routine throws, how far the cursor moves after a
//! truncated string. It departs from it only where the reference never returns (negative string
//! lengths move its cursor backwards) or overflows the JS stack (deep nesting); both become errors.
//!
//! Zero-copy: byte strings and raw keys are emitted as offsets into the datagram.
//! The cursor only moves forward and every token consumes at least one input byte, so the work is
//! linear and the output is at most 3 words per input byte.

use std::fmt;

use super::keys::{intern, KEY_T, KEY_Y};
use super::tape::{
    push_bytes, push_dict, push_end, push_int, push_key, push_list, push_number, push_rawkey,
};

/// Deepest accepted nesting of lists and dicts; one more level is [`DecodeError::TooDeep`].
///
/// k-rpc-socket's recursive decoder has no fixed limit: how deep it gets before the JS stack
/// overflows depends on how far V8 has optimised it (measured: about 5,100 levels on a cold
/// process, every nesting a 64 KB datagram can hold once warm). So every well-formed datagram
/// must decode here: each level takes at least two bytes (`l` and `e`), and a UDP payload is at
/// most 65,535 bytes. Only an unterminated nest can reach this limit.
pub const MAX_DEPTH: usize = 32_768;

/// Why a datagram failed to decode. `Display` gives the exact text JS puts in the warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// No `byte` (`:` or `e`) between the cursor and the end of the input (bencode@2's `find`).
    MissingDelimiter(u8),
    /// A byte that bencode@2's integer routine rejects, at `index` in the input.
    NotANumber {
        /// Index of the offending byte in the input (not relative to the token).
        index: usize,
        /// The byte itself.
        byte: u8,
    },
    /// A string length below zero; `index` is where the length text starts (its `-` sign).
    NegativeLength {
        /// Index of the `-` that starts the length.
        index: usize,
    },
    /// More than [`MAX_DEPTH`] nested containers.
    TooDeep,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DecodeError::MissingDelimiter(c) => {
                write!(
                    f,
                    "Invalid data: Missing delimiter \"{}\" [0x{c:x}]",
                    c as char
                )
            }
            DecodeError::NotANumber { index, byte } => {
                write!(f, "not a number: buffer[{index}] = {byte}")
            }
            DecodeError::NegativeLength { index } => {
                write!(f, "Invalid data: negative string length at buffer[{index}]")
            }
            DecodeError::TooDeep => {
                write!(f, "Invalid data: nesting deeper than {MAX_DEPTH} levels")
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// Appends the tokens of the first bencode value of `input` to `out`.
///
/// Offsets in `T_BYTES`/`T_RAWKEY` tokens are `base` + the offset in `input` (`input` is the
/// datagram; `base` is where it sits in the batch bytes). Empty input appends nothing (the
/// reference decodes it to `null`). Bytes after the first value are ignored. On error `out` is left
/// exactly as it was. Never panics; at most `3 * input.len()` words are appended.
///
/// Returns where the root dict's `y` and `t` values are, noted on the way, so that classifying
/// the datagram does not walk its tokens again (a get_peers reply's 50 values made that walk a
/// quarter of the tokenizing time).
///
/// # Errors
///
/// Whatever bencode@2.0.3 would throw for `input` (same message text), plus
/// [`DecodeError::NegativeLength`] and [`DecodeError::TooDeep`] where it would hang, run out of
/// memory or overflow its stack instead.
pub fn tokenize(input: &[u8], base: u32, out: &mut Vec<i32>) -> Result<Root, DecodeError> {
    if input.is_empty() {
        return Ok(Root::default());
    }
    let mark = out.len();
    let result = run(input, base, out, mark);
    if result.is_err() {
        out.truncate(mark);
    }
    result
}

/// What the tokenizer noted about a root dict: the token index (counted from the datagram's first
/// token) of the value of its `y` and `t` keys. A key that appears twice is noted where it appears
/// last, as JS property assignment keeps the last value. Both are `None` for any other root.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Root {
    /// Index of the root dict's `y` value.
    pub y: Option<usize>,
    /// Index of the root dict's `t` value.
    pub t: Option<usize>,
}

/// Levels whose kind is kept inline; deeper ones spill to the heap, so an ordinary datagram
/// does not zero a 4 KB stack.
const INLINE_WORDS: usize = 8;

/// One bit per open container (set = dict): the only state needed to know whether the next item
/// is a key. Bounded by [`MAX_DEPTH`] bits.
struct Kinds {
    inline: [u64; INLINE_WORDS],
    spilled: Vec<u64>,
}

impl Kinds {
    fn new() -> Self {
        Self {
            inline: [0; INLINE_WORDS],
            spilled: Vec::new(),
        }
    }

    fn word_mut(&mut self, index: usize) -> &mut u64 {
        if index < INLINE_WORDS {
            return &mut self.inline[index];
        }
        let index = index - INLINE_WORDS;
        if self.spilled.len() <= index {
            self.spilled.resize(index + 1, 0);
        }
        &mut self.spilled[index]
    }

    fn set(&mut self, level: usize, is_dict: bool) {
        let bit = 1u64 << (level % 64);
        let word = self.word_mut(level / 64);
        if is_dict {
            *word |= bit;
        } else {
            *word &= !bit;
        }
    }

    fn is_dict(&self, level: usize) -> bool {
        let index = level / 64;
        let word = if index < INLINE_WORDS {
            self.inline.get(index)
        } else {
            self.spilled.get(index - INLINE_WORDS)
        };
        word.is_some_and(|w| (w >> (level % 64)) & 1 != 0)
    }
}

fn run(input: &[u8], base: u32, out: &mut Vec<i32>, mark: usize) -> Result<Root, DecodeError> {
    let mut pos = 0usize;
    let mut depth = 0usize;
    let mut kinds = Kinds::new();
    let mut root = Root::default();

    loop {
        // Read one value at `pos`: bencode@2's `next()` dispatch.
        match input.get(pos) {
            Some(&c @ (b'd' | b'l')) => {
                if depth >= MAX_DEPTH {
                    return Err(DecodeError::TooDeep);
                }
                let is_dict = c == b'd';
                kinds.set(depth, is_dict);
                if is_dict {
                    push_dict(out);
                } else {
                    push_list(out);
                }
                depth += 1;
                pos += 1;
            }
            Some(&b'i') => pos = integer(input, pos, out)?,
            // Anything else, including the end of input, is read as a byte string, as in bencode@2.
            _ => {
                let (start, len) = string(input, &mut pos)?;
                push_bytes(out, base.wrapping_add(start as u32), len as u32);
            }
        }

        // Close every container that ends here, then read the key of the next dict entry.
        loop {
            if depth == 0 {
                return Ok(root);
            }
            // Past the end this is not `e`, so the next read fails with `Missing delimiter ":"`,
            // which is what bencode@2 does when `data[position]` is undefined.
            if input.get(pos) == Some(&b'e') {
                push_end(out);
                pos += 1;
                depth -= 1;
                continue;
            }
            let level = depth - 1;
            if kinds.is_dict(level) {
                // bencode@2 reads keys with `buffer()` whatever their first byte is.
                let (start, len) = string(input, &mut pos)?;
                match input.get(start..start + len).and_then(intern) {
                    Some(id) => {
                        push_key(out, id);
                        if depth == 1 {
                            // The value's tokens come next.
                            match id {
                                KEY_Y => root.y = Some(out.len() - mark),
                                KEY_T => root.t = Some(out.len() - mark),
                                _ => {}
                            }
                        }
                    }
                    None => push_rawkey(out, base.wrapping_add(start as u32), len as u32),
                }
            } else if input.get(pos).is_some_and(u8::is_ascii_digit) {
                // In a list a digit can only start a byte string: a run of them (get_peers' 50
                // values) is read here, without a turn of the value dispatch each; then back to
                // closing what ends after it.
                while input.get(pos).is_some_and(u8::is_ascii_digit) {
                    let (start, len) = string(input, &mut pos)?;
                    push_bytes(out, base.wrapping_add(start as u32), len as u32);
                }
                continue;
            }
            break;
        }
    }
}

/// Digits that always fit a float64 exactly, so integer accumulation gives the same value as
/// bencode@2's `sum * 10 + d` in float64.
const FAST_DIGITS: usize = 15;

/// Reads `i...e` starting at `at` (the `i`), appends the number and returns the new cursor.
#[inline(always)]
fn integer(input: &[u8], at: usize, out: &mut Vec<i32>) -> Result<usize, DecodeError> {
    // Fast path for the canonical form `i-?[0-9]{0,15}e`: no delimiter search, no float math.
    let mut i = at + 1;
    let neg = input.get(i) == Some(&b'-');
    if neg {
        i += 1;
    }
    let digits = i;
    let mut sum: u64 = 0;
    while let Some(&b) = input.get(i) {
        let d = b.wrapping_sub(b'0');
        if d > 9 || i - digits >= FAST_DIGITS {
            break;
        }
        sum = sum * 10 + u64::from(d);
        i += 1;
    }
    if input.get(i) == Some(&b'e') {
        // Digits and '-' are not 'e', so this is also the first 'e' after the 'i'.
        if !neg && sum <= i32::MAX as u64 {
            push_int(out, sum as i32);
        } else {
            let v = sum as f64;
            push_number(out, if neg { -v } else { v });
        }
        return Ok(i + 1);
    }

    // General case, in bencode@2's order: a missing 'e' wins over a bad byte before it.
    let end = find(input, at + 1, b'e')?;
    let value = parse_number(input, at + 1, end)?;
    push_number(out, value);
    Ok(end + 1)
}

/// Reads `<len>:<bytes>` at `*pos`; returns (start, length) of the bytes, clamped to the input,
/// and moves `*pos` past them (to the end of input when truncated: bencode@2 moves beyond the
/// end, which behaves the same since any read there fails).
#[inline(always)]
fn string(input: &[u8], pos: &mut usize) -> Result<(usize, usize), DecodeError> {
    let at = *pos;
    let mut i = at;
    let mut acc: u64 = 0;
    while let Some(&b) = input.get(i) {
        let d = b.wrapping_sub(b'0');
        if d > 9 || i - at >= FAST_DIGITS {
            break;
        }
        acc = acc * 10 + u64::from(d);
        i += 1;
    }
    let (sep, len) = if input.get(i) == Some(&b':') {
        (i, usize::try_from(acc).unwrap_or(usize::MAX))
    } else {
        let sep = find(input, at, b':')?;
        let value = parse_number(input, at, sep)?;
        // bencode@2 would move the cursor backwards (hang or OOM); -0 is not < 0 and means 0.
        if value < 0.0 {
            return Err(DecodeError::NegativeLength { index: at });
        }
        // Saturating cast: huge lengths (even Infinity) just clamp to the end below.
        (sep, value as usize)
    };
    let start = sep + 1;
    let len = len.min(input.len().saturating_sub(start));
    *pos = start + len;
    Ok((start, len))
}

/// bencode@2's `find`: index of the first `byte` at or after `from`.
#[inline]
fn find(input: &[u8], from: usize, byte: u8) -> Result<usize, DecodeError> {
    input
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == byte))
        .map(|k| from + k)
        .ok_or(DecodeError::MissingDelimiter(byte))
}

/// bencode@2's `getIntFromBuffer` over `input[start..end]`, float64 accumulation included
/// (it is not correctly rounded parsing, and the difference shows for long numbers).
fn parse_number(input: &[u8], start: usize, end: usize) -> Result<f64, DecodeError> {
    let mut sum = 0.0f64;
    let mut sign = 1.0f64;
    let text = input.get(start..end).unwrap_or_default();
    for (k, &b) in text.iter().enumerate() {
        if b.is_ascii_digit() {
            sum = sum * 10.0 + f64::from(b - b'0');
            continue;
        }
        if k == 0 && b == b'+' {
            continue;
        }
        if k == 0 && b == b'-' {
            sign = -1.0;
            continue;
        }
        if b == b'.' {
            break;
        }
        return Err(DecodeError::NotANumber {
            index: start + k,
            byte: b,
        });
    }
    Ok(sum * sign)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::core::keys::key_name;
    use crate::core::tape::*;
    use serde_bencode::value::Value;
    use std::collections::HashMap;

    /// Small deterministic PRNG (xorshift64*), so fuzz-style tests are reproducible.
    pub(crate) struct Rng(pub u64);
    impl Rng {
        pub fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        pub fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    fn bytes_text(b: &[u8]) -> String {
        let mut s = String::new();
        for &c in b {
            if (0x20..0x7f).contains(&c) && c != b'<' && c != b'>' && c != b'\\' && c != b'"' {
                s.push(c as char);
            } else {
                s.push_str(&format!("\\x{c:02x}"));
            }
        }
        s
    }

    /// Compact text form of a token stream: `{key:value,...}`, `[a,b]`, `<bytes>`, `42`, `-0f`
    /// (floats carry an `f`), interned keys bare, raw keys quoted.
    pub(crate) fn render(tokens: &[i32], input: &[u8], base: u32) -> String {
        let mut s = String::new();
        let mut stack: Vec<(bool, usize)> = vec![];
        let mut i = 0;
        let slice = |start: i32, len: i32| {
            let a = (start as u32 - base) as usize;
            &input[a..a + len as usize]
        };
        while i < tokens.len() {
            let w = tokens[i];
            let op = opcode(w);
            let is_key = op == T_KEY || op == T_RAWKEY;
            if op != T_END {
                if let Some((is_dict, items)) = stack.last_mut() {
                    if (!*is_dict || is_key) && *items > 0 {
                        s.push(',');
                    }
                    *items += 1;
                }
            }
            match op {
                T_DICT => {
                    s.push('{');
                    stack.push((true, 0));
                    i += 1;
                }
                T_LIST => {
                    s.push('[');
                    stack.push((false, 0));
                    i += 1;
                }
                T_END => {
                    let (is_dict, _) = stack.pop().unwrap();
                    s.push(if is_dict { '}' } else { ']' });
                    i += 1;
                }
                T_BYTES => {
                    s.push_str(&format!(
                        "<{}>",
                        bytes_text(slice(tokens[i + 1], tokens[i + 2]))
                    ));
                    i += 3;
                }
                T_INT => {
                    s.push_str(&tokens[i + 1].to_string());
                    i += 2;
                }
                T_FLOAT => {
                    s.push_str(&format!(
                        "{}f",
                        float_from_words(tokens[i + 1], tokens[i + 2])
                    ));
                    i += 3;
                }
                T_KEY => {
                    s.push_str(key_name(key_id(w)).unwrap());
                    s.push(':');
                    i += 1;
                }
                T_RAWKEY => {
                    s.push_str(&format!(
                        "\"{}\":",
                        bytes_text(slice(tokens[i + 1], tokens[i + 2]))
                    ));
                    i += 3;
                }
                _ => panic!("bad opcode {w}"),
            }
        }
        assert!(stack.is_empty(), "unbalanced tokens");
        s
    }

    fn dec(input: &[u8]) -> Result<String, String> {
        let mut out = vec![];
        match tokenize(input, 0, &mut out) {
            Ok(_) => Ok(render(&out, input, 0)),
            Err(e) => {
                assert!(out.is_empty());
                Err(e.to_string())
            }
        }
    }

    const COLON: &str = "Invalid data: Missing delimiter \":\" [0x3a]";
    const E: &str = "Invalid data: Missing delimiter \"e\" [0x65]";

    #[test]
    fn spec_14_values() {
        let ok: &[(&str, &str)] = &[
            // 14.1
            ("i1eXYZ", "1"),
            ("4:spamgarbage", "<spam>"),
            ("d1:y1:qeGARBAGE", "{y:<q>}"),
            // 14.2
            ("i42e", "42"),
            ("i-42e", "-42"),
            ("i-0e", "-0f"),
            ("ie", "0"),
            ("i-e", "-0f"),
            ("i+e", "0"),
            ("i+0e", "0"),
            ("i042e", "42"),
            ("i+42e", "42"),
            ("i4.9e", "4"),
            ("i4.xe", "4"),
            ("i-4.xe", "-4"),
            ("i.e", "0"),
            ("i-.5e", "-0f"),
            ("i1e3e", "1"),
            ("i2147483647e", "2147483647"),
            ("i2147483648e", "2147483648f"),
            ("i-2147483648e", "-2147483648"),
            ("i-2147483649e", "-2147483649f"),
            ("i000000000000000000000000042e", "42"),
            ("i9007199254740993e", "9007199254740992f"),
            ("i18446744073709551616e", "18446744073709552000f"),
            ("i1234567890123456789e", "1234567890123457000f"),
            ("i-1234567890123456789e", "-1234567890123457000f"),
            ("i99999999999999999999e", "100000000000000020000f"),
            ("i999999999999999e", "999999999999999f"),
            ("i9999999999999999e", "10000000000000000f"),
            // 14.3
            ("04:spam", "<spam>"),
            ("+4:spam", "<spam>"),
            ("4.9:spam", "<spam>"),
            (":spam", "<>"),
            ("0:", "<>"),
            ("-0:x", "<>"),
            ("-0.5:x", "<>"),
            ("-.5:x", "<>"),
            ("4:sp", "<sp>"),
            ("10:abc", "<abc>"),
            ("3:", "<>"),
            ("1000000000000000000000000:ab", "<ab>"),
            ("l:e", "[<>]"),
            // 14.4
            ("le", "[]"),
            ("de", "{}"),
            ("li1ei2ee", "[1,2]"),
            ("d1:ai1e1:ai2ee", "{a:1,a:2}"),
            (
                "d1:bi1e1:ai2e2:10i3e1:2i4ee",
                "{\"b\":1,a:2,\"10\":3,\"2\":4}",
            ),
            ("d0:i1ee", "{\"\":1}"),
            ("d:i1ee", "{\"\":1}"),
            (
                "d9:__proto__d1:y1:q1:t2:aaee",
                "{\"__proto__\":{y:<q>,t:<aa>}}",
            ),
            ("d11:constructori1ee", "{\"constructor\":1}"),
            ("d1:ad1:bl1:ceee", "{a:{\"b\":[<c>]}}"),
            ("lleledee", "[[],[],{}]"),
            ("d1:xlee", "{\"x\":[]}"),
            // Runs of byte strings in a list (read in a loop of their own), and what ends one.
            ("l1:a2:bc0:3:defe", "[<a>,<bc>,<>,<def>]"),
            ("l1:a2:bci1e1:dl1:eee", "[<a>,<bc>,1,<d>,[<e>]]"),
            ("l1:ad1:x1:yee", "[<a>,{\"x\":<y>}]"),
            ("l1:a:e", "[<a>,<>]"),
            ("l1:a+1:be", "[<a>,<b>]"),
            ("ll1:a1:be1:ce", "[[<a>,<b>],<c>]"),
            ("d1:al1:a1:be1:b1:ce", "{a:[<a>,<b>],\"b\":<c>}"),
        ];
        for (input, want) in ok {
            assert_eq!(dec(input.as_bytes()), Ok(want.to_string()), "{input}");
        }

        let err: &[(&str, &str)] = &[
            ("i 1e", "not a number: buffer[1] = 32"),
            ("i42", E),
            ("i", E),
            ("i--1e", "not a number: buffer[2] = 45"),
            ("i+-1e", "not a number: buffer[2] = 45"),
            ("i1-e", "not a number: buffer[2] = 45"),
            ("ixe", "not a number: buffer[1] = 120"),
            ("li1ei 1ee", "not a number: buffer[5] = 32"),
            ("l1:a1:b1x:e", "not a number: buffer[8] = 120"),
            ("l1:a1:b5:cd", COLON),
            ("l1:a:b1:ce", "not a number: buffer[5] = 98"),
            ("4spam", COLON),
            ("a:spam", "not a number: buffer[0] = 97"),
            (" 4:spam", "not a number: buffer[0] = 32"),
            ("e", COLON),
            ("e:", "not a number: buffer[0] = 101"),
            ("x", COLON),
            ("l", COLON),
            ("li1e", COLON),
            ("d", COLON),
            ("d3:foo", COLON),
            ("d3:fooe", COLON),
            ("l4:spe", COLON),
            ("d1:a10:abce", COLON),
            ("di1ei2ee", COLON),
            ("dle3:fooe", "not a number: buffer[1] = 108"),
            ("d1:a", COLON),
            ("d1:ai1", E),
            ("lli1eeli2e", COLON),
            // Negative lengths: ours (bencode@2 returns a short slice at top level, or hangs).
            (
                "-4:spam",
                "Invalid data: negative string length at buffer[0]",
            ),
            ("-3:e", "Invalid data: negative string length at buffer[0]"),
            ("l-1:e", "Invalid data: negative string length at buffer[1]"),
            ("l-2:e", "Invalid data: negative string length at buffer[1]"),
            (
                "-1.5:ab",
                "Invalid data: negative string length at buffer[0]",
            ),
            ("dli1eei2ee", COLON),
        ];
        for (input, want) in err {
            assert_eq!(dec(input.as_bytes()), Err(want.to_string()), "{input}");
        }

        // Infinity after about 309 digits.
        let big = format!("i{}e", "9".repeat(400));
        assert_eq!(dec(big.as_bytes()), Ok("inff".into()));
        let big = format!("i-{}e", "9".repeat(400));
        assert_eq!(dec(big.as_bytes()), Ok("-inff".into()));
        let big = format!("{}:ab", "9".repeat(400));
        assert_eq!(dec(big.as_bytes()), Ok("<ab>".into()));
    }

    #[test]
    fn empty_is_null() {
        let mut out = vec![7];
        tokenize(b"", 5, &mut out).unwrap();
        assert_eq!(out, [7]);
    }

    #[test]
    fn exact_words_with_base() {
        let input = b"d1:t2:ab3:fooli-1ei3000000000eee";
        let mut out = vec![-9];
        tokenize(input, 100, &mut out).unwrap();
        let hi = (3e9f64.to_bits() >> 32) as u32 as i32;
        let lo = 3e9f64.to_bits() as u32 as i32;
        assert_eq!(
            out,
            [
                -9,
                T_DICT,
                T_KEY | 1 << 4,
                T_BYTES,
                106,
                2,
                T_RAWKEY,
                110,
                3,
                T_LIST,
                T_INT,
                -1,
                T_FLOAT,
                lo,
                hi,
                T_END,
                T_END
            ]
        );
    }

    #[test]
    fn error_leaves_output_untouched() {
        for input in [&b"d1:ai1e1:bi2e1:c"[..], b"li1ei2ei3el-3:ee", b"d-3:e"] {
            let mut out = vec![1, 2, 3];
            assert!(tokenize(input, 0, &mut out).is_err());
            assert_eq!(out, [1, 2, 3]);
        }
    }

    #[test]
    fn spec_12_hangs_are_errors() {
        for (input, index) in [
            ("d-3:e", 1),
            ("l-3:e", 1),
            ("d1:a-3:e", 4),
            ("d1:ad-3:ee", 5),
        ] {
            assert_eq!(
                dec(input.as_bytes()),
                Err(format!(
                    "Invalid data: negative string length at buffer[{index}]"
                )),
                "{input}"
            );
        }
        assert_eq!(
            DecodeError::NegativeLength { index: 1 }.to_string(),
            "Invalid data: negative string length at buffer[1]"
        );
    }

    #[test]
    fn depth_limit() {
        let nested = |n: usize| format!("{}{}", "l".repeat(n), "e".repeat(n));
        let mut out = vec![];
        tokenize(nested(MAX_DEPTH).as_bytes(), 0, &mut out).unwrap();
        assert_eq!(out.len(), 2 * MAX_DEPTH);
        let too_deep = "Invalid data: nesting deeper than 32768 levels";
        assert_eq!(dec(nested(MAX_DEPTH + 1).as_bytes()), Err(too_deep.into()));
        assert_eq!(dec(nested(100_000).as_bytes()), Err(too_deep.into()));
        // Unterminated: the depth error comes first, as soon as level 32769 opens.
        assert_eq!(dec("l".repeat(100_000).as_bytes()), Err(too_deep.into()));

        let dicts = |n: usize| format!("{}0:{}", "d1:a".repeat(n), "e".repeat(n));
        out.clear();
        tokenize(dicts(MAX_DEPTH).as_bytes(), 0, &mut out).unwrap();
        assert_eq!(dec(dicts(MAX_DEPTH + 1).as_bytes()), Err(too_deep.into()));

        // Siblings do not count as depth; mixed kinds are tracked per level.
        let wide = format!("l{}e", "le".repeat(10_000));
        out.clear();
        tokenize(wide.as_bytes(), 0, &mut out).unwrap();
        let mixed = format!("{}i1e{}", "ld1:k".repeat(200), "ee".repeat(200));
        let r = dec(mixed.as_bytes()).unwrap();
        assert!(r.starts_with("[{k:[{k:"), "{r}");
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let check = |input: &[u8], out: &mut Vec<i32>| {
            out.clear();
            out.push(-1);
            match tokenize(input, 3, out) {
                Ok(root) => {
                    assert!(out.len() - 1 <= 3 * input.len());
                    let _ = render(&out[1..], input, 3);
                    let tokens = &out[1..];
                    assert_eq!(root, crate::core::classify::root_of(tokens, input, 3));
                    let _ = crate::core::classify::classify(tokens, root, input, 3);
                }
                Err(_) => assert_eq!(out, &[-1]),
            }
        };
        let mut out = vec![];
        // Uniform random bytes: 64 KB in one piece, then every suffix of its first 4 KB.
        let big: Vec<u8> = (0..65_536).map(|_| rng.next() as u8).collect();
        check(&big, &mut out);
        for k in 0..4096 {
            check(&big[k..], &mut out);
        }
        // Bencode-shaped noise reaches far more of the decoder than uniform bytes.
        let alphabet = b"dlie:0123456789-+.xy";
        for round in 0..20_000 {
            let n = if round == 0 {
                65_536
            } else {
                rng.below(120) as usize
            };
            let input: Vec<u8> = (0..n)
                .map(|_| alphabet[rng.below(alphabet.len() as u64) as usize])
                .collect();
            check(&input, &mut out);
        }
    }

    // ---- oracle: serde_bencode on canonical input ----

    fn gen_value(rng: &mut Rng, depth: u32) -> Value {
        let kind = if depth >= 4 {
            rng.below(2)
        } else {
            rng.below(4)
        };
        match kind {
            0 => {
                let n = rng.below(24) as usize;
                Value::Bytes((0..n).map(|_| rng.next() as u8).collect())
            }
            1 => Value::Int(match rng.below(5) {
                0 => rng.below(100) as i64 - 50,
                1 => rng.next() as i32 as i64,
                2 => (rng.next() >> 11) as i64 * if rng.below(2) == 0 { 1 } else { -1 },
                3 => [
                    i32::MIN as i64,
                    i32::MAX as i64,
                    i32::MAX as i64 + 1,
                    i32::MIN as i64 - 1,
                ][rng.below(4) as usize],
                _ => rng.below(10) as i64,
            }),
            2 => Value::List(
                (0..rng.below(5))
                    .map(|_| gen_value(rng, depth + 1))
                    .collect(),
            ),
            _ => {
                let mut m = HashMap::new();
                for _ in 0..rng.below(5) {
                    let key: Vec<u8> = if rng.below(2) == 0 {
                        let keys = crate::core::keys::INTERNED_KEYS;
                        keys[rng.below(keys.len() as u64) as usize]
                            .as_bytes()
                            .to_vec()
                    } else {
                        (0..rng.below(6)).map(|_| rng.next() as u8).collect()
                    };
                    m.insert(key, gen_value(rng, depth + 1));
                }
                Value::Dict(m)
            }
        }
    }

    fn encode(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Bytes(b) => {
                out.extend_from_slice(format!("{}:", b.len()).as_bytes());
                out.extend_from_slice(b);
            }
            Value::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            Value::List(l) => {
                out.push(b'l');
                l.iter().for_each(|x| encode(x, out));
                out.push(b'e');
            }
            Value::Dict(m) => {
                out.push(b'd');
                let mut keys: Vec<_> = m.keys().collect();
                keys.sort();
                for k in keys {
                    encode(&Value::Bytes(k.clone()), out);
                    encode(&m[k], out);
                }
                out.push(b'e');
            }
        }
    }

    fn to_value(tokens: &[i32], i: &mut usize, input: &[u8], base: u32) -> Value {
        let bytes = |start: i32, len: i32| {
            let a = (start as u32 - base) as usize;
            input[a..a + len as usize].to_vec()
        };
        let w = tokens[*i];
        match opcode(w) {
            T_BYTES => {
                *i += 3;
                Value::Bytes(bytes(tokens[*i - 2], tokens[*i - 1]))
            }
            T_INT => {
                *i += 2;
                Value::Int(tokens[*i - 1] as i64)
            }
            T_FLOAT => {
                *i += 3;
                let f = float_from_words(tokens[*i - 2], tokens[*i - 1]);
                assert_eq!(f.fract(), 0.0);
                Value::Int(f as i64)
            }
            T_LIST => {
                *i += 1;
                let mut l = vec![];
                while tokens[*i] != T_END {
                    l.push(to_value(tokens, i, input, base));
                }
                *i += 1;
                Value::List(l)
            }
            T_DICT => {
                *i += 1;
                let mut m = HashMap::new();
                while tokens[*i] != T_END {
                    let k = tokens[*i];
                    let key = match opcode(k) {
                        T_KEY => {
                            *i += 1;
                            key_name(key_id(k)).unwrap().as_bytes().to_vec()
                        }
                        T_RAWKEY => {
                            *i += 3;
                            let key = bytes(tokens[*i - 2], tokens[*i - 1]);
                            assert_eq!(crate::core::keys::intern(&key), None);
                            key
                        }
                        op => panic!("key opcode {op}"),
                    };
                    let v = to_value(tokens, i, input, base);
                    m.insert(key, v);
                }
                *i += 1;
                Value::Dict(m)
            }
            op => panic!("value opcode {op}"),
        }
    }

    #[test]
    fn oracle_serde_bencode() {
        let mut rng = Rng(42);
        let mut out = vec![];
        for _ in 0..5_000 {
            let v = gen_value(&mut rng, 0);
            let mut enc = vec![];
            encode(&v, &mut enc);
            let theirs: Value = serde_bencode::from_bytes(&enc).unwrap();
            assert_eq!(theirs, v);
            out.clear();
            tokenize(&enc, 1000, &mut out).unwrap();
            let mut i = 0;
            let ours = to_value(&out, &mut i, &enc, 1000);
            assert_eq!(i, out.len());
            assert_eq!(ours, theirs, "{}", bytes_text(&enc));
        }
    }
}
