//! Reading what a trusted reverse proxy says about the request it forwarded.
//!
//! No HTTP types: these functions take header values as strings, so they can be tested and
//! fuzzed alone. [`PublicUrl`](crate::PublicUrl) decides *whether* to believe them (only from
//! a configured proxy address) and calls them.
//!
//! With several hops, each proxy appends to these headers, so the **last** value is the one
//! the nearest proxy (the one this server's TCP peer is) wrote; everything to its left could
//! have come from the client. That is the value used.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Why a header from a trusted proxy could not be used: the reason of a
/// [`UrlError::ProxyHeader`](crate::public_url::UrlError::ProxyHeader) rejection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyHeaderError {
    /// `Forwarded` is not valid RFC 7239 syntax, or repeats a parameter in one element.
    Forwarded,
    /// The protocol is not `http`, `https`, `ws` or `wss`.
    Proto,
    /// The host is not a valid authority (`host` or `host:port`).
    Host,
    /// `X-Forwarded-Port` is not a port number (1-65535).
    Port,
    /// `X-Forwarded-Prefix` is not a path (`/` followed by path characters).
    Prefix,
}

impl fmt::Display for ProxyHeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Forwarded => "the Forwarded header is malformed",
            Self::Proto => "the forwarded protocol is not http, https, ws or wss",
            Self::Host => "the forwarded host is not a valid host[:port]",
            Self::Port => "X-Forwarded-Port is not a port number",
            Self::Prefix => "X-Forwarded-Prefix is not a path",
        })
    }
}

impl std::error::Error for ProxyHeaderError {}

/// The `proto`, `host` and `for` of one `Forwarded` element, unquoted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ForwardedElement {
    /// The `proto` parameter.
    pub proto: Option<String>,
    /// The `host` parameter.
    pub host: Option<String>,
    /// The `for` parameter: the address the proxy received the request from.
    pub client: Option<String>,
}

/// Parses every `Forwarded` header line (in order) and returns the last element: the one the
/// nearest proxy added. `Ok(None)` when there is no element at all.
///
pub fn last_forwarded_element<'a, I>(lines: I) -> Result<Option<ForwardedElement>, ProxyHeaderError>
where
    I: IntoIterator<Item = &'a str>,
{
    Ok(forwarded_elements(lines)?.pop())
}

/// Every element of every `Forwarded` header line, in order.
pub(crate) fn forwarded_elements<'a, I>(lines: I) -> Result<Vec<ForwardedElement>, ProxyHeaderError>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut elements = Vec::new();
    for line in lines {
        for element in split_outside_quotes(line, b',')? {
            if !element.trim().is_empty() {
                elements.push(parse_element(element)?);
            }
        }
    }
    Ok(elements)
}

/// The address in a `Forwarded` `for` value or an `X-Forwarded-For` item: an IP, with or
/// without a port, IPv6 in brackets or not. `None` for `unknown` and obfuscated names.
pub(crate) fn parse_client(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    value
        .parse::<IpAddr>()
        .or_else(|_| value.parse::<SocketAddr>().map(|addr| addr.ip()))
        .ok()
        .or_else(|| value.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
}

/// One element: `name=value` pairs separated by `;`.
fn parse_element(element: &str) -> Result<ForwardedElement, ProxyHeaderError> {
    let mut parsed = ForwardedElement::default();
    for pair in split_outside_quotes(element, b';')? {
        let pair = pair.trim();
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=').ok_or(ProxyHeaderError::Forwarded)?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(ProxyHeaderError::Forwarded);
        }
        let value = unquote(value.trim())?;
        let slot = if name.eq_ignore_ascii_case("proto") {
            &mut parsed.proto
        } else if name.eq_ignore_ascii_case("host") {
            &mut parsed.host
        } else if name.eq_ignore_ascii_case("for") {
            &mut parsed.client
        } else {
            // `by` and extensions say nothing this layer uses.
            continue;
        };
        if slot.replace(value).is_some() {
            return Err(ProxyHeaderError::Forwarded);
        }
    }
    Ok(parsed)
}

/// Splits on `separator` where it is not inside a quoted string.
fn split_outside_quotes(s: &str, separator: u8) -> Result<Vec<&str>, ProxyHeaderError> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut in_quotes, mut i) = (0, false, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if in_quotes => i += 1,
            b'"' => in_quotes = !in_quotes,
            b if b == separator && !in_quotes => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if in_quotes {
        return Err(ProxyHeaderError::Forwarded);
    }
    parts.push(&s[start..]);
    Ok(parts)
}

/// A token, or a quoted string with its escapes resolved.
fn unquote(value: &str) -> Result<String, ProxyHeaderError> {
    let Some(inner) = value.strip_prefix('"') else {
        return if !value.is_empty() && value.bytes().all(is_token_byte) {
            Ok(value.to_owned())
        } else {
            Err(ProxyHeaderError::Forwarded)
        };
    };
    let inner = inner.strip_suffix('"').ok_or(ProxyHeaderError::Forwarded)?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or(ProxyHeaderError::Forwarded)?),
            '"' => return Err(ProxyHeaderError::Forwarded),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The last non-empty item of a comma-separated header that may appear on several lines
/// (`X-Forwarded-Proto`, `-Host`, `-Port`, `-Prefix`).
///
pub fn last_list_value<'a, I>(lines: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    lines
        .into_iter()
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .last()
}

