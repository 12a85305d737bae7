//! Where the public URL of a request comes from: the URL Twilio called, which the signature
//! covers, rebuilt from what this server can see and, only where configured, from what a
//! trusted proxy says.
//!
//! | source | URL | trusts |
//! |---|---|---|
//! | [`PublicUrl::as_seen`] (default) | configured scheme + `Host` (or the target's authority) + original path and query | nothing beyond the request itself |
//! | [`PublicUrl::fixed`] | your base URL + original path and query | nothing: the host this server saw is ignored |
//! | [`PublicUrl::trusted_proxies`] | as seen, with scheme, host, port and prefix from `Forwarded` / `X-Forwarded-*` | those headers, only when the TCP peer is a configured proxy |
//! | [`PublicUrl::custom`] | whatever your function returns | what your function trusts |

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::header::{FORWARDED, HOST, UPGRADE};
use http::request::Parts;
use http::{HeaderName, Method};
use ipnet::IpNet;

use crate::error::ConfigError;
use crate::hint::Hint;
use crate::proxy;
pub use crate::proxy::ProxyHeaderError;
use crate::url::split_host_port;

static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
static X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The scheme of the connection this server accepts requests on.
///
/// Only the deployment knows whether its listener speaks TLS, so it is configured, never
/// read from the request (except from a [trusted proxy](PublicUrl::trusted_proxies)).
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

    fn secure(secure: bool) -> Self {
        if secure {
            Self::Https
        } else {
            Self::Http
        }
    }
}

/// The TCP peer's address, for servers that do not use axum's `ConnectInfo`.
///
/// [`PublicUrl::trusted_proxies`] reads the peer from axum's `ConnectInfo<SocketAddr>` when
/// present, else from this extension, which you can insert yourself (e.g. in a custom accept
/// loop or a layer of your own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub IpAddr);

/// The addresses of the reverse proxies whose `Forwarded` and `X-Forwarded-*` headers are
/// believed: single IPs and CIDR ranges, IPv4 and IPv6.
///
/// ```
/// use tower_twilio::public_url::TrustedProxies;
/// let proxies = TrustedProxies::new(["127.0.0.1", "10.0.0.0/8", "::1"])?;
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(!proxies.contains("192.0.2.1".parse().unwrap()));
/// // IPv4 peers seen through an IPv6 socket count as IPv4.
/// assert!(proxies.contains("::ffff:127.0.0.1".parse().unwrap()));
/// assert!(TrustedProxies::parse_list("10.0.0.0/8, 192.168.0.1").is_ok());
/// assert!(TrustedProxies::new(["10.0.0.0/33"]).is_err());
/// # Ok::<_, tower_twilio::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// Parses IPs (`10.0.0.1`, `::1`) and CIDRs (`10.0.0.0/8`, `fd00::/8`).
    pub fn new<I>(proxies: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut nets = Vec::new();
        for proxy in proxies {
            let proxy = proxy.as_ref().trim();
            let net = proxy
                .parse::<IpNet>()
                .or_else(|_| proxy.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    ConfigError::invalid(
                        "trusted proxy",
                        format!("{proxy:?} is not an IP address or CIDR"),
                    )
                })?;
            nets.push(net);
        }
        if nets.is_empty() {
            return Err(ConfigError::invalid("trusted proxies", "the list is empty"));
        }
        Ok(Self { nets })
    }

    /// Parses a comma-separated list, as in `TRUSTED_PROXIES=127.0.0.1,10.0.0.0/8`.
    pub fn parse_list(list: &str) -> Result<Self, ConfigError> {
        Self::new(list.split(',').filter(|item| !item.trim().is_empty()))
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }
}

type CustomFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;

