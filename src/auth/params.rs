//! The `#auth-param` list of an `Authorization` header (RFC 9110 §11.2) and the token
//! characters around it.

/// The most parameters a Digest header may have (RFC 7616 defines 12).
const MAX_DIGEST_PARAMS: usize = 32;

/// RFC 9110 `tchar`.
pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 9110 `token68` characters.
pub(super) fn is_token68(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)
}

/// Parses `name=value, name="quoted \"value\"", ...` (RFC 9110 §11.2 `#auth-param`).
///
/// Names are lowercased; quoted strings are unescaped. `None` for anything malformed: a
/// missing `=` or value, an unterminated quote, a control character, a repeated name, or
/// more than [`MAX_DIGEST_PARAMS`] parameters.
pub(super) fn parse_auth_params(input: &str) -> Option<Vec<(String, String)>> {
    let bytes = input.as_bytes();
    let skip_ows = |i: &mut usize| {
        while *i < bytes.len() && matches!(bytes[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    let mut params: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    loop {
        // Empty list elements are allowed (RFC 9110 §5.6.1).
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        if i == bytes.len() {
            break;
        }
        let start = i;
        while i < bytes.len() && is_tchar(bytes[i]) {
            i += 1;
        }
        if i == start {
            return None;
        }
        let name = input[start..i].to_ascii_lowercase();
        skip_ows(&mut i);
        if bytes.get(i) != Some(&b'=') {
            return None;
        }
        i += 1;
        skip_ows(&mut i);
        let value = if bytes.get(i) == Some(&b'"') {
            i += 1;
            // Only ASCII bytes are special, so copying the other bytes one by one keeps
            // multi-byte characters whole and the result valid UTF-8.
            let mut value = Vec::new();
            loop {
                match *bytes.get(i)? {
                    b'"' => break,
                    b'\\' => {
                        i += 1;
                        let escaped = *bytes.get(i)?;
                        if escaped.is_ascii_control() && escaped != b'\t' {
                            return None;
                        }
                        value.push(escaped);
                    }
                    b if b.is_ascii_control() && b != b'\t' => return None,
                    b => value.push(b),
                }
                i += 1;
            }
            i += 1;
            String::from_utf8(value).ok()?
        } else {
            let start = i;
            while i < bytes.len() && is_tchar(bytes[i]) {
                i += 1;
            }
            if i == start {
                return None;
            }
            input[start..i].to_owned()
        };
        if params.len() == MAX_DIGEST_PARAMS || params.iter().any(|(n, _)| *n == name) {
            return None;
        }
        params.push((name, value));
        skip_ows(&mut i);
        if i < bytes.len() && bytes[i] != b',' {
            return None;
        }
    }
    (!params.is_empty()).then_some(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parser_unescapes_and_lowercases() {
        let params =
            parse_auth_params("UserName=\"a\\\"b\\\\c é\" , , qop = auth ,nc=00000001,").unwrap();
        assert_eq!(
            params,
            [
                ("username".to_owned(), "a\"b\\c é".to_owned()),
                ("qop".to_owned(), "auth".to_owned()),
                ("nc".to_owned(), "00000001".to_owned()),
            ]
        );
        assert_eq!(
            parse_auth_params("a=\"\""),
            Some(vec![("a".into(), String::new())])
        );
        for bad in [
            "",
            "a",
            "a=",
            "a=\"",
            "a=b c",
            "a=b;c=d",
            "a=\"x\"y",
            "a=\"\x01\"",
        ] {
            assert_eq!(parse_auth_params(bad), None, "{bad:?}");
        }
    }
}
