//! The whole `TwilioWebhookLayer` on requests built from the fuzzer's bytes.
//!
//! An input is eight control bytes and an HTTP/1.1-like text (see [`Input`]), so seeds are
//! readable and written by hand. Two modes:
//!
//! * **Raw**: method, request target, any headers (Host, Content-Type, Content-Length,
//!   possibly lying or repeated, X-Twilio-Signature, X-Twilio-Webhooks-Signature-Settings,
//!   Forwarded, X-Forwarded-*, Upgrade, ...; `X-Fuzz-Signature-Of: <bytes>` becomes a
//!   well-formed X-Twilio-Signature of those bytes) and the body, delivered in several
//!   frames (with trailers, `Pending` and read errors), from a trusted, an untrusted or an
//!   unknown peer, through one of five layer configurations (one with a key resolver). Checks: no panic; the status
//!   is 400, 403 or 413 with the matching `Rejection` in the response's extensions, or 200
//!   only when `signature::verify` accepts the header for the URL and params the layer's
//!   `VerifiedWebhook` names (or verification is switched off), and then the inner service
//!   got the body unchanged; 413 only for a body or `Content-Length` over the limit, and a
//!   body over the limit is always refused as too large once it is read; 400
//!   `BodyReadFailed` only for a body that broke off; no password in the URLs a rejection
//!   logs.
//! * **Signed**: the harness signs the fuzzer's path, query and body (as a form, a GET, a
//!   JSON body with `bodySHA256`, or a WebSocket upgrade) with the Auth Token or a shared key
//!   over the URL it knows the layer will rebuild (as seen, behind the trusted proxy, or a
//!   fixed public URL), possibly as one of its variants (port toggled, trailing slash
//!   dropped, credentials in the URL). The params it signs come from `form_urlencoded`, not
//!   from the crate. Checks: 200; the `VerifiedWebhook` names the signed URL, the algorithm,
//!   the kind of key and the params; the inner service gets the body bytes unchanged.
//!
//! Futures are polled by hand with a no-op waker (the inner service and the body never
//! wait on anything but themselves).
#![no_main]

mod common;

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::pin::{pin, Pin};
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body::{Body, Frame};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use tower::{service_fn, Layer, ServiceExt};
use tower_twilio::auth::Credentials;
use tower_twilio::keys::{AccountLookup, KeyLookupError, SignatureSettings};
use tower_twilio::layer::SkipVerification;
use tower_twilio::public_url::PeerAddr;
use tower_twilio::rejection::RejectionReason;
use tower_twilio::signature::{self, Algorithm};
use tower_twilio::{KeyKind, Keyring, PublicUrl, Rejection, Scheme, TwilioWebhookLayer};
use tower_twilio::{UrlVariants, VerifiedWebhook};

const AUTH_TOKEN: &str = "fuzz_auth_token";
const SHARED_KEY_ID: &str = "fuzz_shared_key";
const SHARED_SECRET: &str = "fuzz_shared_secret";
const USERINFO: &str = "user:p%40ss"; // Credentials::new("user", "p@ss").userinfo()
const FIXED_BASE: &str = "https://hooks.example.com/base";
const LIMIT: usize = 4096;
const HOSTS: [&str; 4] = ["example.com", "example.com:8080", "[::1]:3000", "127.0.0.1"];

/// The layer configurations, built once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Config {
    /// Trusted proxy 127.0.0.1, plain http.
    Proxy,
    /// Trusted proxy 127.0.0.1, https listener, credentials in the URL.
    HttpsCredentials,
    /// A fixed public URL.
    Fixed,
    /// Verification switched off (debug builds; fuzz builds have debug assertions on).
    Skip,
    /// Trusted proxy 127.0.0.1, plain http, keys from a resolver that reads `AccountSid`
    /// (`ACunknown`: unknown account, 403; `ACdown`: lookup failure, 503), answering after
    /// one `Pending`.
    Resolver,
}

/// A future that is pending once, then ready.
struct YieldOnce<T>(Option<T>, bool);

impl<T: Unpin> Future for YieldOnce<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        if !this.1 {
            this.1 = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(this.0.take().expect("polled after completion"))
    }
}

fn keyring() -> Keyring {
    Keyring::new()
        .with_auth_token("primary", AUTH_TOKEN)
        .unwrap()
        .with_shared_key(SHARED_KEY_ID, SHARED_SECRET)
        .unwrap()
}

