//! The keys of a JSON object's top level, in order, as written: JSON parsers (the
//! `safetensors` crate's included) keep only the last value of a key given twice, so a
//! reader that must refuse duplicates looks at the text itself.

/// The decoded keys of the top-level object of `text`, or `None` when `text` is not a
/// well-formed object (the caller's parser then reports it).
pub fn top_level_keys(text: &str) -> Option<Vec<String>> {
    let mut p = Scan {
        s: text.as_bytes(),
        i: 0,
    };
    p.ws();
    p.eat(b'{')?;
    let mut keys = Vec::new();
    p.ws();
    if p.peek() == Some(b'}') {
        p.i += 1;
    } else {
        loop {
            p.ws();
            keys.push(p.string()?);
            p.ws();
            p.eat(b':')?;
            p.ws();
            p.value(0)?;
            p.ws();
            match p.next()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    p.ws();
    (p.i == p.s.len()).then_some(keys)
}

/// The first key of `keys` given a second time.
pub fn first_duplicate(keys: &[String]) -> Option<&str> {
    let mut seen = std::collections::BTreeSet::new();
    keys.iter()
        .find(|k| !seen.insert(k.as_str()))
        .map(String::as_str)
}

/// Nesting deeper than this is not a safetensors header; giving up keeps the scan bounded.
const MAX_DEPTH: usize = 64;

struct Scan<'a> {
    s: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let h = self.s.get(self.i..self.i + 4)?;
        self.i += 4;
        u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }

    /// A string, decoded (escapes, surrogate pairs).
    fn string(&mut self) -> Option<String> {
        self.eat(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.i;
            while !matches!(self.peek()?, b'"' | b'\\') {
                self.i += 1;
            }
            out.push_str(std::str::from_utf8(&self.s[start..self.i]).ok()?);
            if self.next()? == b'"' {
                return Some(out);
            }
            let c = match self.next()? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let hi = self.hex4()?;
                    let code = if (0xD800..0xDC00).contains(&hi) {
                        self.eat(b'\\')?;
                        self.eat(b'u')?;
                        let lo = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return None;
                        }
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else {
                        hi
                    };
                    char::from_u32(code)?
                }
                _ => return None,
            };
            out.push(c);
        }
    }

    /// Skips one value (its well-formedness is the real parser's business, but brackets
    /// and strings are followed so that nested keys are not taken for top-level ones).
    fn value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            open @ (b'{' | b'[') => {
                let close = if open == b'{' { b'}' } else { b']' };
                self.i += 1;
                self.ws();
                if self.peek() == Some(close) {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.ws();
                    if open == b'{' {
                        self.string()?;
                        self.ws();
                        self.eat(b':')?;
                        self.ws();
                    }
                    self.value(depth + 1)?;
                    self.ws();
                    match self.next()? {
                        b',' => continue,
                        c if c == close => return Some(()),
                        _ => return None,
                    }
                }
            }
            _ => {
                // A number, `true`, `false` or `null`.
                let start = self.i;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || b"+-.".contains(&c))
                {
                    self.i += 1;
                }
                (self.i > start).then_some(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_order_decoded() {
        let keys = top_level_keys(
            r#" { "a" : {"b": [1, -2.5e3, "x]}", {"c": null}]}, "\u00e9\ud83d\ude00\n" :true,"a":{} } "#,
        );
        assert_eq!(keys, Some(vec!["a".into(), "é😀\n".into(), "a".into()]));
        assert_eq!(first_duplicate(&keys.unwrap()), Some("a"));
        assert_eq!(top_level_keys("{}"), Some(vec![]));
        assert_eq!(first_duplicate(&["a".into(), "b".into()]), None);
    }

    #[test]
    fn malformed_text_is_none() {
        for bad in [
            "",
            "[]",
            "{",
            r#"{"a"}"#,
            r#"{"a":1,}"#,
            r#"{"a":1} x"#,
            r#"{"a":[1,2}"#,
            r#"{"\ud800":1}"#,
            r#"{"\q":1}"#,
            r#"{"a":"unterminated}"#,
        ] {
            assert_eq!(top_level_keys(bad), None, "{bad}");
        }
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(top_level_keys(&deep), None);
    }

    proptest::proptest! {
        #[test]
        fn any_text_never_panics(text in "[{}\\[\\]\":,\\\\u0-9a-fé ]{0,40}") {
            let _ = top_level_keys(&text);
        }
    }
}
