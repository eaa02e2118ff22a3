//! Steps 3 to 4.2 of docs/compatibility.md, "What happens to each received datagram": what
//! k-rpc-socket would make of a decoded datagram before it looks at its transaction table.
//!
//! The reference computes `type = message && message.y && message.y.toString()` on the decoded JS
//! value and then reads `message.t.readUInt16BE(0)`. This reproduces the outcomes that matter for
//! routing on the tape tokens directly, without building values: only `'q'`, `'r'` and `'e'` are
//! distinguished; every other type goes to JS as "unknown" and JS renders its text.

use super::bencode::Root;
use super::keys::{intern, KEY_T, KEY_Y};
use super::tape::{
    key_id, opcode, T_BYTES, T_DICT, T_END, T_FLOAT, T_INT, T_KEY, T_LIST, T_RAWKEY,
};

/// The routing class of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `y` is `'q'`: a query, whatever `t` is.
    Query,
    /// `y` is `'r'` (`error == false`) or `'e'` (`error == true`) and `t` is a byte string of at
    /// least 2 bytes; `tid` is its first two bytes, big-endian.
    Reply {
        /// The transaction id read from `t`.
        tid: u16,
        /// True for `y = 'e'`.
        error: bool,
    },
    /// A reply whose `t` is a byte string shorter than 2 bytes (the reference warns with a
    /// RangeError).
    ShortTid,
    /// A reply whose `t` is missing or not a byte string (the reference drops it silently).
    BadTid,
    /// Anything else: no `y`, not a top-level dict, `null`, or a type other than q/r/e.
    Other,
}

/// Classifies the value tokens of one datagram, as written by
/// [`tokenize`](crate::core::bencode::tokenize)`(input, base, ..)`, with the [`Root`] it returned.
/// `tokens` must start at the datagram's first value token (empty for an empty datagram).
/// Malformed token streams classify as [`Class::Other`]; never panics.
pub fn classify(tokens: &[i32], root: Root, input: &[u8], base: u32) -> Class {
    if tokens.first() != Some(&T_DICT) {
        return Class::Other;
    }
    let error = match root.y.and_then(|j| type_letter(tokens, j, input, base)) {
        Some(b'q') => return Class::Query,
        Some(b'r') => false,
        Some(b'e') => true,
        _ => return Class::Other,
    };
    // `Buffer.isBuffer(message.t)` first, then `readUInt16BE(0)`, which throws below 2 bytes.
    let Some(t) = root.t.and_then(|j| bytes_at(tokens, j, input, base)) else {
        return Class::BadTid;
    };
    match *t {
        [hi, lo, ..] => Class::Reply {
            tid: u16::from_be_bytes([hi, lo]),
            error,
        },
        _ => Class::ShortTid,
    }
}

/// The token range `[start, end)` of the root dict's `y` value, for the text of an unknown-type
/// warning: JS builds only that value instead of walking the datagram again. `None` when the
/// value is not a dict, has no `y`, or the tokens are malformed.
pub fn y_value_range(tokens: &[i32], root: Root) -> Option<(usize, usize)> {
    let start = root.y.filter(|_| tokens.first() == Some(&T_DICT))?;
    Some((start, skip(tokens, start)?))
}

/// The [`Root`] of a token stream found by walking it, which the tokenizer notes as it goes
/// instead: the definition its note is checked against (tests and the fuzz targets). The
/// default `Root` when the tokens are malformed.
pub fn root_of(tokens: &[i32], input: &[u8], base: u32) -> Root {
    match top_level_y_t(tokens, input, base) {
        Some((y, t)) => Root { y, t },
        None => Root::default(),
    }
}