fn layer(config: Config) -> &'static TwilioWebhookLayer {
    static LAYERS: OnceLock<[TwilioWebhookLayer; 5]> = OnceLock::new();
    let layers = LAYERS.get_or_init(|| {
        let shared_keyring = keyring();
        let proxied = PublicUrl::trusted_proxies(["127.0.0.1"]).unwrap();
        let base = TwilioWebhookLayer::with_keyring(shared_keyring).body_limit(LIMIT);
        let credentials = Credentials::new("user", "p@ss").unwrap();
        assert_eq!(credentials.userinfo(), USERINFO);
        [
            base.clone().public_url(proxied.clone()),
            base.clone()
                .public_url(proxied.scheme(Scheme::Https))
                .credentials_in_url(&credentials),
            base.clone()
                .public_url(PublicUrl::fixed(FIXED_BASE).unwrap())
                .url_variants(UrlVariants::default()),
            base.public_url(PublicUrl::trusted_proxies(["127.0.0.1"]).unwrap())
                .dangerously_skip_verification(SkipVerification::local_development_only())
                .expect("fuzz builds have debug assertions"),
            TwilioWebhookLayer::with_key_resolver(|account: AccountLookup| {
                let answer = match account.account_sid() {
                    Some("ACunknown") => Err(KeyLookupError::UnknownAccount),
                    Some("ACdown") => Err(KeyLookupError::unavailable("the database is down")),
                    _ => Ok(keyring()),
                };
                YieldOnce(Some(answer), false)
            })
            .body_limit(LIMIT)
            .public_url(PublicUrl::trusted_proxies(["127.0.0.1"]).unwrap()),
        ]
    });
    &layers[config as usize]
}

/// `FUZZ_VERBOSE=1` prints each input's outcome (for reading seeds and crashes).
fn verbose() -> bool {
    static VERBOSE: OnceLock<bool> = OnceLock::new();
    *VERBOSE.get_or_init(|| std::env::var_os("FUZZ_VERBOSE").is_some_and(|v| v == "1"))
}

/// What the inner service saw, handed back in the response's extensions.
#[derive(Clone)]
struct Passed {
    marker: VerifiedWebhook,
    body: Bytes,
}

async fn handler(request: Request<Full<Bytes>>) -> Result<Response<String>, Infallible> {
    let (parts, body) = request.into_parts();
    let marker = parts
        .extensions
        .get::<VerifiedWebhook>()
        .cloned()
        .expect("the layer passed a request on without a VerifiedWebhook");
    let body = block_on(collect(body)).expect("Full never fails");
    let mut response = Response::new(String::new());
    response.extensions_mut().insert(Passed { marker, body });
    Ok(response)
}

async fn collect<B: Body<Data = Bytes>>(body: B) -> Result<Bytes, B::Error> {
    let mut body = pin!(body);
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        if let Ok(data) = frame?.into_data() {
            out.extend_from_slice(&data);
        }
    }
    Ok(out.into())
}

/// Polls `future` to completion with a no-op waker; everything here makes progress on
/// every poll, so a bounded number of polls suffices.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..10_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("the layer's future did not complete");
}

/// A request body delivered as scripted.
struct ScriptedBody {
    events: VecDeque<Event>,
}

#[derive(Clone, Debug)]
enum Event {
    Data(Bytes),
    Trailers,
    Pending,
    Error,
}

impl Body for ScriptedBody {
    type Data = Bytes;
    type Error = &'static str;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut().events.pop_front() {
            None => Poll::Ready(None),
            Some(Event::Data(data)) => Poll::Ready(Some(Ok(Frame::data(data)))),
            Some(Event::Trailers) => {
                let mut trailers = HeaderMap::new();
                trailers.insert("x-trailer", HeaderValue::from_static("1"));
                Poll::Ready(Some(Ok(Frame::trailers(trailers))))
            }
            Some(Event::Pending) => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Some(Event::Error) => Poll::Ready(Some(Err("the client went away"))),
        }
    }
}

/// How the body is cut into frames: `cuts` are frame lengths (cycled), with a `Pending`
/// before the frames `pending` flags and trailers or an error at the end.
#[derive(Debug)]
struct Framing {
    cuts: Vec<u16>,
    pending: u8,
    empty_frames: bool,
    end: End,
}

#[derive(Debug, PartialEq, Eq)]
enum End {
    Clean,
    Trailers,
    Error,
    DataAfterTrailers,
}

