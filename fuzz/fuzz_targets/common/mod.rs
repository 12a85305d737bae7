//! Helpers shared by the fuzz targets (each target uses a subset).
#![allow(dead_code)]

/// A URL's userinfo, split independently of `tower_twilio::url`: `scheme://` + authority (up
/// to the first `/`, `?` or `#`), userinfo up to the last `@` of the authority.
#[derive(Debug, PartialEq, Eq)]
pub struct Userinfo<'a> {
    /// `scheme://`.
    pub prefix: &'a str,
    /// The user name: the userinfo up to its first `:` (all of it when there is none).
    pub user: &'a str,
    /// The password after that `:`, if any.
    pub password: Option<&'a str>,
    /// From the `@` on.
    pub rest: &'a str,
}

pub fn userinfo(url: &str) -> Option<Userinfo<'_>> {
    let sep = url.find("://")?;
    let after = sep + 3;
    let authority_len = url[after..]
        .find(['/', '?', '#'])
        .unwrap_or(url.len() - after);
    let authority = &url[after..after + authority_len];
    let at = authority.rfind('@')?;
    let info = &authority[..at];
    let (user, password) = match info.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (info, None),
    };
    Some(Userinfo {
        prefix: &url[..after],
        user,
        password,
        rest: &url[after + at..],
    })
}

/// `url` with its password replaced by `***`, as `mask_userinfo` should write it.
pub fn masked(info: &Userinfo<'_>) -> String {
    format!("{}{}:***{}", info.prefix, info.user, info.rest)
}

/// Checks `out == mask_userinfo(url)`: either the URL unchanged because it carries no
/// password, or exactly the URL with its password replaced by `***`.
pub fn check_masked(url: &str, out: &str) {
    match userinfo(url) {
        None => assert_eq!(
            out, url,
            "mask_userinfo({url:?}) changed a URL without userinfo"
        ),
        Some(info) if out != url => assert_eq!(out, masked(&info), "mask_userinfo({url:?})"),
        Some(info) => assert!(
            info.password.is_none_or(|p| p.is_empty() || p == "***"),
            "mask_userinfo({url:?}) left the password in: {out:?}"
        ),
    }
}

/// Whether `url` has the shape `tower_twilio::url` parses (`scheme://[userinfo@]host[:digits]`),
/// as documented: an ASCII-letter-led scheme of letters, digits, `+-.`, a non-empty host,
/// digits after the last `:` of a non-bracketed host, and a closed IPv6 bracket.
pub fn looks_parseable(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once("://") else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if host_port.starts_with('[') {
        match host_port.find(']') {
            None => return false,
            Some(close) => match &host_port[close + 1..] {
                "" => (&host_port[..=close], ""),
                after => match after.strip_prefix(':') {
                    Some(port) => (&host_port[..=close], port),
                    None => return false,
                },
            },
        }
    } else {
        host_port
            .rsplit_once(':')
            .map_or((host_port, ""), |(h, p)| (h, p))
    };
    scheme_ok && !host.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
}

/// Whether to skip inputs that hit the known, reported bugs (set `FUZZ_SKIP_KNOWN=1` to keep
/// a campaign going past them until they are fixed). Off by default: every check runs.
pub fn skip_known_bugs() -> bool {
    static SKIP: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SKIP.get_or_init(|| std::env::var_os("FUZZ_SKIP_KNOWN").is_some_and(|v| v == "1"))
}

/// Known bug (tests/fuzz_regressions.rs, `form_field_boundary_inside_a_utf8_character`): a
/// form body whose decoded bytes are valid UTF-8 as a whole while a key or value boundary
/// falls inside a multi-byte character (`%C3=%A9`) makes `FormParams::iter` panic.
pub fn splits_a_utf8_character(body: &[u8]) -> bool {
    let mut whole = Vec::new();
    let mut fields_ok = true;
    // Decode each field's raw bytes ourselves (form_urlencoded only gives lossy strings).
    for field in body.split(|&b| b == b'&').filter(|f| !f.is_empty()) {
        let (key, value) = match field.iter().position(|&b| b == b'=') {
            Some(eq) => (&field[..eq], &field[eq + 1..]),
            None => (field, &[][..]),
        };
        for part in [key, value] {
            let decoded = percent_decode_plus(part);
            fields_ok &= std::str::from_utf8(&decoded).is_ok();
            whole.extend_from_slice(&decoded);
        }
    }
    !fields_ok && std::str::from_utf8(&whole).is_ok()
}

/// `application/x-www-form-urlencoded` decoding of one key or value, to bytes.
pub fn percent_decode_plus(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}