/// Token indices of the values of the top-level `y` and `t` keys; `None` when the value is not a
/// dict or the tokens are malformed. Later duplicates win, as with JS property assignment.
fn top_level_y_t(
    tokens: &[i32],
    input: &[u8],
    base: u32,
) -> Option<(Option<usize>, Option<usize>)> {
    if *tokens.first()? != T_DICT {
        return None;
    }
    let (mut y, mut t) = (None, None);
    let mut i = 1;
    loop {
        let word = *tokens.get(i)?;
        let id = match opcode(word) {
            T_END => return Some((y, t)),
            T_KEY => {
                i += 1;
                key_id(word)
            }
            T_RAWKEY => {
                // The tokenizer interns `y` and `t`, so this only matters for hand-made tokens.
                let key = slice(tokens.get(i + 1..i + 3)?, input, base)?;
                i += 3;
                intern(key).unwrap_or(0)
            }
            _ => return None,
        };
        match id {
            KEY_Y => y = Some(i),
            KEY_T => t = Some(i),
            _ => {}
        }
        i = skip(tokens, i)?;
    }
}

/// Index just past the value starting at `i` (iterative, so depth costs no stack).
fn skip(tokens: &[i32], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match opcode(*tokens.get(i)?) {
            T_DICT | T_LIST => {
                depth += 1;
                i += 1;
            }
            T_END => {
                depth = depth.checked_sub(1)?;
                i += 1;
            }
            T_BYTES | T_FLOAT | T_RAWKEY => i += 3,
            T_INT => i += 2,
            T_KEY => i += 1,
            _ => return None,
        }
        if depth == 0 {
            return Some(i);
        }
    }
}

/// `q`, `r` or `e` when `String(value)` would be exactly that letter, else `None`.
///
/// A byte string converts to its UTF-8 text, so only the single byte itself qualifies. A list
/// converts with `join(',')`, so it qualifies only with exactly one element that qualifies
/// (`[['r']]` is `'r'`); that is the shape `T_LIST`×d, one-byte string, `T_END`×d. Numbers, dicts
/// and empty lists never produce these letters.
fn type_letter(tokens: &[i32], j: usize, input: &[u8], base: u32) -> Option<u8> {
    let lists = tokens
        .get(j..)?
        .iter()
        .take_while(|&&w| w == T_LIST)
        .count();
    let leaf = j + lists;
    let [c @ (b'q' | b'r' | b'e')] = *bytes_at(tokens, leaf, input, base)? else {
        return None;
    };
    let ends = tokens.get(leaf + 3..leaf + 3 + lists)?;
    ends.iter().all(|&w| w == T_END).then_some(c)
}

/// The bytes of the `T_BYTES` token at `j`, or `None` if that token is something else.
fn bytes_at<'a>(tokens: &[i32], j: usize, input: &'a [u8], base: u32) -> Option<&'a [u8]> {
    if *tokens.get(j)? != T_BYTES {
        return None;
    }
    slice(tokens.get(j + 1..j + 3)?, input, base)
}

