//! URL candidates: the URL as seen first, then the variants Twilio may have signed instead.
//!
//! No HTTP types. Everything is string surgery on the authority and path of one URL string:
//! `user:pass@` and IPv6 literals stay intact, and the query is never re-encoded or
//! re-sorted, because the signature covers the exact bytes Twilio sent.
//!
//! Each variant is one independent change (a bit below); candidates are the URL as seen,
//! then every combination of the changes that apply, in a fixed order. Adding a variant is
//! adding a bit.
//!
//! ```
//! use tower_twilio::UrlVariants;
//!
//! let variants = UrlVariants::default();
//! let candidates = variants.candidates("https://example.com/voice/?a=1");
//! assert_eq!(candidates.to_vec(), [
//!     "https://example.com/voice/?a=1",
//!     "https://example.com:443/voice/?a=1",
//!     "https://example.com/voice?a=1",
//!     "https://example.com:443/voice?a=1",
//! ]);
//! ```

use std::fmt;

use zeroize::Zeroizing;

/// Toggle the port: drop an explicit one, or add the scheme's default.
const PORT: u8 = 1 << 0;
/// Drop one trailing slash from the path (Apache and PHP add one).
const TRAILING_SLASH: u8 = 1 << 1;
/// Put configured `user:pass@` back into the authority.
const USERINFO: u8 = 1 << 2;
const VARIANT_COUNT: usize = 1 << 3;

/// Which variants of a URL are tried after the URL itself.
///
/// * **Port** (on by default): Twilio has signed both with and without the port, so every
///   official library accepts either. An explicit port is removed; when there is none, `:443`
///   (https, wss) or `:80` (http, ws) is added.
/// * **Trailing slash** (on by default): a request seen at `/voice/` is also tried as
///   `/voice`, the URL Twilio called before Apache or PHP added the slash.
/// * **Userinfo** (off unless credentials are given): Twilio signs
///   `https://user:pass@host/...` when the webhook URL carries HTTP Basic credentials, but the
///   server never sees them in the request line.
///
/// The `Debug` output never shows the password.
#[derive(Clone)]
pub struct UrlVariants {
    port: bool,
    trailing_slash: bool,
    userinfo: Option<Zeroizing<String>>,
}

impl Default for UrlVariants {
    fn default() -> Self {
        Self {
            port: true,
            trailing_slash: true,
            userinfo: None,
        }
    }
}

impl UrlVariants {
    /// Only the URL itself: no variants at all.
    pub fn none() -> Self {
        Self {
            port: false,
            trailing_slash: false,
            userinfo: None,
        }
    }

    /// Whether to try the URL with its port toggled.
    #[must_use]
    pub fn port(mut self, on: bool) -> Self {
        self.port = on;
        self
    }

    /// Whether to try `/path` for a request seen at `/path/`.
    #[must_use]
    pub fn trailing_slash(mut self, on: bool) -> Self {
        self.trailing_slash = on;
        self
    }

    /// Also try the URL with `user:password@` in its authority (as given, already
    /// percent-encoded if needed). `None` turns the variant off.
    #[must_use]
    pub fn userinfo(mut self, userinfo: Option<&str>) -> Self {
        self.userinfo = userinfo.map(|u| Zeroizing::new(u.to_owned()));
        self
    }

    pub(crate) fn tries_trailing_slash(&self) -> bool {
        self.trailing_slash
    }

    /// The candidates for `url`, the URL as seen (or as a public base URL made it).
    pub fn candidates<'a>(&'a self, url: &'a str) -> UrlCandidates<'a> {
        UrlCandidates {
            variants: self,
            url,
        }
    }

    /// The variant masks that apply to `parts`, in order, the URL itself (0) first.
    fn masks(&self, parts: &UrlParts<'_>) -> impl Iterator<Item = u8> {
        let mut applicable = 0;
        if self.port && (parts.port.is_some() || parts.default_port().is_some()) {
            applicable |= PORT;
        }
        if self.trailing_slash && parts.path.len() > 1 && parts.path.ends_with('/') {
            applicable |= TRAILING_SLASH;
        }
        if self.userinfo.is_some() && parts.userinfo.is_none() {
            applicable |= USERINFO;
        }
        (0..VARIANT_COUNT as u8).filter(move |mask| mask & !applicable == 0)
    }
}

impl fmt::Debug for UrlVariants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlVariants")
            .field("port", &self.port)
            .field("trailing_slash", &self.trailing_slash)
            .field("userinfo", &self.userinfo.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// The URLs to try for one request, the URL as seen first.
///
/// The URL is split only if the URL itself does not match, and variants are written one at a
/// time into a single buffer: the common case costs nothing, the others one allocation.
#[derive(Clone, Copy)]
pub struct UrlCandidates<'a> {
    variants: &'a UrlVariants,
    url: &'a str,
}

