//! Where the public URL of a request comes from: the URL Twilio called, which the signature
//! covers, rebuilt from what this server can see.

use std::fmt;

use http::header::{HOST, UPGRADE};
use http::request::Parts;
use http::uri::Authority;
use http::Method;

/// The scheme of the connection this server accepts requests on.
///
/// Only the deployment knows whether its listener (or the proxy in front of it) speaks TLS,
/// so it is configured, never read from the request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// Plain HTTP (`http://`, `ws://` for WebSocket upgrades). The default.
    #[default]
    Http,
    /// HTTPS (`https://`, `wss://` for WebSocket upgrades).
    Https,
}

impl Scheme {
    /// The scheme string, for a WebSocket upgrade or not.
    pub const fn as_str(self, websocket: bool) -> &'static str {
        match (self, websocket) {
            (Self::Http, false) => "http",
            (Self::Https, false) => "https",
            (Self::Http, true) => "ws",
            (Self::Https, true) => "wss",
        }
    }
}

/// How the layer rebuilds the URL Twilio called.
///
/// The default, [`PublicUrl::as_seen`] with [`Scheme::Http`], uses what this server saw:
/// the configured scheme, the request target's authority (absolute-form or HTTP/2) or else
/// the `Host` header, and the original path and query (axum's `OriginalUri` when present, so
/// a layer inside `Router::nest` sees the full path). Nothing a client can forge is trusted
/// beyond what it sent in this very request.
///
/// ```
/// use tower_twilio::{PublicUrl, Scheme};
/// let behind_tls = PublicUrl::as_seen(Scheme::Https);
/// # let _ = behind_tls;
/// ```
#[derive(Clone, Default)]
pub struct PublicUrl {
    source: Source,
}

#[derive(Clone)]
enum Source {
    AsSeen { scheme: Scheme },
}

impl Default for Source {
    fn default() -> Self {
        Self::AsSeen {
            scheme: Scheme::Http,
        }
    }
}

impl PublicUrl {
    /// The URL as this server saw it, with the given scheme.
    pub fn as_seen(scheme: Scheme) -> Self {
        Self {
            source: Source::AsSeen { scheme },
        }
    }

    /// Rebuilds the URL for a request.
    pub(crate) fn resolve(&self, parts: &Parts) -> Result<String, UrlError> {
        match &self.source {
            Source::AsSeen { scheme } => {
                let authority = authority_as_seen(parts)?;
                let path_and_query = original_path_and_query(parts);
                let scheme = scheme.as_str(is_websocket_upgrade(parts));
                let mut url = String::with_capacity(
                    scheme.len() + 3 + authority.len() + path_and_query.len(),
                );
                url.push_str(scheme);
                url.push_str("://");
                url.push_str(authority);
                url.push_str(path_and_query);
                Ok(url)
            }
        }
    }
}

impl fmt::Debug for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::AsSeen { scheme } => f.debug_struct("AsSeen").field("scheme", scheme).finish(),
        }
    }
}

/// Why the URL of a request could not be rebuilt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// Neither the request target nor a `Host` header names the host.
    MissingHost,
    /// Several `Host` headers, or one that is not a valid authority.
    InvalidHost,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingHost => "the request names no host",
            Self::InvalidHost => "the Host header is repeated or malformed",
        })
    }
}

/// The authority the client addressed: the request target's (RFC 9112 §3.2.2: it wins over
/// `Host`), else the single, well-formed `Host` header.
fn authority_as_seen(parts: &Parts) -> Result<&str, UrlError> {
    if let Some(authority) = parts.uri.authority() {
        return Ok(authority.as_str());
    }
    let mut hosts = parts.headers.get_all(HOST).iter();
    let host = hosts.next().ok_or(UrlError::MissingHost)?;
    if hosts.next().is_some() {
        return Err(UrlError::InvalidHost);
    }
    let host = host.to_str().map_err(|_| UrlError::InvalidHost)?;
    if host.is_empty() {
        return Err(UrlError::MissingHost);
    }
    // Only an authority may go between `://` and the path.
    Authority::try_from(host).map_err(|_| UrlError::InvalidHost)?;
    Ok(host)
}

/// The path and query of the request as the client sent them, before any router stripped a
/// prefix.
fn original_path_and_query(parts: &Parts) -> &str {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = parts.extensions.get() {
        return uri.path_and_query().map_or("/", |pq| pq.as_str());
    }
    parts.uri.path_and_query().map_or("/", |pq| pq.as_str())
}

/// A WebSocket opening handshake (RFC 6455): Twilio signs its `wss://` URL.
pub(crate) fn is_websocket_upgrade(parts: &Parts) -> bool {
    parts.method == Method::GET
        && parts
            .headers
            .get_all(UPGRADE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|token| token.trim().eq_ignore_ascii_case("websocket"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Request;

    fn parts(builder: http::request::Builder) -> Parts {
        builder.body(()).unwrap().into_parts().0
    }

    #[test]
    fn host_header_or_target_authority() {
        let seen = PublicUrl::default();
        let p = parts(Request::get("/voice?a=1").header(HOST, "example.com:8080"));
        assert_eq!(
            seen.resolve(&p).unwrap(),
            "http://example.com:8080/voice?a=1"
        );
        // Absolute-form: the target's authority wins over Host.
        let p = parts(Request::get("http://target.test/x").header(HOST, "other.test"));
        assert_eq!(seen.resolve(&p).unwrap(), "http://target.test/x");
    }

    #[test]
    fn bad_hosts_are_refused() {
        let seen = PublicUrl::default();
        let p = parts(Request::get("/x"));
        assert_eq!(seen.resolve(&p), Err(UrlError::MissingHost));
        let p = parts(
            Request::get("/x")
                .header(HOST, "a.test")
                .header(HOST, "b.test"),
        );
        assert_eq!(seen.resolve(&p), Err(UrlError::InvalidHost));
        let p = parts(Request::get("/x").header(HOST, "a.test/evil"));
        assert_eq!(seen.resolve(&p), Err(UrlError::InvalidHost));
    }

    #[test]
    fn websocket_upgrade_switches_scheme() {
        let https = PublicUrl::as_seen(Scheme::Https);
        let p = parts(
            Request::get("/media")
                .header(HOST, "h")
                .header(UPGRADE, "WebSocket"),
        );
        assert_eq!(https.resolve(&p).unwrap(), "wss://h/media");
        let p = parts(
            Request::get("/media")
                .header(HOST, "h")
                .header(UPGRADE, "websocket"),
        );
        assert_eq!(PublicUrl::default().resolve(&p).unwrap(), "ws://h/media");
        let p = parts(
            Request::post("/media")
                .header(HOST, "h")
                .header(UPGRADE, "websocket"),
        );
        assert_eq!(https.resolve(&p).unwrap(), "https://h/media");
    }
}