/// Resolves a `[start, len]` pair (absolute offsets) against `input`, which starts at `base`.
fn slice<'a>(words: &[i32], input: &'a [u8], base: u32) -> Option<&'a [u8]> {
    let [start, len] = *words else {
        return None;
    };
    let from = (start as u32).checked_sub(base)? as usize;
    input.get(from..from.checked_add(len as u32 as usize)?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::core::bencode::tokenize;

    /// The class with the tokenizer's note of the root, which must be what walking the tokens
    /// finds.
    fn class_of(input: &[u8]) -> Class {
        let mut out = vec![];
        let root = match tokenize(input, 77, &mut out) {
            Ok(root) => root,
            Err(e) => panic!("{e}: {}", String::from_utf8_lossy(input)),
        };
        assert_eq!(
            root,
            root_of(&out, input, 77),
            "{}",
            String::from_utf8_lossy(input)
        );
        classify(&out, root, input, 77)
    }

    fn reply(tid: u16) -> Class {
        Class::Reply { tid, error: false }
    }

    #[test]
    fn spec_7_rows() {
        let rows: &[(&[u8], Class)] = &[
            // Step 3: the type.
            (b"", Class::Other),
            (b"i0e", Class::Other),
            (b"i5e", Class::Other),
            (b"le", Class::Other),
            (b"l1:ye", Class::Other),
            (b"1:q", Class::Other),
            (b"de", Class::Other),
            (b"d1:t2:aae", Class::Other),
            (b"d1:yi0e1:t2:aae", Class::Other),
            (b"d1:yi-0e1:t2:aae", Class::Other),
            (b"d1:yi5e1:t2:aae", Class::Other),
            (b"d1:y0:1:t2:aae", Class::Other),
            (b"d1:y1:Q1:t2:aae", Class::Other),
            (b"d1:y2:qq1:t2:aae", Class::Other),
            (b"d1:y2:r\x001:t2:aae", Class::Other),
            (b"d1:y4:\xef\xbb\xbfr1:t2:aae", Class::Other),
            (b"d1:yd1:y1:re1:t2:aae", Class::Other),
            (b"d1:yle1:t2:aae", Class::Other),
            (b"d1:yllee1:t2:aae", Class::Other),
            (b"d1:yl1:q1:xe1:t2:aae", Class::Other),
            (b"d1:yll1:reli1eee1:t2:aae", Class::Other),
            (b"d1:yl1:rlee1:t2:aae", Class::Other),
            (b"d1:yld1:y1:ree1:t2:aae", Class::Other),
            (b"d1:yli1ee1:t2:aae", Class::Other),
            (b"d1:ad1:y1:qee", Class::Other),
            (b"d9:__proto__d1:y1:q1:t2:aaee", Class::Other),
            (b"d1:y1:qe", Class::Query),
            (b"d1:y1:qeGARBAGE", Class::Query),
            (b"d1:ti5e1:y1:qe", Class::Query),
            (b"d1:yl1:qe1:tle1:q4:pinge", Class::Query),
            (b"d1:t2:aa1:y1:re", reply(0x6161)),
            (b"d1:t2:aa1:yl1:ree", reply(0x6161)),
            (b"d1:t2:aa1:ylll1:reeee", reply(0x6161)),
            (
                b"d1:t2:aa1:yl1:eee",
                Class::Reply {
                    tid: 0x6161,
                    error: true,
                },
            ),
            (
                b"d1:t2:\x09\x991:y1:ee",
                Class::Reply {
                    tid: 2457,
                    error: true,
                },
            ),
            (b"d1:t2:\x00\x001:y1:re", reply(0)),
            (b"d1:t2:\xff\xff1:y1:re", reply(0xffff)),
            // Step 4.1: t not a byte string.
            (b"d1:y1:re", Class::BadTid),
            (b"d1:ti513e1:y1:re", Class::BadTid),
            (b"d1:tl2:aae1:y1:re", Class::BadTid),
            (b"d1:tde1:y1:ee", Class::BadTid),
            (b"d1:ad1:t2:aae1:y1:re", Class::BadTid),
            // Step 4.2: shorter than 2 bytes; longer is truncated.
            (b"d1:t1:a1:y1:re", Class::ShortTid),
            (b"d1:t0:1:y1:ee", Class::ShortTid),
            (b"d1:t4:\x01\x02\x03\x041:y1:re", reply(0x0102)),
            // Duplicate keys: the last occurrence wins.
            (b"d1:y1:q1:t2:aa1:y1:re", reply(0x6161)),
            (b"d1:t2:aa1:y1:r1:y1:qe", Class::Query),
            (b"d1:t2:aa1:y1:r1:yi0ee", Class::Other),
            (b"d1:t1:a1:t2:ab1:y1:re", reply(0x6162)),
            (b"d1:t2:ab1:ti1e1:y1:re", Class::BadTid),
            (b"d1:t2:ab1:t1:x1:y1:re", Class::ShortTid),
            // Other keys around, raw keys, nested values skipped correctly.
            (
                b"d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:xy1:v4:LT011:y1:qe",
                Class::Query,
            ),
            (b"d3:zzzl1:yd1:y1:qee1:t2:\x01\x001:y1:re", reply(0x0100)),
        ];
        for (input, want) in rows {
            assert_eq!(class_of(input), *want, "{}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn malformed_tokens_do_not_panic() {
        let cases: &[&[i32]] = &[
            &[],
            &[T_DICT],
            &[T_DICT, T_KEY | 2 << 4],
            &[T_DICT, T_KEY | 2 << 4, T_BYTES, 0],
            &[T_DICT, T_KEY | 2 << 4, T_BYTES, 0, 1],
            &[T_DICT, T_KEY | 2 << 4, T_BYTES, 999, 1, T_END],
            &[T_DICT, T_KEY | 2 << 4, T_BYTES, -5, -1, T_END],
            &[T_DICT, T_KEY | 2 << 4, T_LIST, T_LIST],
            &[T_DICT, T_KEY | 2 << 4, T_END, T_END],
            &[T_DICT, T_RAWKEY, 0, 1, T_BYTES, 0, 1, T_END],
            &[T_DICT, 15, T_END],
            &[
                T_DICT,
                T_KEY | 1 << 4,
                T_BYTES,
                1,
                2,
                T_KEY | 2 << 4,
                T_BYTES,
                0,
                1,
                T_END,
            ],
        ];
        for tokens in cases {
            let _ = classify(tokens, root_of(tokens, b"r", 0), b"r", 0);
            let _ = classify(tokens, root_of(tokens, b"", 0), b"", 0);
            // A note that does not fit the tokens must not make classify panic either.
            let wild = Root {
                y: Some(tokens.len()),
                t: Some(usize::MAX),
            };
            let _ = classify(tokens, wild, b"r", 0);
            let _ = y_value_range(tokens, wild);
        }
        // Raw keys spelled `y`/`t` count too (the tokenizer never produces them).
        let input = b"yrab";
        let tokens = [
            T_DICT,
            T_RAWKEY,
            0,
            1,
            T_BYTES,
            1,
            1,
            T_KEY | 1 << 4,
            T_BYTES,
            2,
            2,
            T_END,
        ];
        assert_eq!(
            classify(&tokens, root_of(&tokens, input, 0), input, 0),
            reply(0x6162)
        );
        let tokens = [T_DICT, T_RAWKEY, 1, 1, T_BYTES, 1, 1, T_END];
        assert_eq!(
            classify(&tokens, root_of(&tokens, input, 0), input, 0),
            Class::Other
        );
    }

    #[test]
    fn the_y_value_range_is_where_the_root_dicts_last_y_is() {
        let cases: [(&[u8], Option<&[u8]>); 6] = [
            (b"d1:yli1ei2eee", Some(b"li1ei2ee")),
            (b"d1:a1:x1:y1:ze", Some(b"1:z")),
            (b"d1:y1:a1:yd1:b1:cee", Some(b"d1:b1:ce")),
            (b"d1:a1:xe", None),
            (b"l1:ye", None),
            (b"i5e", None),
        ];
        for (input, expected) in cases {
            let mut tokens = Vec::new();
            let root = crate::core::bencode::tokenize(input, 0, &mut tokens).unwrap();
            let range = y_value_range(&tokens, root);
            let Some(expected) = expected else {
                assert_eq!(range, None, "{}", String::from_utf8_lossy(input));
                continue;
            };
            let (start, end) = range.unwrap();
            let mut want = Vec::new();
            crate::core::bencode::tokenize(expected, 0, &mut want).unwrap();
            // Same token shape (offsets differ: they point into different inputs).
            let ops = |t: &[i32]| {
                t.iter()
                    .map(|w| crate::core::tape::opcode(*w))
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                end - start,
                want.len(),
                "{}",
                String::from_utf8_lossy(input)
            );
            assert_eq!(ops(&tokens[start..end])[0], ops(&want)[0]);
        }
    }
}