impl<'a> UrlCandidates<'a> {
    /// Calls `f` on each candidate in order and returns the first `Some`.
    ///
    /// ```
    /// use tower_twilio::UrlVariants;
    /// let variants = UrlVariants::default();
    /// let hit = variants
    ///     .candidates("http://example.com/a")
    ///     .find_map(|url| (url == "http://example.com:80/a").then(|| url.to_owned()));
    /// assert_eq!(hit.as_deref(), Some("http://example.com:80/a"));
    /// ```
    pub fn find_map<T>(&self, mut f: impl FnMut(&str) -> Option<T>) -> Option<T> {
        if let Some(found) = f(self.url) {
            return Some(found);
        }
        let parts = UrlParts::parse(self.url)?;
        let userinfo = self.variants.userinfo.as_deref().map(String::as_str);
        let mut buf = String::new();
        for mask in self.variants.masks(&parts).skip(1) {
            buf.clear();
            parts.write(mask, userinfo, &mut buf);
            if let Some(found) = f(&buf) {
                return Some(found);
            }
        }
        None
    }

    /// The URL as seen, always the first candidate.
    pub fn url(&self) -> &'a str {
        self.url
    }

    /// How many candidates there are (at least one).
    pub fn len(&self) -> usize {
        UrlParts::parse(self.url).map_or(1, |parts| self.variants.masks(&parts).count())
    }

    /// Always `false`: the URL itself is a candidate.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// All candidates, in order.
    pub fn to_vec(&self) -> Vec<String> {
        let mut all = Vec::with_capacity(self.len());
        self.find_map::<()>(|url| {
            all.push(url.to_owned());
            None
        });
        all
    }
}

impl fmt::Debug for UrlCandidates<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked: Vec<String> = self.to_vec().iter().map(|u| mask_userinfo(u)).collect();
        f.debug_list().entries(masked).finish()
    }
}

/// `url` with the password in its userinfo replaced by `***`, for logs.
///
/// Works on any string with `://`, whether or not the rest is a valid URL: what a client
/// sent may not be, and it is logged all the same.
///
/// ```
/// # use tower_twilio::url::mask_userinfo;
/// assert_eq!(mask_userinfo("https://user:pass@h/x"), "https://user:***@h/x");
/// assert_eq!(mask_userinfo("https://token@h/x"), "https://***@h/x");
/// assert_eq!(mask_userinfo("p://user:pass@:bad-port"), "p://user:***@:bad-port");
/// assert_eq!(mask_userinfo("https://h/x?a=b@c"), "https://h/x?a=b@c");
/// ```
pub fn mask_userinfo(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let authority_start = scheme_end + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let masked = match rest[..at].split_once(':') {
        Some((user, _)) => format!("{user}:***"),
        None => "***".to_owned(),
    };
    format!("{}{masked}{}", &url[..authority_start], &rest[at..])
}

/// Splits `host[:port]` (IPv6 literals in brackets); `None` if the port is not digits or
/// the host is empty.
pub(crate) fn split_host_port(host_port: &str) -> Option<(&str, Option<&str>)> {
    let (host, port) = if host_port.starts_with('[') {
        let close = host_port.find(']')?;
        let (host, after) = host_port.split_at(close + 1);
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match host_port.rfind(':') {
            Some(colon) => (&host_port[..colon], Some(&host_port[colon + 1..])),
            None => (host_port, None),
        }
    };
    if host.is_empty() || !port.unwrap_or("").bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host, port))
}

/// One URL split where candidates differ. Every field borrows from the URL string.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct UrlParts<'a> {
    scheme: &'a str,
    userinfo: Option<&'a str>,
    /// Includes the brackets of an IPv6 literal.
    host: &'a str,
    /// The digits after `:`, possibly empty (`host:`).
    port: Option<&'a str>,
    /// From the first `/` up to `?` (may be empty).
    path: &'a str,
    /// Everything after the first `?`, raw.
    query: Option<&'a str>,
}