/// How the layer rebuilds the URL Twilio called.
///
/// Nothing a client can forge is trusted unless you say so: the default uses only what this
/// request itself carries, and proxy headers are believed only from proxy addresses you
/// list. Every source keeps the original path and query (axum's `OriginalUri` when present,
/// so a layer inside `Router::nest` sees the full path) as raw bytes, and uses `ws`/`wss`
/// for WebSocket upgrades.
///
/// ```
/// use tower_twilio::{PublicUrl, Scheme};
/// // This server terminates TLS itself.
/// let seen = PublicUrl::as_seen().scheme(Scheme::Https);
/// // Behind ngrok, Heroku or a load balancer: the URL configured in the Twilio console.
/// let fixed = PublicUrl::fixed("https://hooks.example.com/twilio")?;
/// // Behind nginx on this host, which sets X-Forwarded-Proto and Host.
/// let proxied = PublicUrl::trusted_proxies(["127.0.0.1", "::1"])?;
/// # let _ = (seen, fixed, proxied);
/// # Ok::<_, tower_twilio::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct PublicUrl {
    source: Source,
    scheme: Scheme,
}

#[derive(Clone)]
enum Source {
    AsSeen,
    Fixed { base: String },
    TrustedProxies(TrustedProxies),
    Custom(Arc<CustomFn>),
}

impl Default for PublicUrl {
    fn default() -> Self {
        Self::as_seen()
    }
}

impl PublicUrl {
    /// The URL as this server saw it: the [scheme](Self::scheme) (default `http`), the
    /// request target's authority (absolute-form, HTTP/2) or else the one `Host` header, and
    /// the original path and query.
    pub fn as_seen() -> Self {
        Self {
            source: Source::AsSeen,
            scheme: Scheme::Http,
        }
    }

    /// A fixed base URL: scheme, host, optional port and optional path prefix, e.g.
    /// `https://hooks.example.com/twilio`. The URL is the base followed by the request's
    /// original path and query; what this server saw of the host is not a candidate.
    ///
    /// A prefix is for a proxy that strips it: Twilio calls `/twilio/voice`, the proxy
    /// forwards `/voice`. If your routes see the full path, give the base without it.
    ///
    /// ```
    /// use tower_twilio::{PublicUrl, TwilioWebhookLayer};
    /// // ngrok forwards https://example.ngrok.app/... to this server.
    /// let layer = TwilioWebhookLayer::new("fake_token")?
    ///     .public_url(PublicUrl::fixed("https://example.ngrok.app")?);
    /// # let _ = layer;
    /// assert!(PublicUrl::fixed("example.ngrok.app").is_err()); // no scheme
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn fixed(base: &str) -> Result<Self, ConfigError> {
        let invalid =
            |reason: &str| ConfigError::invalid("public URL", format!("{base:?} {reason}"));
        let (scheme, rest) = base
            .split_once("://")
            .ok_or_else(|| invalid("is not an absolute URL"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "http" => Scheme::Http,
            "https" => Scheme::Https,
            _ => return Err(invalid("must start with http:// or https://")),
        };
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err(invalid(
                "must not contain credentials; configure them as URL variants instead",
            ));
        }
        if !is_host_and_port(authority) {
            return Err(invalid("has no valid host[:port]"));
        }
        let prefix = match prefix {
            "" => "",
            prefix => proxy::parse_prefix(prefix)
                .map_err(|_| invalid("has a query, fragment or invalid path characters"))?,
        };
        Ok(Self {
            source: Source::Fixed {
                base: format!("{}://{authority}{prefix}", scheme.as_str(false)),
            },
            scheme,
        })
    }