/// Whether a forwarded protocol is secure (`https`, `wss`) or not (`http`, `ws`).
pub fn parse_proto(proto: &str) -> Result<bool, ProxyHeaderError> {
    if proto.eq_ignore_ascii_case("https") || proto.eq_ignore_ascii_case("wss") {
        Ok(true)
    } else if proto.eq_ignore_ascii_case("http") || proto.eq_ignore_ascii_case("ws") {
        Ok(false)
    } else {
        Err(ProxyHeaderError::Proto)
    }
}

/// Checks an `X-Forwarded-Port` value: digits, 1-65535.
pub fn parse_port(port: &str) -> Result<&str, ProxyHeaderError> {
    match port.parse::<u16>() {
        Ok(n) if n > 0 && port.bytes().all(|b| b.is_ascii_digit()) => Ok(port),
        _ => Err(ProxyHeaderError::Port),
    }
}

/// Checks an `X-Forwarded-Prefix` value and drops its trailing slashes (`/twilio/` and
/// `/twilio` are the same prefix; `/` is none).
pub fn parse_prefix(prefix: &str) -> Result<&str, ProxyHeaderError> {
    let ok = prefix.starts_with('/')
        && prefix
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'?' | b'#' | b'\\' | b'"'));
    if ok {
        Ok(prefix.trim_end_matches('/'))
    } else {
        Err(ProxyHeaderError::Prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_takes_the_last_element_across_lines() {
        let element =
            last_forwarded_element(["proto=http;host=a", "proto=https, proto=wss;host=c"])
                .unwrap()
                .unwrap();
        assert_eq!(element.proto.as_deref(), Some("wss"));
        assert_eq!(element.host.as_deref(), Some("c"));
        assert_eq!(last_forwarded_element(["", " , "]), Ok(None));
        assert_eq!(last_forwarded_element(Vec::<&str>::new()), Ok(None));
    }

    #[test]
    fn forwarded_quoted_strings_may_hold_separators() {
        let element = last_forwarded_element([r#"for="a,b;c";Host="h\"x:1";PROTO=https"#])
            .unwrap()
            .unwrap();
        assert_eq!(element.host.as_deref(), Some("h\"x:1"));
        assert_eq!(element.proto.as_deref(), Some("https"));
    }

    #[test]
    fn malformed_forwarded_values() {
        for value in [
            "proto",
            "=https",
            "proto=",
            "proto=\"https",
            "proto=https\"",
            "proto=\"a\"b\"",
            "host=a;host=b",
            "pro to=https",
            "proto=ht tp",
            "proto=\"x\\",
        ] {
            assert_eq!(
                last_forwarded_element([value]),
                Err(ProxyHeaderError::Forwarded),
                "{value}"
            );
        }
    }

    #[test]
    fn ports_prefixes_and_protos() {
        assert_eq!(parse_port("8443"), Ok("8443"));
        for bad in [
            "",
            "0",
            "65536",
            "+80",
            "80a",
            " 80",
            "99999999999999999999",
        ] {
            assert_eq!(parse_port(bad), Err(ProxyHeaderError::Port), "{bad:?}");
        }
        assert_eq!(parse_prefix("/twilio/"), Ok("/twilio"));
        assert_eq!(parse_prefix("/"), Ok(""));
        for bad in ["", "twilio", "/a?b", "/a#b", "/a b", "/\u{e9}"] {
            assert_eq!(parse_prefix(bad), Err(ProxyHeaderError::Prefix), "{bad:?}");
        }
        assert_eq!(parse_proto("HTTPS"), Ok(true));
        assert_eq!(parse_proto("ws"), Ok(false));
        assert_eq!(parse_proto("ftp"), Err(ProxyHeaderError::Proto));
    }
}

#[cfg(test)]
mod client_tests {
    use super::*;

    #[test]
    fn the_last_element_is_the_nearest_proxy_s() {
        let element = last_forwarded_element([
            r#"for=203.0.113.9;proto=http;host=evil.example"#,
            r#"for="[2001:db8::1]:4711";proto=https;host="hooks.example.com:8443""#,
        ])
        .unwrap()
        .unwrap();
        assert_eq!(element.proto.as_deref(), Some("https"));
        assert_eq!(element.host.as_deref(), Some("hooks.example.com:8443"));
        assert_eq!(element.client.as_deref(), Some("[2001:db8::1]:4711"));
        assert!(last_forwarded_element(["proto=https;proto=http"]).is_err());
        assert_eq!(last_list_value(["https, http", " https "]), Some("https"));
        assert_eq!(last_list_value(["", " , "]), None);
    }

    #[test]
    fn client_addresses_in_every_spelling() {
        for (value, ip) in [
            ("192.0.2.43", "192.0.2.43"),
            (" 192.0.2.43:47011 ", "192.0.2.43"),
            ("2001:db8::17", "2001:db8::17"),
            ("[2001:db8::17]", "2001:db8::17"),
            ("[2001:db8::17]:4711", "2001:db8::17"),
        ] {
            assert_eq!(parse_client(value), Some(ip.parse().unwrap()), "{value}");
        }
        for value in ["unknown", "_hidden", "", "192.0.2.300", "[::1", "host:80"] {
            assert_eq!(parse_client(value), None, "{value}");
        }
    }
}