impl<'a> UrlParts<'a> {
    /// Splits `scheme://[userinfo@]host[:port][/path][?query]`; `None` if it is not that shape.
    fn parse(url: &'a str) -> Option<Self> {
        let (scheme, rest) = url.split_once("://")?;
        let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return None;
        }
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let (userinfo, host_port) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        let (host, port) = split_host_port(host_port)?;
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (tail, None),
        };
        Some(Self {
            scheme,
            userinfo,
            host,
            port,
            path,
            query,
        })
    }

    fn default_port(&self) -> Option<&'static str> {
        let scheme = self.scheme;
        if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("wss") {
            Some("443")
        } else if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("ws") {
            Some("80")
        } else {
            None
        }
    }

    /// Writes the variant `mask` of this URL into `out`.
    fn write(&self, mask: u8, userinfo: Option<&str>, out: &mut String) {
        out.push_str(self.scheme);
        out.push_str("://");
        let userinfo = match userinfo {
            Some(configured) if mask & USERINFO != 0 => Some(configured),
            _ => self.userinfo,
        };
        if let Some(userinfo) = userinfo {
            out.push_str(userinfo);
            out.push('@');
        }
        out.push_str(self.host);
        let port = if mask & PORT == 0 {
            self.port
        } else if self.port.is_some() {
            None
        } else {
            self.default_port()
        };
        if let Some(port) = port {
            out.push(':');
            out.push_str(port);
        }
        let path = if mask & TRAILING_SLASH == 0 {
            self.path
        } else {
            self.path.strip_suffix('/').unwrap_or(self.path)
        };
        out.push_str(path);
        if let Some(query) = self.query {
            out.push('?');
            out.push_str(query);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port_only(url: &str) -> Vec<String> {
        UrlVariants::none().port(true).candidates(url).to_vec()
    }

    #[test]
    fn userinfo_and_port_survive_surgery() {
        assert_eq!(
            port_only("https://user:pass@example.com:8443/x?y=1"),
            [
                "https://user:pass@example.com:8443/x?y=1",
                "https://user:pass@example.com/x?y=1"
            ]
        );
        assert_eq!(
            port_only("https://user:pass@example.com/x"),
            [
                "https://user:pass@example.com/x",
                "https://user:pass@example.com:443/x"
            ]
        );
        // A colon inside userinfo is not a port.
        assert_eq!(
            port_only("http://us:er@host/"),
            ["http://us:er@host/", "http://us:er@host:80/"]
        );
    }

    #[test]
    fn ipv6_literals_with_and_without_port() {
        assert_eq!(
            port_only("https://[2001:db8::1]:8443/x"),
            ["https://[2001:db8::1]:8443/x", "https://[2001:db8::1]/x"]
        );
        assert_eq!(
            port_only("https://[2001:db8::1]/x"),
            ["https://[2001:db8::1]/x", "https://[2001:db8::1]:443/x"]
        );
        assert_eq!(
            port_only("http://user:pw@[::1]:80/"),
            ["http://user:pw@[::1]:80/", "http://user:pw@[::1]/"]
        );
    }

    #[test]
    fn no_port_and_explicit_default_port() {
        assert_eq!(
            port_only("http://example.com/voice"),
            ["http://example.com/voice", "http://example.com:80/voice"]
        );
        assert_eq!(
            port_only("https://example.com:443/voice"),
            ["https://example.com:443/voice", "https://example.com/voice"]
        );
        assert_eq!(
            port_only("wss://example.com/media"),
            ["wss://example.com/media", "wss://example.com:443/media"]
        );
        // No path at all.
        assert_eq!(
            port_only("https://example.com"),
            ["https://example.com", "https://example.com:443"]
        );
    }

    #[test]
    fn uppercase_scheme_is_kept_and_still_gets_its_default_port() {
        assert_eq!(
            port_only("HTTPS://Example.COM/Voice"),
            ["HTTPS://Example.COM/Voice", "HTTPS://Example.COM:443/Voice"]
        );
    }

    #[test]
    fn empty_query_keeps_its_question_mark() {
        assert_eq!(
            port_only("https://example.com/voice?"),
            [
                "https://example.com/voice?",
                "https://example.com:443/voice?"
            ]
        );
    }

    #[test]
    fn query_bytes_are_never_reencoded() {
        let url = "https://example.com/p?Body=It's+amazing&x=%27&y=a%2Fb&z=:@";
        let all = port_only(url);
        assert_eq!(
            all[1],
            "https://example.com:443/p?Body=It's+amazing&x=%27&y=a%2Fb&z=:@"
        );
    }

    #[test]
    fn unknown_scheme_only_drops_an_explicit_port() {
        assert_eq!(port_only("ftp://h/x"), ["ftp://h/x"]);
        assert_eq!(port_only("ftp://h:21/x"), ["ftp://h:21/x", "ftp://h/x"]);
    }

    #[test]
    fn unparseable_urls_yield_only_themselves() {
        for url in [
            "",
            "example.com/x",
            "://x",
            "https://",
            "https://h:p/x",
            "https://[::1/x",
            "1http://h/",
        ] {
            assert_eq!(UrlVariants::default().candidates(url).to_vec(), [url]);
        }
    }

    #[test]
    fn trailing_slash_and_userinfo_combine_in_order() {
        let variants = UrlVariants::default().userinfo(Some("u:p"));
        assert_eq!(
            variants.candidates("http://h/a/").to_vec(),
            [
                "http://h/a/",
                "http://h:80/a/",
                "http://h/a",
                "http://h:80/a",
                "http://u:p@h/a/",
                "http://u:p@h:80/a/",
                "http://u:p@h/a",
                "http://u:p@h:80/a",
            ]
        );
        // The root path keeps its slash.
        assert_eq!(UrlVariants::default().candidates("http://h/").len(), 2);
    }

    #[test]
    fn find_map_stops_at_first_match() {
        let variants = UrlVariants::default();
        let mut seen = 0;
        let hit = variants.candidates("https://h/a/").find_map(|url| {
            seen += 1;
            (url == "https://h:443/a/").then_some(seen)
        });
        assert_eq!(hit, Some(2));
        assert_eq!(seen, 2);
    }

    #[test]
    fn debug_masks_passwords() {
        let variants = UrlVariants::default().userinfo(Some("user:hunter2"));
        assert!(!format!("{variants:?}").contains("hunter2"));
        let candidates = variants.candidates("https://h/x");
        let shown = format!("{candidates:?}");
        assert!(shown.contains("user:***@h"), "{shown}");
        assert!(!shown.contains("hunter2"));
    }
}