    /// Believe `Forwarded` (RFC 7239: `proto`, `host`), `X-Forwarded-Proto`,
    /// `X-Forwarded-Host`, `X-Forwarded-Port` and `X-Forwarded-Prefix` when the TCP peer is
    /// one of `proxies` (IPs or CIDRs); otherwise use the URL [as seen](Self::as_seen).
    ///
    /// The peer comes from axum's `ConnectInfo<SocketAddr>` (serve with
    /// `into_make_service_with_connect_info::<SocketAddr>()`) or a [`PeerAddr`] extension.
    /// Without either, no proxy is believed.
    ///
    /// With several hops, the last value of each header, the one the nearest proxy wrote, is
    /// used, never the leftmost one a client could have written. When a `Forwarded` header
    /// is present, its `proto` and `host` (with its port) describe the request and
    /// `X-Forwarded-Proto`, `-Host` and `-Port` are ignored; `X-Forwarded-Prefix` applies
    /// either way. Malformed values from a trusted proxy (bad port, unknown protocol,
    /// broken `Forwarded`) refuse the request with a [`ProxyHeaderError`] reason.
    ///
    /// A proxy passes on headers it does not set, so **the trusted proxy must set or clear
    /// every one of these headers** (`Forwarded`, `X-Forwarded-Proto`, `-Host`, `-Port`,
    /// `-Prefix`); otherwise a client can choose the ones it leaves alone. See the README's
    /// nginx configuration.
    ///
    /// ```no_run
    /// use std::net::SocketAddr;
    /// use axum::{routing::post, Router};
    /// use tower_twilio::{PublicUrl, TwilioWebhookLayer};
    /// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // nginx on this host terminates TLS and sets X-Forwarded-Proto and Host.
    /// let layer = TwilioWebhookLayer::from_env()?
    ///     .public_url(PublicUrl::trusted_proxies(["127.0.0.1", "::1"])?);
    /// let app = Router::new()
    ///     .route("/voice", post(|| async { "<Response/>" }))
    ///     .layer(layer);
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// // The layer must know the TCP peer to trust it.
    /// axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await?;
    /// # Ok(()) }
    /// ```
    pub fn trusted_proxies<I>(proxies: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Ok(Self::behind(TrustedProxies::new(proxies)?))
    }

    /// [`trusted_proxies`](Self::trusted_proxies) with an already parsed list.
    pub fn behind(proxies: TrustedProxies) -> Self {
        Self {
            source: Source::TrustedProxies(proxies),
            scheme: Scheme::Http,
        }
    }

    /// Your own function from the request's parts to the URL; `None` refuses the request.
    /// It must return the URL exactly as Twilio called it (the layer still tries its
    /// [variants](crate::UrlVariants)): keep the query (it is signed) and, inside axum's
    /// `Router::nest`, the original path (`OriginalUri`), both as the client sent them.
    ///
    /// ```
    /// use axum::extract::OriginalUri;
    /// use tower_twilio::PublicUrl;
    /// let custom = PublicUrl::custom(|parts: &http::request::Parts| {
    ///     let tenant = parts.headers.get("x-tenant")?.to_str().ok()?;
    ///     // The path and query before any router stripped a prefix.
    ///     let uri = parts.extensions.get::<OriginalUri>().map_or(&parts.uri, |o| &o.0);
    ///     let path_and_query = uri.path_and_query()?.as_str();
    ///     Some(format!("https://{tenant}.hooks.example.com{path_and_query}"))
    /// });
    /// # let _ = custom;
    /// ```
    pub fn custom<F>(f: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        Self {
            source: Source::Custom(Arc::new(f)),
            scheme: Scheme::Http,
        }
    }

    /// The scheme of this server's own listener, for [`as_seen`](Self::as_seen) and for
    /// [`trusted_proxies`](Self::trusted_proxies) when no proxy header says otherwise.
    /// A fixed base URL carries its own scheme and ignores this.
    #[must_use]
    pub fn scheme(mut self, scheme: Scheme) -> Self {
        if !matches!(self.source, Source::Fixed { .. }) {
            self.scheme = scheme;
        }
        self
    }

    /// Rebuilds the URL for a request.
    pub(crate) fn resolve(&self, parts: &Parts) -> Result<String, UrlError> {
        let websocket = is_websocket_upgrade(parts);
        let path_and_query = original_path_and_query(parts);
        match &self.source {
            Source::AsSeen => self.as_seen_url(parts, websocket, path_and_query),
            Source::Fixed { base } => {
                let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
                let scheme = match (scheme, websocket) {
                    ("https", true) => "wss",
                    ("http", true) => "ws",
                    (scheme, _) => scheme,
                };
                Ok(concat([scheme, "://", rest, path_and_query]))
            }
            Source::TrustedProxies(proxies) => match peer_ip(parts) {
                Some(peer) if proxies.contains(peer) => {
                    self.forwarded_url(parts, websocket, path_and_query)
                }
                _ => self.as_seen_url(parts, websocket, path_and_query),
            },
            Source::Custom(f) => f(parts).ok_or(UrlError::CustomRefused),
        }
    }

