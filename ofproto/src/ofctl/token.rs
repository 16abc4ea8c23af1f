//! Splitting flow syntax into `key=value`, `key:value`, `key(value)` and
//! bare keys, the way OVS's `ofputil_parse_key_value` does: separators
//! are commas and whitespace outside parentheses, a key ends at the first
//! `:`, `=` or `(`, and a value runs to the next separator at parenthesis
//! depth zero (or to the matching `)`).

use super::FlowParseError;

/// One item of a flow or action list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token<'a> {
    /// The key (never empty).
    pub key: &'a str,
    /// The value; None for a bare key.
    pub value: Option<&'a str>,
    /// Whether the value was written in parentheses (`resubmit(1,2)`).
    pub paren: bool,
}

/// Iterator over the tokens of a string.
pub(crate) struct Tokens<'a> {
    rest: &'a str,
    failed: bool,
}

impl<'a> Tokens<'a> {
    pub fn new(s: &'a str) -> Self {
        Tokens {
            rest: s,
            failed: false,
        }
    }
}

fn is_sep(c: u8) -> bool {
    matches!(c, b',' | b' ' | b'\t' | b'\r' | b'\n')
}

/// Length of the value at the start of `s`: up to a separator (or, with
/// `close`, up to the `)` that closes depth zero) outside nested parens.
fn value_len(s: &str, close: bool) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.bytes().enumerate() {
        match c {
            b'(' => depth += 1,
            b')' if depth > 0 => depth -= 1,
            b')' if close => return Some(i),
            b')' => return None,
            c if !close && depth == 0 && is_sep(c) => return Some(i),
            _ => {}
        }
    }
    if close || depth > 0 {
        None
    } else {
        Some(s.len())
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Result<Token<'a>, FlowParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let s = self
            .rest
            .trim_start_matches(|c: char| c.is_ascii() && is_sep(c as u8));
        if s.is_empty() {
            self.rest = s;
            return None;
        }
        let key_len = s
            .bytes()
            .position(|c| matches!(c, b':' | b'=' | b'(' | b')') || is_sep(c))
            .unwrap_or(s.len());
        let key = &s[..key_len];
        let delim = s.as_bytes().get(key_len).copied();
        let unbalanced = |me: &mut Self| {
            me.failed = true;
            Some(Err(FlowParseError::Unbalanced(s.to_string())))
        };
        if key.is_empty() {
            return unbalanced(self);
        }
        match delim {
            Some(b':') | Some(b'=') => {
                let v = &s[key_len + 1..];
                let Some(n) = value_len(v, false) else {
                    return unbalanced(self);
                };
                self.rest = &v[n..];
                Some(Ok(Token {
                    key,
                    value: Some(&v[..n]),
                    paren: false,
                }))
            }
            Some(b'(') => {
                let v = &s[key_len + 1..];
                let Some(n) = value_len(v, true) else {
                    return unbalanced(self);
                };
                self.rest = &v[n + 1..];
                Some(Ok(Token {
                    key,
                    value: Some(&v[..n]),
                    paren: true,
                }))
            }
            Some(b')') => unbalanced(self),
            _ => {
                self.rest = &s[key_len..];
                Some(Ok(Token {
                    key,
                    value: None,
                    paren: false,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<(String, Option<String>, bool)> {
        Tokens::new(s)
            .map(|t| t.unwrap())
            .map(|t| (t.key.to_string(), t.value.map(str::to_string), t.paren))
            .collect()
    }

    #[test]
    fn splits_keys_values_and_parens() {
        let t = toks("resubmit(,2), output:1 load:0x1->NXM_NX_REG0[0..3],drop");
        assert_eq!(t[0], ("resubmit".into(), Some(",2".into()), true));
        assert_eq!(t[1], ("output".into(), Some("1".into()), false));
        assert_eq!(t[2].1.as_deref(), Some("0x1->NXM_NX_REG0[0..3]"));
        assert_eq!(t[3], ("drop".into(), None, false));
        let t = toks("controller(reason=no_match,max_len=10)");
        assert_eq!(t[0].1.as_deref(), Some("reason=no_match,max_len=10"));
        assert!(Tokens::new("a(b").any(|t| t.is_err()));
        assert!(Tokens::new("a)").any(|t| t.is_err()));
        assert!(Tokens::new("=5").any(|t| t.is_err()));
    }
}