impl Framing {
    fn body(&self, data: &[u8], allow_error: bool) -> ScriptedBody {
        let data = Bytes::copy_from_slice(data);
        let mut events = VecDeque::new();
        let mut at = 0;
        let mut n = 0usize;
        while at < data.len() {
            let cut = self
                .cuts
                .get(n % self.cuts.len().max(1))
                .copied()
                .unwrap_or(0);
            let len = (usize::from(cut) % 512 + 1).min(data.len() - at);
            if self.pending & (1 << (n % 8)) != 0 {
                events.push_back(Event::Pending);
            }
            if self.empty_frames && n % 2 == 1 {
                events.push_back(Event::Data(Bytes::new()));
            }
            events.push_back(Event::Data(data.slice(at..at + len)));
            at += len;
            n += 1;
            if n > 64 {
                // Few frames: the rest in one.
                events.push_back(Event::Data(data.slice(at..)));
                break;
            }
        }
        match self.end {
            End::Clean => {}
            End::Trailers => events.push_back(Event::Trailers),
            End::Error if allow_error => events.push_back(Event::Error),
            End::Error => {}
            End::DataAfterTrailers => {
                // Trailers, then an empty data frame: still the same body.
                events.push_back(Event::Trailers);
                events.push_back(Event::Data(Bytes::new()));
            }
        }
        ScriptedBody { events }
    }
}

#[derive(Debug, Clone, Copy)]
enum Peer {
    Trusted,
    Untrusted,
    Unknown,
}

impl Peer {
    fn apply(self, request: &mut Request<ScriptedBody>) {
        let ip = match self {
            Peer::Trusted => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Peer::Untrusted => IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7)),
            Peer::Unknown => return,
        };
        request.extensions_mut().insert(PeerAddr(ip));
    }
}

/// One fuzz input: eight control bytes, then an HTTP/1.1-like request text.
///
/// Control bytes (missing ones read as 0):
///
/// | byte | raw mode | signed mode |
/// |---|---|---|
/// | 0 | bit 7 clear; bits 0-1 config (proxy, https + credentials, fixed URL, skip), bit 4 the resolver config instead, bits 2-3 peer (trusted, untrusted, unknown) | bit 7 set; bits 0-1 config (proxy, https + credentials, fixed URL, resolver), bits 2-3 kind (form, GET, JSON, WebSocket) |
/// | 1 | bit 0: replace Content-Length by the true length | bits 0-1 key (token, shared SHA-1, shared SHA-256), bits 2-3 host, bit 4 behind the proxy, bit 5 charset, bit 6 Content-Length |
/// | 2 | | bits 0-2 the variant signed (port, trailing slash, credentials) |
/// | 3, 6, 7 | frame lengths | frame lengths |
/// | 4 | frames preceded by `Pending` | same |
/// | 5 | bits 0-1 end (clean, trailers, error, empty data after trailers), bit 2 empty frames | same (no error) |
///
/// Raw mode text: `METHOD TARGET` line, `Name: value` header lines (any name), an empty
/// line, the body. Signed mode text: the path and query on the first line, the body after.
struct Input<'a> {
    control: [u8; 8],
    text: &'a [u8],
}

impl<'a> Input<'a> {
    fn new(data: &'a [u8]) -> Self {
        let mut control = [0u8; 8];
        let n = data.len().min(8);
        control[..n].copy_from_slice(&data[..n]);
        Self {
            control,
            text: &data[n..],
        }
    }

    fn framing(&self) -> Framing {
        let c = &self.control;
        Framing {
            cuts: vec![u16::from(c[3]), u16::from(c[6]), u16::from(c[7])],
            pending: c[4],
            empty_frames: c[5] & 4 != 0,
            end: match c[5] & 3 {
                0 => End::Clean,
                1 => End::Trailers,
                2 => End::Error,
                _ => End::DataAfterTrailers,
            },
        }
    }
}

/// Splits off the first line (without `\r\n` / `\n`).
fn split_line(text: &[u8]) -> (&[u8], &[u8]) {
    match text.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let line = &text[..nl];
            (line.strip_suffix(b"\r").unwrap_or(line), &text[nl + 1..])
        }
        None => (text, &[]),
    }
}

struct Raw {
    config: Config,
    peer: Peer,
    method: Method,
    target: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    truthful_length: bool,
    body: Vec<u8>,
    framing: Framing,
}