    fn as_seen_url(
        &self,
        parts: &Parts,
        websocket: bool,
        path_and_query: &str,
    ) -> Result<String, UrlError> {
        let authority = authority_as_seen(parts)?;
        Ok(concat([
            self.scheme.as_str(websocket),
            "://",
            authority,
            path_and_query,
        ]))
    }

    /// The URL as the nearest trusted proxy describes it.
    fn forwarded_url(
        &self,
        parts: &Parts,
        websocket: bool,
        path_and_query: &str,
    ) -> Result<String, UrlError> {
        let headers = &parts.headers;
        let lines =
            |name: &HeaderName| headers.get_all(name).iter().filter_map(|v| v.to_str().ok());
        // One header family describes the hop: with `Forwarded`, the X-Forwarded-Proto,
        // -Host and -Port a client may have slipped past the proxy are not consulted.
        let forwarded = proxy::last_forwarded_element(lines(&FORWARDED))?;
        let (proto, host, port) = match &forwarded {
            Some(element) => (element.proto.as_deref(), element.host.as_deref(), None),
            None => (
                proxy::last_list_value(lines(&X_FORWARDED_PROTO)),
                proxy::last_list_value(lines(&X_FORWARDED_HOST)),
                proxy::last_list_value(lines(&X_FORWARDED_PORT)),
            ),
        };
        let scheme = match proto {
            Some(proto) => Scheme::secure(proxy::parse_proto(proto)?),
            None => self.scheme,
        };
        let host = match host {
            Some(host) if is_host_and_port(host) => host,
            Some(_) => return Err(ProxyHeaderError::Host.into()),
            None => authority_as_seen(parts)?,
        };
        let (host, seen_port) = split_host_port(host).ok_or(UrlError::InvalidHost)?;
        let port = match port {
            Some(port) => Some(proxy::parse_port(port)?),
            None => seen_port,
        };
        let prefix = match proxy::last_list_value(lines(&X_FORWARDED_PREFIX)) {
            Some(prefix) => proxy::parse_prefix(prefix)?,
            None => "",
        };
        let mut url = concat([scheme.as_str(websocket), "://", host]);
        if let Some(port) = port {
            url.push(':');
            url.push_str(port);
        }
        url.push_str(prefix);
        url.push_str(path_and_query);
        Ok(url)
    }

    /// The client a request came from, as far as this configuration believes anyone: the
    /// TCP peer, or, when the peer is a trusted proxy, the nearest address in
    /// `Forwarded: for=` (or else `X-Forwarded-For`) that is not a trusted proxy itself.
    /// What a client wrote into those headers is to the left of what the proxies added, so
    /// it is never reached while an untrusted address stands to its right.
    pub(crate) fn client(&self, parts: &Parts) -> Option<IpAddr> {
        let peer = peer_ip(parts)?;
        let Source::TrustedProxies(proxies) = &self.source else {
            return Some(peer);
        };
        if !proxies.contains(peer) {
            return Some(peer);
        }
        let lines = |name| {
            parts
                .headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
        };
        let hops: Vec<Option<IpAddr>> = match proxy::forwarded_elements(lines(&FORWARDED)) {
            Ok(elements) if !elements.is_empty() => elements
                .iter()
                .map(|e| e.client.as_deref().and_then(proxy::parse_client))
                .collect(),
            // Without (usable) `Forwarded`, X-Forwarded-For.
            _ => lines(&X_FORWARDED_FOR)
                .flat_map(|line| line.split(','))
                .filter(|item| !item.trim().is_empty())
                .map(proxy::parse_client)
                .collect(),
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            match hop {
                Some(ip) if proxies.contains(ip) => client = ip,
                Some(ip) => return Some(ip),
                // An address the proxy would not name: the last one it did is what is known.
                None => break,
            }
        }
        Some(client)
    }

