//! Finding members of a JSON object by its structure alone, without parsing values.
//!
//! Two readers need a record's layout before any decoder sees it: the prefilter, to
//! read the few values that prove a record irrelevant, and the framing, to find the
//! record a log shipper wrapped in an envelope. Both walk an object's members and jump
//! over the values they do not want: strings by searching for their closing quote,
//! objects and arrays by counting brackets outside strings. Nothing here checks that
//! the text is JSON; the callers say why that is enough for them.

/// The position of the first byte at or after `i` that is not JSON whitespace (space,
/// tab, line feed, carriage return: not the form feed `is_ascii_whitespace` also takes,
/// which serde refuses between tokens).
/// Records are mostly written compact: a byte above the space, the usual case, is told
/// by one comparison.
#[inline]
pub(crate) fn ws(b: &[u8], mut i: usize) -> usize {
    while let Some(&c) = b.get(i) {
        if c > b' ' || !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
            break;
        }
        i += 1;
    }
    i
}

/// The position just past the string opening at `at` (its closing quote included). A
/// quote preceded by an odd run of backslashes is escaped and does not close it.
#[inline]
pub(crate) fn string_end(b: &[u8], at: usize) -> Option<usize> {
    let mut from = at + 1;
    loop {
        let q = from + quote_in(b.get(from..)?)?;
        // Nearly every quote closes its string: one byte tells.
        if q == at + 1 || b.get(q - 1) != Some(&b'\\') {
            return Some(q + 1);
        }
        let escapes = b
            .get(at + 1..q)?
            .iter()
            .rev()
            .take_while(|&&c| c == b'\\')
            .count();
        if escapes % 2 == 0 {
            return Some(q + 1);
        }
        from = q + 1;
    }
}

/// The position just past the value starting at `at`: a string, an object or array
/// (followed through its brackets, strings jumped over whole), or a bare scalar.
#[inline]
pub(crate) fn value_end(b: &[u8], at: usize) -> Option<usize> {
    match *b.get(at)? {
        b'"' => string_end(b, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            while let Some(&c) = b.get(i) {
                match c {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let mut i = at;
            while b
                .get(i)
                .is_some_and(|c| !matches!(c, b',' | b'}' | b']') && !c.is_ascii_whitespace())
            {
                i += 1;
            }
            (i > at).then_some(i)
        }
    }
}

/// How a walk over an object's members ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Walked {
    /// Read to its closing brace; the position just past it.
    End(usize),
    /// The visitor stopped it.
    Stopped,
}

/// What a visitor of [`walk_members`] says to do after a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Stop the walk here.
    Stop,
    /// Go on past the member's value, which the walk jumps over.
    Next,
    /// Go on from here: the visitor has read the value already and knows where it ends
    /// (a value is not walked twice).
    Past(usize),
}

/// Hands `visit` each member of the object opening at `at`: its key as written
/// (between the quotes, escapes untouched) and where its value starts. A value is
/// jumped over only after `visit` returns `true`, so a walk that stops at the member
/// it wanted never reads that member's value. `None` when what is there does not read
/// as an object up to where the walk got.
#[inline]
pub(crate) fn members<'a>(
    b: &'a [u8],
    at: usize,
    mut visit: impl FnMut(&'a [u8], usize) -> bool,
) -> Option<Walked> {
    walk_members(
        b,
        at,
        |k, v| if visit(k, v) { Step::Next } else { Step::Stop },
    )
}

/// [`members`] for a visitor that may read a value itself and say where it ended.
pub(crate) fn walk_members<'a>(
    b: &'a [u8],
    at: usize,
    mut visit: impl FnMut(&'a [u8], usize) -> Step,
) -> Option<Walked> {
    if b.get(at) != Some(&b'{') {
        return None;
    }
    let mut i = ws(b, at + 1);
    if b.get(i) == Some(&b'}') {
        return Some(Walked::End(i + 1));
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i)?;
        let key = b.get(i + 1..key_end - 1)?;
        i = ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        let value = ws(b, i + 1);
        let past = match visit(key, value) {
            Step::Stop => return Some(Walked::Stopped),
            Step::Next => value_end(b, value)?,
            Step::Past(end) => end,
        };
        i = ws(b, past);
        match b.get(i) {
            Some(b',') => i = ws(b, i + 1),
            Some(b'}') => return Some(Walked::End(i + 1)),
            _ => return None,
        }
    }
}

