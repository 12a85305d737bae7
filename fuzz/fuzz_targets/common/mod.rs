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

/// `url` as `mask_userinfo` documents it: the password replaced by `***`, or the whole
/// userinfo when it has no `:` (it may be a bare token).
pub fn masked(info: &Userinfo<'_>) -> String {
    match info.password {
        Some(_) => format!("{}{}:***{}", info.prefix, info.user, info.rest),
        None => format!("{}***{}", info.prefix, info.rest),
    }
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
            match info.password {
                Some(p) => p.is_empty() || p == "***",
                None => info.user == "***",
            },
            "mask_userinfo({url:?}) left the password in: {out:?}"
        ),
    }
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

/// The reference MAC: the `hmac` crate over the whole string to sign, base64 encoded.
pub fn hmac_sha1_base64(secret: &[u8], data: &[u8]) -> String {
    use base64::Engine as _;
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret).expect("any key length");
    mac.update(data);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}