    /// Likely causes of a failed verification visible from this request; only computed for
    /// rejections.
    pub(crate) fn hints(&self, parts: &Parts) -> Vec<Hint> {
        let mut hints = Vec::new();
        let has_proxy_headers = [
            &FORWARDED,
            &X_FORWARDED_PROTO,
            &X_FORWARDED_HOST,
            &X_FORWARDED_PORT,
            &X_FORWARDED_PREFIX,
        ]
        .iter()
        .any(|name| parts.headers.contains_key(*name));
        match &self.source {
            Source::AsSeen if has_proxy_headers => hints.push(Hint::ProxyHeadersIgnored),
            Source::TrustedProxies(proxies) => match peer_ip(parts) {
                None => hints.push(Hint::NoPeerAddress),
                Some(peer) if !proxies.contains(peer) && has_proxy_headers => {
                    hints.push(Hint::ProxyHeadersFromUntrustedPeer)
                }
                _ => {}
            },
            Source::Fixed { base } => {
                let base_host = base.split_once("://").map_or("", |(_, rest)| rest);
                let base_host = base_host.split('/').next().unwrap_or("");
                if authority_as_seen(parts).is_ok_and(|seen| !seen.eq_ignore_ascii_case(base_host))
                {
                    hints.push(Hint::HostDiffersFromPublicUrl);
                }
            }
            _ => {}
        }
        if matches!(self.source, Source::AsSeen) && seen_on_loopback(parts) {
            hints.push(Hint::LoopbackHost);
        }
        hints
    }
}

impl fmt::Debug for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Source::AsSeen => f
                .debug_struct("AsSeen")
                .field("scheme", &self.scheme)
                .finish(),
            Source::Fixed { base } => f.debug_tuple("Fixed").field(base).finish(),
            Source::TrustedProxies(proxies) => f
                .debug_struct("TrustedProxies")
                .field("proxies", &proxies.nets)
                .field("scheme", &self.scheme)
                .finish(),
            Source::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

fn concat<const N: usize>(pieces: [&str; N]) -> String {
    let mut out = String::with_capacity(pieces.iter().map(|p| p.len()).sum::<usize>() + 8);
    for piece in pieces {
        out.push_str(piece);
    }
    out
}

/// Why the URL of a request could not be rebuilt: the reason of a
/// [`RejectionReason::Url`](crate::RejectionReason::Url) rejection.
///
/// ```
/// use tower_twilio::public_url::UrlError;
/// use tower_twilio::RejectionReason;
/// let reason = RejectionReason::Url(UrlError::MissingHost);
/// assert_eq!(reason.status(), 400);
/// assert_eq!(reason.name(), "missing_host");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UrlError {
    /// Neither the request target nor a `Host` header names the host (400).
    MissingHost,
    /// Several `Host` headers, or one that is not a valid authority (400).
    InvalidHost,
    /// A trusted proxy sent a header that cannot be used (403).
    ProxyHeader(ProxyHeaderError),
    /// The [custom](PublicUrl::custom) function returned `None` (403).
    CustomRefused,
}

impl From<ProxyHeaderError> for UrlError {
    fn from(err: ProxyHeaderError) -> Self {
        Self::ProxyHeader(err)
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHost => f.write_str("the request names no host"),
            Self::InvalidHost => f.write_str("the Host header is repeated or malformed"),
            Self::ProxyHeader(err) => write!(f, "trusted proxy header: {err}"),
            Self::CustomRefused => f.write_str("the custom public URL function returned none"),
        }
    }
}