/// Hands `visit` where each element of the array opening at `at` starts, as
/// [`walk_members`] does an object's members: a value is jumped over on [`Step::Next`],
/// and `None` when what is there does not read as an array up to where the walk got.
pub(crate) fn walk_elements(
    b: &[u8],
    at: usize,
    mut visit: impl FnMut(usize) -> Step,
) -> Option<Walked> {
    if b.get(at) != Some(&b'[') {
        return None;
    }
    let mut i = ws(b, at + 1);
    if b.get(i) == Some(&b']') {
        return Some(Walked::End(i + 1));
    }
    loop {
        let past = match visit(i) {
            Step::Stop => return Some(Walked::Stopped),
            Step::Next => value_end(b, i)?,
            Step::Past(end) => end,
        };
        i = ws(b, past);
        match b.get(i) {
            Some(b',') => i = ws(b, i + 1),
            Some(b']') => return Some(Walked::End(i + 1)),
            _ => return None,
        }
    }
}

/// The first quote in `b`. Most strings in a record (keys, ids, names) are short,
/// and a `memchr` call costs more to set up than reading them: the first 32 bytes are
/// read eight at a time (a word's first quote byte found by arithmetic), the rest is
/// left to `memchr`.
#[inline]
pub(crate) fn quote_in(b: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_le_bytes([b'"'; 8]);
    let head = b.len().min(32);
    let mut words = b[..head].chunks_exact(8);
    let mut base = 0;
    for w in words.by_ref() {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(w);
        let x = u64::from_le_bytes(bytes) ^ QUOTES;
        // A byte of `x` is zero where a quote is. The lowest flagged byte is always a
        // zero byte (a borrow only flags bytes above one), and it is the one wanted.
        let zero = x.wrapping_sub(ONES) & !x & HIGH;
        if zero != 0 {
            return Some(base + (zero.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    let rest = words.remainder();
    if let Some(i) = rest.iter().position(|&c| c == b'"') {
        return Some(base + i);
    }
    memchr::memchr(b'"', &b[head..]).map(|n| head + n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn quotes_are_found_where_memchr_finds_them() {
        let mut b = vec![b'a'; 80];
        assert_eq!(quote_in(&b), None);
        assert_eq!(quote_in(b""), None);
        for at in 0..80 {
            b.fill(b'a');
            b[at] = b'"';
            assert_eq!(quote_in(&b), Some(at), "{at}");
            // A later quote, and bytes just above and below a quote's value, do not
            // move it.
            if at + 3 < 80 {
                b[at + 3] = b'"';
                b[at + 1] = b'"' + 1;
            }
            if at > 0 {
                b[at - 1] = b'"' - 1;
            }
            assert_eq!(quote_in(&b), Some(at), "{at}");
            for len in 0..80 {
                assert_eq!(quote_in(&b[..len]), memchr::memchr(b'"', &b[..len]));
                assert_eq!(quote_in(&b[len..]), memchr::memchr(b'"', &b[len..]));
            }
        }
    }

    #[test]
    fn escaped_quotes_do_not_close_a_string() {
        let b = br#""a\"b\\" , "x\\\"y""#;
        assert_eq!(string_end(b, 0), Some(8));
        assert_eq!(string_end(b, 11), Some(b.len()));
        assert_eq!(string_end(br#""abc"#, 0), None);
        assert_eq!(string_end(br#""ab\""#, 0), None);
    }

    #[test]
    fn members_are_visited_in_order_and_values_jumped_whole() {
        let b = br#"{ "a" : {"x":[1,"]}",{"y":"}"}]}, "b\"c":"v\"}" ,"d":-1.5e3}"#;
        let mut seen = Vec::new();
        let end = members(b, 0, |k, v| {
            seen.push((k.to_vec(), b[v]));
            true
        });
        assert_eq!(end, Some(Walked::End(b.len())));
        let keys: Vec<&[u8]> = seen.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(keys, [&b"a"[..], br#"b\"c"#, b"d"]);
        assert_eq!(
            seen.iter().map(|(_, c)| *c).collect::<Vec<_>>(),
            [b'{', b'"', b'-']
        );
        // Stopping at a member leaves its value unread, however broken it is.
        let broken = br#"{"a":1,"b":{"never closed"#;
        assert_eq!(members(broken, 0, |k, _| k != b"b"), Some(Walked::Stopped));
        assert_eq!(members(broken, 0, |_, _| true), None);
        assert_eq!(members(b"[1]", 0, |_, _| true), None);
        assert_eq!(members(b"{ }", 0, |_, _| true), Some(Walked::End(3)));
    }

    #[test]
    fn elements_are_visited_in_order_and_values_jumped_whole() {
        let b = br#"[ 1 , "a]" ,{"x":[2]}, [] ]"#;
        let mut seen = Vec::new();
        let end = walk_elements(b, 0, |v| {
            seen.push(b[v]);
            Step::Next
        });
        assert_eq!(end, Some(Walked::End(b.len())));
        assert_eq!(seen, [b'1', b'"', b'{', b'[']);
        assert_eq!(
            walk_elements(b"[]", 0, |_| Step::Next),
            Some(Walked::End(2))
        );
        assert_eq!(walk_elements(b"[1,]", 0, |_| Step::Next), None);
        assert_eq!(walk_elements(b"[1 2]", 0, |_| Step::Next), None);
        assert_eq!(walk_elements(b"{}", 0, |_| Step::Next), None);
        assert_eq!(
            walk_elements(b"[1,{", 0, |_| Step::Stop),
            Some(Walked::Stopped)
        );
        // Only JSON's own whitespace separates tokens.
        assert_eq!(
            walk_elements(b"[\t1\r\n]", 0, |_| Step::Next),
            Some(Walked::End(6))
        );
        assert_eq!(walk_elements(b"[\x0c1]", 0, |_| Step::Next), None);
    }

    proptest! {
        /// On JSON serde writes, the walk finds the members serde reads, and ends
        /// where the object does; on any bytes it does not panic.
        #[test]
        fn the_walk_agrees_with_serde(
            keys in proptest::collection::vec("[a-z\"\\\\ {}]{0,6}", 0..6),
            vals in proptest::collection::vec(any::<(String, Vec<u8>, bool)>(), 0..6),
            junk in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut obj = serde_json::Map::new();
            for (k, (s, n, flag)) in keys.iter().zip(&vals) {
                let v = if *flag {
                    serde_json::json!({ "s": s, "n": n, "k": [k, {"x": s}] })
                } else {
                    serde_json::json!(s)
                };
                obj.insert(k.clone(), v);
            }
            let text = serde_json::to_vec(&serde_json::Value::Object(obj.clone())).unwrap();
            let mut walked = Vec::new();
            let end = members(&text, 0, |k, v| {
                walked.push((k.to_vec(), v));
                true
            });
            prop_assert_eq!(end, Some(Walked::End(text.len())));
            prop_assert_eq!(walked.len(), obj.len());
            for ((raw_key, at), (key, value)) in walked.iter().zip(obj.iter()) {
                let quoted = [&b"\""[..], raw_key, b"\""].concat();
                let k: String = serde_json::from_slice(&quoted).unwrap();
                prop_assert_eq!(&k, key);
                let end = value_end(&text, *at).unwrap();
                let v: serde_json::Value = serde_json::from_slice(&text[*at..end]).unwrap();
                prop_assert_eq!(&v, value);
            }
            let _ = members(&junk, 0, |_, _| true);
            for at in 0..junk.len() {
                let _ = value_end(&junk, at);
            }
        }
    }
}