impl Raw {
    fn parse(input: &Input<'_>) -> Self {
        let c = input.control;
        let (request_line, mut rest) = split_line(input.text);
        let mut words = request_line.splitn(2, |&b| b == b' ');
        let method = words.next().unwrap_or_default();
        let method = match method {
            b"" => Method::POST,
            m => Method::from_bytes(m).unwrap_or(Method::PATCH),
        };
        let target = words.next().unwrap_or_default();
        let target = Uri::try_from(target).unwrap_or_else(|_| Uri::from_static("/hook"));
        let mut headers = Vec::new();
        loop {
            let (line, after) = split_line(rest);
            rest = after;
            if line.is_empty() {
                break;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let value = line[colon + 1..].trim_ascii();
            let name = &line[..colon];
            if name.eq_ignore_ascii_case(b"x-fuzz-signature-of") {
                // A well-formed signature header (of the wrong MAC): reaches the body.
                let mut mac = value.to_vec();
                mac.resize(if mac.len() <= 20 { 20 } else { 32 }, 0);
                let encoded = base64::engine::general_purpose::STANDARD.encode(mac);
                headers.push((
                    HeaderName::from_static("x-twilio-signature"),
                    HeaderValue::from_str(&encoded).expect("base64 is a valid header value"),
                ));
                continue;
            }
            if let (Ok(name), Ok(value)) =
                (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
            {
                headers.push((name, value));
            }
        }
        Self {
            config: if c[0] & 16 != 0 {
                Config::Resolver
            } else {
                [
                    Config::Proxy,
                    Config::HttpsCredentials,
                    Config::Fixed,
                    Config::Skip,
                ][usize::from(c[0] & 3)]
            },
            peer: [Peer::Trusted, Peer::Untrusted, Peer::Unknown, Peer::Unknown]
                [usize::from(c[0] >> 2 & 3)],
            method,
            target,
            headers,
            truthful_length: c[1] & 1 != 0,
            body: rest.to_vec(),
            framing: input.framing(),
        }
    }
}

fn raw(input: Raw) {
    // What the layer signs besides the URL: the decoded form body of a form POST; nothing for
    // GET and HEAD (their params come from the query, already in the URL) or other bodies.
    let bodyless = input.method == Method::GET || input.method == Method::HEAD;
    let mut request = Request::builder()
        .method(input.method.clone())
        .uri(input.target.clone())
        .body(input.framing.body(&input.body, true))
        .expect("a valid method and URI");
    let headers = request.headers_mut();
    for (name, value) in input.headers.iter().take(32) {
        headers.append(name, value.clone());
    }
    if input.truthful_length {
        headers.insert(http::header::CONTENT_LENGTH, input.body.len().into());
    }
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let signature_header = headers
        .get("x-twilio-signature")
        .map(|v| v.as_bytes().to_vec());
    let settings_header = headers
        .get("x-twilio-webhooks-signature-settings")
        .map(|v| v.as_bytes().to_vec());
    input.peer.apply(&mut request);
    let had_error = input.framing.end == End::Error;

    let service = layer(input.config).layer(service_fn(handler));
    let response = block_on(service.oneshot(request)).expect("infallible");
    let status = response.status();
    if verbose() {
        eprintln!(
            "raw {:?} {:?}: {status} {:?}",
            input.config,
            input.peer,
            response
                .extensions()
                .get::<Rejection>()
                .map(Rejection::reason)
        );
    }

    if let Some(passed) = response.extensions().get::<Passed>() {
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            passed.body, input.body,
            "the inner service got other body bytes"
        );
        let marker = &passed.marker;
        if input.config == Config::Skip {
            assert_eq!(marker.key_kind(), KeyKind::VerificationSkipped);
            return;
        }
        // Only a request signed for exactly what the marker says gets through.
        let header = String::from_utf8(signature_header.expect("a signature was verified"))
            .expect("base64 is ASCII");
        let settings = settings_header.map(|v| String::from_utf8(v).expect("verified: UTF-8"));
        let shared = settings
            .as_deref()
            .map(SignatureSettings::parse)
            .is_some_and(|parsed| parsed.expect("verified: well-formed").is_some());
        let (secret, kind) = if shared {
            (SHARED_SECRET, KeyKind::SharedKey)
        } else {
            (AUTH_TOKEN, KeyKind::AuthToken)
        };
        assert_eq!(marker.key_kind(), kind);
        let signed_params: Vec<(&str, &str)> = if bodyless {
            Vec::new()
        } else {
            marker.params().iter().collect()
        };
        assert!(
            signature::verify(
                secret,
                marker.url(),
                signed_params,
                marker.algorithm(),
                &header
            ),
            "200 for a request whose signature does not verify: {:?}",
            marker.url()
        );
        return;
    }

    let rejection = response
        .extensions()
        .get::<Rejection>()
        .expect("a refusal carries its Rejection");
    assert_eq!(rejection.status(), status);
    assert!(
        matches!(status.as_u16(), 400 | 403 | 405 | 413)
            || (status == StatusCode::SERVICE_UNAVAILABLE && input.config == Config::Resolver),
        "unexpected status {status} for {rejection:?}"
    );
    let over_limit = declared.is_some_and(|n| n > LIMIT as u64) || input.body.len() > LIMIT;
    match rejection.reason() {
        RejectionReason::BodyTooLarge { limit } => {
            assert_eq!(limit, LIMIT);
            assert!(over_limit, "413 for a body within the limit");
        }
        RejectionReason::BodyReadFailed => assert!(had_error, "400 for a body that was whole"),
        RejectionReason::MethodNotAllowed => assert!(
            input.method != Method::GET && input.method != Method::POST,
            "405 for {}",
            input.method
        ),
        RejectionReason::UnsignedBody => {
            assert!(bodyless, "UnsignedBody for a {}", input.method);
            assert!(!input.body.is_empty(), "UnsignedBody without a body");
        }
        RejectionReason::EmptyForm => assert_eq!(input.method, Method::POST),
        RejectionReason::KeyLookupFailed | RejectionReason::UnknownAccount => assert_eq!(
            input.config,
            Config::Resolver,
            "no key resolver is configured: {rejection:?}"
        ),
        _ => {}
    }
    // A body over the limit is refused as such, unless refused before it is read.
    if input.body.len() > LIMIT
        && !matches!(
            rejection.reason(),
            RejectionReason::MissingSignature
                | RejectionReason::MalformedSignature(_)
                | RejectionReason::MethodNotAllowed
                | RejectionReason::RepeatedHeader(_)
        )
    {
        assert!(matches!(
            rejection.reason(),
            RejectionReason::BodyTooLarge { .. }
        ));
    }
    for url in rejection.urls_tried() {
        if let Some(info) = common::userinfo(url) {
            assert!(
                info.password.is_none_or(|p| p.is_empty() || p == "***"),
                "a rejection logs a password: {url:?}"
            );
        }
    }
    let _ = format!("{rejection:?} {rejection}");
}

struct Signed {
    config: SignedConfig,
    kind: Kind,
    key: KeyChoice,
    host: usize,
    behind_proxy: bool,
    /// Sign a variant: bit 0 port toggled, bit 1 trailing slash dropped, bit 2 credentials.
    variant: u8,
    path: Vec<u8>,
    query: Option<Vec<u8>>,
    charset: bool,
    content_length: bool,
    body: Vec<u8>,
    framing: Framing,
}

impl Signed {
    fn parse(input: &Input<'_>) -> Self {
        let c = input.control;
        let (line, body) = split_line(input.text);
        let (path, query) = match line.iter().position(|&b| b == b'?') {
            Some(q) => (&line[..q], Some(line[q + 1..].to_vec())),
            None => (line, None),
        };
        Self {
            config: [
                SignedConfig::Proxy,
                SignedConfig::HttpsCredentials,
                SignedConfig::Fixed,
                SignedConfig::Resolver,
            ][usize::from(c[0] & 3)],
            kind: [Kind::Form, Kind::Get, Kind::Json, Kind::WebSocket][usize::from(c[0] >> 2 & 3)],
            key: [
                KeyChoice::AuthToken,
                KeyChoice::SharedSha1,
                KeyChoice::SharedSha256,
                KeyChoice::AuthToken,
            ][usize::from(c[1] & 3)],
            host: usize::from(c[1] >> 2 & 3),
            behind_proxy: c[1] & 16 != 0,
            charset: c[1] & 32 != 0,
            content_length: c[1] & 64 != 0,
            variant: c[2] & 7,
            path: path.strip_prefix(b"/").unwrap_or(path).to_vec(),
            query,
            body: body.to_vec(),
            framing: input.framing(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignedConfig {
    Proxy,
    HttpsCredentials,
    Fixed,
    Resolver,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Form,
    Get,
    Json,
    WebSocket,
}

#[derive(Debug, Clone, Copy)]
enum KeyChoice {
    AuthToken,
    SharedSha1,
    SharedSha256,
}

/// `bytes` with everything but unreserved, sub-delims, `:@/%` (and `?` in a query)
/// percent-encoded.
fn sanitize(bytes: &[u8], query: bool) -> String {
    let mut out = String::new();
    for &b in bytes {
        let keep = b.is_ascii_alphanumeric()
            || b"-._~!$&'()*+,;=:@/%".contains(&b)
            || (query && b == b'?');
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn signed(input: Signed) {
    // Twilio's GETs (and WebSocket handshakes) have no body: the layer refuses one.
    let body = match input.kind {
        Kind::Get | Kind::WebSocket => &[][..],
        Kind::Form | Kind::Json => &input.body[..input.body.len().min(LIMIT)],
    };
    let mut target = format!("/{}", sanitize(&input.path, false));
    if let Some(query) = &input.query {
        target.push('?');
        // A fuzzed `bodySHA256` would make JSON bodies fail their hash check.
        target.push_str(&sanitize(query, true).replace("bodySHA256", "bodysha256"));
    }
    if input.kind == Kind::Json {
        let hash = signature::body_sha256(body);
        target.push(if input.query.is_some() { '&' } else { '?' });
        target.push_str(&format!("bodySHA256={hash}"));
    }
    let uri = match Uri::try_from(target.as_str()) {
        Ok(uri) if uri.authority().is_none() && uri.scheme().is_none() => uri,
        _ => Uri::from_static("/hook"),
    };
    let path_and_query = uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    let seen_host = HOSTS[input.host % HOSTS.len()];

    let websocket = input.kind == Kind::WebSocket;
    let config = match input.config {
        SignedConfig::Proxy => Config::Proxy,
        SignedConfig::HttpsCredentials => Config::HttpsCredentials,
        SignedConfig::Fixed => Config::Fixed,
        SignedConfig::Resolver => Config::Resolver,
    };
    let behind_proxy = input.behind_proxy && config != Config::Fixed;
    // The URL the layer rebuilds, in pieces.
    let (secure, host, prefix) = match config {
        Config::Fixed => (true, "hooks.example.com", "/base"),
        _ if behind_proxy => (true, seen_host, "/p"),
        Config::HttpsCredentials => (true, seen_host, ""),
        _ => (false, seen_host, ""),
    };
    let scheme = match (secure, websocket) {
        (false, false) => "http",
        (true, false) => "https",
        (false, true) => "ws",
        (true, true) => "wss",
    };
    let default_port = if secure { "443" } else { "80" };
    let (bare_host, port) = match host.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (host, None),
    };
    // The variant the harness signs.
    let (path, query) = match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query.as_str(), None),
    };
    let mut signed_url = format!("{scheme}://");
    if input.variant & 4 != 0 && config == Config::HttpsCredentials {
        signed_url.push_str(USERINFO);
        signed_url.push('@');
    }
    signed_url.push_str(bare_host);
    let port = if input.variant & 1 != 0 {
        match port {
            Some(_) => None,
            None => Some(default_port),
        }
    } else {
        port
    };
    if let Some(port) = port {
        signed_url.push(':');
        signed_url.push_str(port);
    }
    let full_path = format!("{prefix}{path}");
    let full_path = if input.variant & 2 != 0 && full_path.len() > 1 && full_path.ends_with('/') {
        &full_path[..full_path.len() - 1]
    } else {
        &full_path[..]
    };
    signed_url.push_str(full_path);
    if let Some(query) = query {
        signed_url.push('?');
        signed_url.push_str(query);
    }

    let reference: Vec<(String, String)> = match input.kind {
        Kind::Form => form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
        _ => Vec::new(),
    };
    let pairs = reference.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let (secret, algorithm, settings) = match input.key {
        KeyChoice::AuthToken => (AUTH_TOKEN, Algorithm::HmacSha1, None),
        KeyChoice::SharedSha1 => (
            SHARED_SECRET,
            Algorithm::HmacSha1,
            Some(format!("key={SHARED_KEY_ID}")),
        ),
        KeyChoice::SharedSha256 => (
            SHARED_SECRET,
            Algorithm::HmacSha256,
            Some(format!("key={SHARED_KEY_ID},algorithm=HMAC_SHA256")),
        ),
    };
    let header = signature::sign(secret, &signed_url, pairs, algorithm);

    let method = match input.kind {
        Kind::Form | Kind::Json => Method::POST,
        Kind::Get | Kind::WebSocket => Method::GET,
    };
    let mut builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(
            "host",
            if behind_proxy {
                "internal:3000"
            } else {
                seen_host
            },
        )
        .header("x-twilio-signature", header.as_str());
    match input.kind {
        Kind::Form if input.charset => {
            builder = builder.header(
                "content-type",
                "Application/X-WWW-Form-URLEncoded; charset=utf-8",
            )
        }
        Kind::Form => builder = builder.header("content-type", "application/x-www-form-urlencoded"),
        Kind::Json => builder = builder.header("content-type", "application/json"),
        Kind::WebSocket => {
            builder = builder
                .header("upgrade", "websocket")
                .header("connection", "upgrade")
        }
        Kind::Get => {}
    }
    if let Some(settings) = &settings {
        builder = builder.header("x-twilio-webhooks-signature-settings", settings.as_str());
    }
    if input.content_length {
        builder = builder.header("content-length", body.len());
    }
    if behind_proxy {
        builder = builder
            .header("x-forwarded-proto", "http, https")
            .header("x-forwarded-host", format!("evil.example, {host}"))
            .header("x-forwarded-prefix", "/p/");
    }
    let mut request = builder
        .body(input.framing.body(body, false))
        .expect("a valid request");
    Peer::Trusted.apply(&mut request);

    // The resolver config looks the account up first (from the form, or the query of a GET).
    let account_sid = match input.kind {
        Kind::Form => reference
            .iter()
            .find(|(k, _)| k == "AccountSid")
            .map(|(_, v)| v.clone()),
        Kind::Get | Kind::WebSocket => form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .find(|(k, _)| k == "AccountSid")
            .map(|(_, v)| v.into_owned()),
        Kind::Json => None,
    };
    let refused_account = match account_sid.as_deref() {
        _ if config != Config::Resolver => None,
        Some("ACunknown") => Some(StatusCode::FORBIDDEN),
        Some("ACdown") => Some(StatusCode::SERVICE_UNAVAILABLE),
        _ => None,
    };

    let service = layer(config).layer(service_fn(handler));
    let response = block_on(service.oneshot(request)).expect("infallible");
    // A form with nothing in it signs what a GET signs: refused, whoever signed it.
    if input.kind == Kind::Form && reference.iter().all(|(k, v)| k.is_empty() && v.is_empty()) {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let rejection = response.extensions().get::<Rejection>().expect("a rejection");
        assert_eq!(rejection.reason(), RejectionReason::EmptyForm);
        return;
    }
    if let Some(status) = refused_account {
        assert_eq!(response.status(), status);
        return;
    }
    let passed = response.extensions().get::<Passed>().unwrap_or_else(|| {
        panic!(
            "a correctly signed request was refused: {:?}\nsigned URL {signed_url:?}",
            response.extensions().get::<Rejection>()
        )
    });
    if verbose() {
        eprintln!("signed {config:?} {:?}: 200 {signed_url}", input.kind);
    }
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(passed.body, body, "the inner service got other body bytes");
    let marker = &passed.marker;
    assert_eq!(marker.url(), signed_url);
    assert_eq!(marker.algorithm(), algorithm);
    let expected_kind = if settings.is_some() {
        KeyKind::SharedKey
    } else {
        KeyKind::AuthToken
    };
    assert_eq!(marker.key_kind(), expected_kind);
    let params: Vec<(&str, &str)> = marker.params().iter().collect();
    // A GET's params are its query's (handed to handlers, not signed: the query is in the
    // URL).
    let query_params: Vec<(String, String)> =
        form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let expected: Vec<(&str, &str)> = match input.kind {
        Kind::Form => &reference,
        Kind::Get | Kind::WebSocket => &query_params,
        Kind::Json => &reference, // empty
    }
    .iter()
    .map(|(k, v)| (k.as_str(), v.as_str()))
    .collect();
    assert_eq!(
        params, expected,
        "the marker's params differ from the signed ones"
    );
}

fuzz_target!(|data: &[u8]| {
    let input = Input::new(data);
    if input.control[0] & 0x80 == 0 {
        raw(Raw::parse(&input));
    } else {
        signed(Signed::parse(&input));
    }
});