/// The authority the client addressed: the request target's (RFC 9112 §3.2.2: it wins over
/// `Host`), else the single, well-formed `Host` header.
fn authority_as_seen(parts: &Parts) -> Result<&str, UrlError> {
    if let Some(authority) = parts.uri.authority() {
        // Userinfo never travels in a request target; a client that sends it is refused,
        // as in `Host`.
        if authority.as_str().contains('@') {
            return Err(UrlError::InvalidHost);
        }
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
    if !is_host_and_port(host) {
        return Err(UrlError::InvalidHost);
    }
    Ok(host)
}

/// Whether the host this request was sent to is a loopback name or address.
fn seen_on_loopback(parts: &Parts) -> bool {
    let Some((host, _)) = authority_as_seen(parts).ok().and_then(split_host_port) else {
        return false;
    };
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || ip.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Whether `s` is `host[:port]` and nothing else: only that may go between `://` and the
/// path (no userinfo, no path, a numeric port).
///
/// The host is an IP literal in brackets, or RFC 3986's `reg-name` (which covers IPv4):
/// checked byte by byte here, where `http::uri::Authority` would first copy the string.
fn is_host_and_port(s: &str) -> bool {
    let Some((host, _port)) = split_host_port(s) else {
        return false;
    };
    match host.strip_prefix('[') {
        Some(literal) => literal.strip_suffix(']').is_some_and(|inner| {
            !inner.is_empty()
                && inner
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        }),
        None => host.bytes().all(|b| REG_NAME[usize::from(b)]),
    }
}

/// The bytes of RFC 3986's `reg-name`: unreserved, sub-delims and `%` (a table, where
/// testing each byte against the list is a loop per byte).
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"-._~%!$&'()*+,;=";
    let mut i = 0;
    while i < others.len() {
        table[others[i] as usize] = true;
        i += 1;
    }
    table
};

/// The path and query of the request as the client sent them, before any router stripped a
/// prefix.
fn original_path_and_query(parts: &Parts) -> &str {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = parts.extensions.get() {
        return uri.path_and_query().map_or("/", |pq| pq.as_str());
    }
    parts.uri.path_and_query().map_or("/", |pq| pq.as_str())
}

/// The TCP peer: axum's `ConnectInfo`, else a [`PeerAddr`] extension.
pub(crate) fn peer_ip(parts: &Parts) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
    {
        return Some(addr.ip());
    }
    parts.extensions.get::<PeerAddr>().map(|peer| peer.0)
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

    fn from_peer(builder: http::request::Builder, peer: &str) -> Parts {
        builder
            .extension(PeerAddr(peer.parse().unwrap()))
            .body(())
            .unwrap()
            .into_parts()
            .0
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
        for bad in [
            "a.test/evil",
            "u:p@a.test",
            "a test",
            "a.test:x",
            "a:b:80",
            "a.test?q",
            "a.test#f",
            "[::1",
            "[::1]x",
            "[]",
            "[::g]",
            "a[b]",
            ":80",
            "a\\b",
            "a\"b",
            "é.test",
        ] {
            let p = parts(Request::get("/x").header(HOST, bad));
            assert_eq!(seen.resolve(&p), Err(UrlError::InvalidHost), "{bad}");
        }
        for good in [
            "a.test",
            "a.test:8080",
            "a.test:",
            "127.0.0.1:80",
            "[::1]:443",
            "x-y_z~",
            "sub!$&'()*+,;=%41.test",
        ] {
            let p = parts(Request::get("/x").header(HOST, good));
            assert_eq!(seen.resolve(&p), Ok(format!("http://{good}/x")), "{good}");
        }
    }

    #[test]
    fn websocket_upgrade_switches_scheme() {
        let https = PublicUrl::as_seen().scheme(Scheme::Https);
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
        let fixed = PublicUrl::fixed("https://pub.example/base").unwrap();
        let p = parts(
            Request::get("/media")
                .header(HOST, "h")
                .header(UPGRADE, "websocket"),
        );
        assert_eq!(fixed.resolve(&p).unwrap(), "wss://pub.example/base/media");
    }

    #[test]
    fn fixed_base_replaces_what_was_seen() {
        let fixed = PublicUrl::fixed("HTTPS://hooks.example.com:8443/twilio/").unwrap();
        let p = parts(Request::post("/voice?x=1").header(HOST, "10.0.0.5:3000"));
        assert_eq!(
            fixed.resolve(&p).unwrap(),
            "https://hooks.example.com:8443/twilio/voice?x=1"
        );
        assert_eq!(fixed.hints(&p), [Hint::HostDiffersFromPublicUrl]);
        // The scheme of a fixed base cannot be overridden by accident.
        let still = fixed.clone().scheme(Scheme::Http);
        assert_eq!(
            still.resolve(&p).unwrap(),
            "https://hooks.example.com:8443/twilio/voice?x=1"
        );
        let root = PublicUrl::fixed("http://[::1]:8080").unwrap();
        assert_eq!(root.resolve(&p).unwrap(), "http://[::1]:8080/voice?x=1");
    }

    #[test]
    fn fixed_base_validation() {
        for bad in [
            "hooks.example.com",
            "ftp://hooks.example.com",
            "https://",
            "https://user:pw@hooks.example.com",
            "https://hooks.example.com/a?b",
            "https://hooks.example.com/a#b",
            "https://hooks example.com",
            "https://hooks.example.com:port",
        ] {
            let err = PublicUrl::fixed(bad).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid public URL"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn proxy_headers_are_believed_only_from_trusted_peers() {
        let proxied = PublicUrl::trusted_proxies(["10.0.0.0/8"]).unwrap();
        let request = || {
            Request::post("/voice?a=1")
                .header(HOST, "internal:3000")
                .header("x-forwarded-proto", "https")
                .header("x-forwarded-host", "hooks.example.com")
        };
        let trusted = from_peer(request(), "10.1.1.1");
        assert_eq!(
            proxied.resolve(&trusted).unwrap(),
            "https://hooks.example.com/voice?a=1"
        );
        let untrusted = from_peer(request(), "192.0.2.7");
        assert_eq!(
            proxied.resolve(&untrusted).unwrap(),
            "http://internal:3000/voice?a=1"
        );
        assert_eq!(
            proxied.hints(&untrusted),
            [Hint::ProxyHeadersFromUntrustedPeer]
        );
        // No peer address at all: nothing is believed, and the hint says why.
        let unknown = parts(request());
        assert_eq!(
            proxied.resolve(&unknown).unwrap(),
            "http://internal:3000/voice?a=1"
        );
        assert_eq!(proxied.hints(&unknown), [Hint::NoPeerAddress]);
        // The default source never believes them.
        assert_eq!(
            PublicUrl::default().resolve(&trusted).unwrap(),
            "http://internal:3000/voice?a=1"
        );
        assert_eq!(
            PublicUrl::default().hints(&trusted),
            [Hint::ProxyHeadersIgnored]
        );
    }

    #[test]
    fn the_nearest_proxy_wins_over_values_a_client_wrote() {
        let proxied = PublicUrl::trusted_proxies(["127.0.0.1"]).unwrap();
        let p = from_peer(
            Request::post("/voice")
                .header(HOST, "internal")
                .header("x-forwarded-proto", "http, https")
                .header("x-forwarded-host", "evil.example")
                .header("x-forwarded-host", "hooks.example.com"),
            "127.0.0.1",
        );
        assert_eq!(
            proxied.resolve(&p).unwrap(),
            "https://hooks.example.com/voice"
        );
        let p = from_peer(
            Request::post("/voice")
                .header(HOST, "internal")
                .header(
                    FORWARDED,
                    "proto=http;host=evil.example, proto=https;host=\"hooks.example.com\"",
                )
                .header("x-forwarded-proto", "http"),
            "127.0.0.1",
        );
        assert_eq!(
            proxied.resolve(&p).unwrap(),
            "https://hooks.example.com/voice",
            "Forwarded wins"
        );
    }

    #[test]
    fn forwarded_port_and_prefix() {
        let proxied = PublicUrl::trusted_proxies(["::1"]).unwrap();
        let p = from_peer(
            Request::post("/voice?x=%27")
                .header(HOST, "hooks.example.com:3000")
                .header("x-forwarded-proto", "https")
                .header("x-forwarded-port", "8443")
                .header("x-forwarded-prefix", "/twilio/"),
            "::1",
        );
        assert_eq!(
            proxied.resolve(&p).unwrap(),
            "https://hooks.example.com:8443/twilio/voice?x=%27"
        );
        // IPv6 host from Forwarded, port kept.
        let p = from_peer(
            Request::post("/v")
                .header(HOST, "internal")
                .header(FORWARDED, "host=\"[2001:db8::1]:8443\";proto=https"),
            "::1",
        );
        assert_eq!(proxied.resolve(&p).unwrap(), "https://[2001:db8::1]:8443/v");
    }

    #[test]
    fn forwarded_is_not_mixed_with_x_forwarded_headers() {
        let proxied = PublicUrl::trusted_proxies(["127.0.0.1"]).unwrap();
        let p = from_peer(
            Request::post("/v")
                .header(HOST, "internal")
                .header(FORWARDED, "proto=https;host=\"hooks.example.com:8443\"")
                .header("x-forwarded-port", "8080")
                .header("x-forwarded-host", "evil.example")
                .header("x-forwarded-proto", "http")
                .header("x-forwarded-prefix", "/p"),
            "127.0.0.1",
        );
        assert_eq!(
            proxied.resolve(&p).unwrap(),
            "https://hooks.example.com:8443/p/v"
        );
    }

    #[test]
    fn malformed_headers_from_a_trusted_proxy_are_refused() {
        let proxied = PublicUrl::trusted_proxies(["127.0.0.1"]).unwrap();
        for (name, value, err) in [
            ("x-forwarded-port", "99999", ProxyHeaderError::Port),
            ("x-forwarded-port", "https", ProxyHeaderError::Port),
            ("x-forwarded-proto", "gopher", ProxyHeaderError::Proto),
            ("x-forwarded-host", "a/b", ProxyHeaderError::Host),
            ("x-forwarded-host", "u:p@h", ProxyHeaderError::Host),
            ("x-forwarded-prefix", "no-slash", ProxyHeaderError::Prefix),
            (
                "forwarded",
                "proto=https;proto=http",
                ProxyHeaderError::Forwarded,
            ),
            ("forwarded", "proto=\"https", ProxyHeaderError::Forwarded),
            ("forwarded", "proto=ftp", ProxyHeaderError::Proto),
        ] {
            let p = from_peer(
                Request::post("/v").header(HOST, "h").header(name, value),
                "127.0.0.1",
            );
            assert_eq!(
                proxied.resolve(&p),
                Err(UrlError::ProxyHeader(err)),
                "{name}: {value}"
            );
        }
    }

    #[test]
    fn the_client_is_the_peer_unless_a_trusted_proxy_names_another() {
        let proxied = PublicUrl::trusted_proxies(["10.0.0.0/8"]).unwrap();
        let client = |peer: &str, headers: &[(&str, &str)]| {
            let mut builder = Request::post("/v").header(HOST, "h");
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            proxied
                .client(&from_peer(builder, peer))
                .map(|ip| ip.to_string())
        };
        let xff = |v| [("x-forwarded-for", v)];
        // From an untrusted peer nothing it says is believed.
        assert_eq!(
            client("192.0.2.7", &xff("198.51.100.1")).as_deref(),
            Some("192.0.2.7")
        );
        // Through a trusted proxy: the nearest untrusted address, never one further left.
        assert_eq!(
            client("10.0.0.1", &xff("198.51.100.1")).as_deref(),
            Some("198.51.100.1")
        );
        assert_eq!(
            client("10.0.0.1", &xff("203.0.113.66, 198.51.100.1, 10.0.0.2")).as_deref(),
            Some("198.51.100.1")
        );
        assert_eq!(client("10.0.0.1", &[]).as_deref(), Some("10.0.0.1"));
        assert_eq!(
            client("10.0.0.1", &xff("unknown")).as_deref(),
            Some("10.0.0.1")
        );
        let forwarded = [
            (
                "forwarded",
                r#"for=203.0.113.66, for="[2001:db8::1]:4711";proto=https"#,
            ),
            ("x-forwarded-for", "198.51.100.1"),
        ];
        assert_eq!(
            client("10.0.0.1", &forwarded).as_deref(),
            Some("2001:db8::1")
        );
        // No peer address: no client.
        assert_eq!(proxied.client(&parts(Request::post("/v"))), None);
        // The default source believes no header.
        let seen = PublicUrl::default();
        let p = from_peer(
            Request::post("/v").header("x-forwarded-for", "198.51.100.1"),
            "10.0.0.1",
        );
        assert_eq!(seen.client(&p), Some("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn custom_source() {
        let custom = PublicUrl::custom(|parts: &Parts| {
            parts
                .headers
                .get("x-tenant")
                .map(|t| format!("https://{}.example/{}", t.to_str().unwrap(), "v"))
        });
        let p = parts(Request::post("/v").header("x-tenant", "acme"));
        assert_eq!(custom.resolve(&p).unwrap(), "https://acme.example/v");
        assert_eq!(
            custom.resolve(&parts(Request::post("/v"))),
            Err(UrlError::CustomRefused)
        );
    }
}
