//! A complete TwiML server behind the Twilio signature layer.
//!
//! ```text
//! cargo run --example twiml_server
//! ```
//!
//! With no `TWILIO_AUTH_TOKEN` it runs in demo mode: it makes up a token and prints `curl`
//! commands, one signed (accepted) and one forged (refused). Configuration, all optional:
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `TWILIO_AUTH_TOKEN` | demo token | the primary Auth Token |
//! | `TWILIO_SECONDARY_AUTH_TOKEN` | none | a second Auth Token, during rotation |
//! | `TWILIO_WEBHOOK_SHARED_KEYS` | none | shared keys, `id=secret,id=secret` |
//! | `BIND_ADDR` | `127.0.0.1:3000` | where to listen (port 0: any free port, named in the log) |
//! | `PUBLIC_URL` | none | the base URL Twilio calls, e.g. `https://hooks.example.com/twilio` |
//! | `TRUSTED_PROXIES` | none | IPs/CIDRs whose `Forwarded`/`X-Forwarded-*` headers are believed |
//! | `WEBHOOK_BASIC_AUTH` | none | `user:password` required with HTTP Basic or Digest |
//! | `WEBHOOK_AUTH_SCHEME` | `basic_and_digest` | with `WEBHOOK_BASIC_AUTH`: `basic_and_digest`, `digest`, `digest_sha256` (no MD5, no Basic) or `basic` |
//! | `TLS_CERT`, `TLS_KEY` | none | PEM files: serve HTTPS (rustls) |
//! | `REQUEST_TIMEOUT_SECS` | `10` | seconds a client has to send a request's head, and then to get its answer (408 past it); a connection silent for twice as long is closed |
//! | `REPLAY_GUARD` | `on` | `off`: no deduplication of webhooks |
//! | `REDIS_URL` | none | deduplicate through Redis (shared by several instances; cargo feature `redis`) instead of memory |
//! | `REPLAY_TTL_SECS` | `86400` | how long a handled webhook is remembered |
//! | `REPLAY_STORE_FAILURE` | `open` | when the store fails: `open` (handle without deduplication) or `closed` (503) |
//! | `REPLAY_STORE_TIMEOUT_MS` | `50` | how long a store operation may take before it counts as a failure |
//! | `LOG_FORMAT` | `text` | `text` (coloured on a terminal only) or `json` |
//! | `FAILED_VERIFICATION_LIMIT` | none | `count/period` (e.g. `20/60s`): a client failing verification more often gets 429 |
//! | `METRICS_BIND_ADDR` | none | serve Prometheus metrics at `GET /metrics` on this separate address (cargo feature `metrics`) |
//! | `RUST_LOG` | `info` | log filter |
//!
//! Routes, all behind the layer except `/healthz`: `GET|POST /voice` (TwiML `<Say>`),
//! `POST /sms` (TwiML `<Message>` echoing the text), `POST /status` (204), `POST /events`
//! (JSON, 204), `GET /media` (Media Streams WebSocket), `GET /healthz`. The replay guard
//! answers duplicates on all but `/media` (whose handshakes may repeat) and `/healthz`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, OriginalUri};
use axum::http::header::CONTENT_TYPE;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{BoxError, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Semaphore};
use tokio_io_timeout::TimeoutStream;
use tokio_rustls::{rustls, TlsAcceptor};
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower::ServiceBuilder;
use tower_http::normalize_path::NormalizePathLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;
use tower_twilio::auth::{AuthScheme, Credentials, HttpAuthLayer};
use tower_twilio::extract::TwilioParams;
use tower_twilio::layer::FailureLimit;
use tower_twilio::public_url::TrustedProxies;
use tower_twilio::replay::{OnStoreFailure, ReplayGuardLayer};
use tower_twilio::signature::{sign, Algorithm};
use tower_twilio::{Keyring, PublicUrl, TwilioWebhookLayer, VerifiedWebhook};
use tracing_subscriber::EnvFilter;

/// Everything read from the environment, checked before anything starts.
struct Settings {
    keyring: Keyring,
    /// Set in demo mode only: a token this process made up, safe to print.
    demo_token: Option<String>,
    bind: SocketAddr,
    public_url: PublicUrl,
    public_base: Option<String>,
    basic_auth: Option<Credentials>,
    auth_scheme: AuthScheme,
    tls: Option<(PathBuf, PathBuf)>,
    request_timeout: Duration,
    replay: Option<Replay>,
    failure_limit: Option<FailureLimit>,
    metrics_bind: Option<SocketAddr>,
}

/// The replay guard's settings; `None` in `Settings` when `REPLAY_GUARD=off`.
struct Replay {
    redis_url: Option<String>,
    ttl: Duration,
    on_store_failure: OnStoreFailure,
    store_timeout: Duration,
}

impl Replay {
    fn from_env() -> Result<Option<Self>, String> {
        match var("REPLAY_GUARD")?.as_deref() {
            None | Some("on") => {}
            Some("off") => return Ok(None),
            Some(_) => return Err("REPLAY_GUARD must be on or off".into()),
        }
        let ttl = match var("REPLAY_TTL_SECS")? {
            None => tower_twilio::replay::DEFAULT_TTL,
            Some(secs) => match secs.parse::<u64>() {
                Ok(secs) if secs > 0 => Duration::from_secs(secs),
                _ => return Err("REPLAY_TTL_SECS must be a whole number of seconds above 0".into()),
            },
        };
        let on_store_failure = match var("REPLAY_STORE_FAILURE")?.as_deref() {
            None | Some("open") => OnStoreFailure::Open,
            Some("closed") => OnStoreFailure::Closed,
            Some(_) => return Err("REPLAY_STORE_FAILURE must be open or closed".into()),
        };
        let store_timeout =
            match var("REPLAY_STORE_TIMEOUT_MS")? {
                None => tower_twilio::replay::DEFAULT_STORE_TIMEOUT,
                Some(ms) => match ms.parse::<u64>() {
                    Ok(ms) if ms > 0 => Duration::from_millis(ms),
                    _ => return Err(
                        "REPLAY_STORE_TIMEOUT_MS must be a whole number of milliseconds above 0"
                            .into(),
                    ),
                },
            };
        Ok(Some(Self {
            redis_url: var("REDIS_URL")?,
            ttl,
            on_store_failure,
            store_timeout,
        }))
    }

    /// The guard over Redis or memory. A malformed `REDIS_URL` stops start-up; an
    /// unreachable Redis is only a warning, since it may come up later.
    async fn layer(&self) -> Result<ReplayGuardLayer, String> {
        let guard = match &self.redis_url {
            None => ReplayGuardLayer::in_memory(),
            Some(url) => redis_guard(url).await?,
        };
        Ok(guard
            .ttl(self.ttl)
            .on_store_failure(self.on_store_failure)
            .store_timeout(self.store_timeout))
    }
}

#[cfg(feature = "redis")]
async fn redis_guard(url: &str) -> Result<ReplayGuardLayer, String> {
    let store =
        tower_twilio::replay::RedisStore::open(url).map_err(|err| format!("REDIS_URL: {err}"))?;
    let reachable = async {
        let client = redis::Client::open(url).ok()?;
        let mut connection = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("PING")
            .query_async::<String>(&mut connection)
            .await
            .ok()
    };
    if tokio::time::timeout(Duration::from_secs(2), reachable)
        .await
        .ok()
        .flatten()
        .is_none()
    {
        tracing::warn!("Redis at REDIS_URL does not answer: the replay guard fails as REPLAY_STORE_FAILURE says until it does");
    }
    Ok(ReplayGuardLayer::new(store))
}

#[cfg(not(feature = "redis"))]
async fn redis_guard(_url: &str) -> Result<ReplayGuardLayer, String> {
    Err(
        "REDIS_URL needs the redis feature: cargo run --features redis --example twiml_server"
            .into(),
    )
}

/// A variable that is set must be non-empty.
fn var(name: &str) -> Result<Option<String>, String> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Err(format!("{name} is set but empty")),
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(format!("{name} is not valid UTF-8")),
    }
}

impl Settings {
    fn from_env() -> Result<Self, String> {
        let key_vars = [
            "TWILIO_AUTH_TOKEN",
            "TWILIO_SECONDARY_AUTH_TOKEN",
            "TWILIO_WEBHOOK_SHARED_KEYS",
        ];
        let any_key_var = key_vars.iter().any(|name| std::env::var_os(name).is_some());
        let (keyring, demo_token) = if any_key_var {
            (Keyring::from_env().map_err(|err| err.to_string())?, None)
        } else {
            let token = demo_token();
            (
                Keyring::auth_token(&token).map_err(|err| err.to_string())?,
                Some(token),
            )
        };
        let bind = var("BIND_ADDR")?
            .unwrap_or_else(|| "127.0.0.1:3000".to_owned())
            .parse()
            .map_err(|err| format!("BIND_ADDR is not an address like 127.0.0.1:3000: {err}"))?;
        let public_base = var("PUBLIC_URL")?;
        let public_url = match (&public_base, var("TRUSTED_PROXIES")?) {
            (Some(_), Some(_)) => return Err("set PUBLIC_URL or TRUSTED_PROXIES, not both".into()),
            (Some(url), None) => {
                PublicUrl::fixed(url).map_err(|err| format!("PUBLIC_URL: {err}"))?
            }
            (None, Some(list)) => PublicUrl::behind(
                TrustedProxies::parse_list(&list)
                    .map_err(|err| format!("TRUSTED_PROXIES: {err}"))?,
            ),
            (None, None) => PublicUrl::as_seen(),
        };
        let basic_auth = var("WEBHOOK_BASIC_AUTH")?
            .map(|value| Credentials::parse(&value))
            .transpose()
            .map_err(|err| format!("WEBHOOK_BASIC_AUTH (user:password): {err}"))?;
        let auth_scheme =
            match var("WEBHOOK_AUTH_SCHEME")?.as_deref() {
                None | Some("basic_and_digest") => AuthScheme::BasicAndDigest,
                Some("digest") => AuthScheme::Digest,
                Some("digest_sha256") => AuthScheme::DigestSha256,
                Some("basic") => AuthScheme::Basic,
                Some(_) => return Err(
                    "WEBHOOK_AUTH_SCHEME must be basic_and_digest, digest, digest_sha256 or basic"
                        .into(),
                ),
            };
        let tls = match (var("TLS_CERT")?, var("TLS_KEY")?) {
            (Some(cert), Some(key)) => Some((cert.into(), key.into())),
            (None, None) => None,
            _ => return Err("TLS_CERT and TLS_KEY must be set together".into()),
        };
        let request_timeout = match var("REQUEST_TIMEOUT_SECS")? {
            None => Duration::from_secs(10),
            Some(secs) => match secs.parse::<u64>() {
                Ok(secs) if secs > 0 => Duration::from_secs(secs),
                _ => {
                    return Err(
                        "REQUEST_TIMEOUT_SECS must be a whole number of seconds above 0".into(),
                    )
                }
            },
        };
        Ok(Self {
            keyring,
            demo_token,
            bind,
            public_url,
            public_base,
            basic_auth,
            auth_scheme,
            tls,
            request_timeout,
            replay: Replay::from_env()?,
            failure_limit: var("FAILED_VERIFICATION_LIMIT")?
                .map(|limit| limit.parse::<FailureLimit>())
                .transpose()
                .map_err(|err| format!("FAILED_VERIFICATION_LIMIT: {err}"))?,
            metrics_bind: var("METRICS_BIND_ADDR")?
                .map(|addr| addr.parse())
                .transpose()
                .map_err(|err| {
                    format!("METRICS_BIND_ADDR is not an address like 127.0.0.1:9464: {err}")
                })?,
        })
    }

    /// The URL Twilio would call for `path`.
    fn public_url_for(&self, path: &str) -> String {
        match &self.public_base {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => {
                let scheme = if self.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{}{path}", self.bind)
            }
        }
    }
}

/// 32 random hex digits, like a real Auth Token.
fn demo_token() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random number generator");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// TwiML is XML; text from the caller must never become markup.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn twiml(body: &str) -> Response {
    let xml = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response>{body}</Response>\n");
    ([(CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
}

async fn voice(webhook: VerifiedWebhook) -> Response {
    tracing::info!(key = %webhook.key_id(), call = webhook.params().get("CallSid"), "voice webhook");
    twiml("<Say>Hello from tower-twilio. This request was verified.</Say>")
}

async fn sms(params: TwilioParams) -> Response {
    tracing::info!(message_sid = params.message_sid(), "sms webhook");
    let text = params.body().unwrap_or("");
    twiml(&format!(
        "<Message>You said: {}</Message>",
        xml_escape(text)
    ))
}

async fn status(params: TwilioParams) -> StatusCode {
    let status = params.call_status().or(params.message_status());
    tracing::info!(status, "status callback");
    StatusCode::NO_CONTENT
}

async fn events(webhook: VerifiedWebhook, body: String) -> StatusCode {
    let kind = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|json| json.get("type").and_then(|t| t.as_str()).map(str::to_owned));
    tracing::info!(key = %webhook.key_id(), kind, "event webhook");
    StatusCode::NO_CONTENT
}

async fn media(upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(media_stream)
}

/// Media Streams: logs the `start` event, and answers nothing.
async fn media_stream(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&text) else {
            continue;
        };
        if event["event"] == "start" {
            tracing::info!(
                stream = event["start"]["streamSid"]
                    .as_str()
                    .or(event["streamSid"].as_str()),
                call = event["start"]["callSid"].as_str(),
                "media stream started"
            );
        }
    }
}

fn app(settings: &Settings, replay: Option<ReplayGuardLayer>) -> Router {
    let mut signature = TwilioWebhookLayer::with_keyring(settings.keyring.clone())
        .public_url(settings.public_url.clone())
        // Twilio's parameter names only, each once: a captured request cannot be re-cut.
        .strict_params()
        .scheme(if settings.tls.is_some() {
            tower_twilio::Scheme::Https
        } else {
            tower_twilio::Scheme::Http
        });
    if let Some(credentials) = &settings.basic_auth {
        // Twilio signs the URL with the credentials in it.
        signature = signature.credentials_in_url(credentials);
    }
    if let Some(limit) = settings.failure_limit {
        signature = signature.failed_verification_limit(limit);
    }
    let guarded = Router::new()
        .route("/voice", get(voice).post(voice))
        .route("/sms", post(sms))
        .route("/status", post(status))
        .route("/events", post(events));
    let guarded = match replay {
        // Inside the signature check: only verified webhooks are remembered.
        Some(replay) => guarded.route_layer(replay),
        None => guarded,
    };
    let protected = guarded.route("/media", get(media)).route_layer(signature);
    let protected = match &settings.basic_auth {
        // Outside the signature check: Twilio's first, credential-less try gets the 401.
        Some(credentials) => protected.route_layer(HttpAuthLayer::new(
            credentials.clone(),
            settings.auth_scheme,
        )),
        None => protected,
    };
    protected.route("/healthz", get(|| async { "ok\n" }))
}

/// Prometheus metrics on their own listener: not on the public one, since they are not for
/// Twilio or the internet.
#[cfg(feature = "metrics")]
async fn serve_metrics(addr: SocketAddr) -> Result<(), String> {
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|err| format!("METRICS_BIND_ADDR: cannot install the recorder: {err}"))?;
    tower_twilio::describe_metrics();
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|err| format!("cannot listen on METRICS_BIND_ADDR {addr}: {err}"))?;
    let local = listener.local_addr().map_err(|err| err.to_string())?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            upkeep.run_upkeep();
        }
    });
    let metrics = Router::new().route(
        "/metrics",
        get(move || {
            let handle = handle.clone();
            async move {
                (
                    [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
                    handle.render(),
                )
            }
        }),
    );
    tracing::info!("metrics on http://{local}/metrics");
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, metrics).await {
            tracing::error!(%err, "the metrics listener stopped");
        }
    });
    Ok(())
}

#[cfg(not(feature = "metrics"))]
async fn serve_metrics(_addr: SocketAddr) -> Result<(), String> {
    Err("METRICS_BIND_ADDR needs the metrics feature: cargo run --features metrics --example twiml_server".into())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}

fn tls_config(cert: &PathBuf, key: &PathBuf) -> Result<rustls::ServerConfig, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| {
            format!(
                "TLS_CERT: cannot read certificates from {}: {err}",
                cert.display()
            )
        })?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|err| {
        format!(
            "TLS_KEY: cannot read a private key from {}: {err}",
            key.display()
        )
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|err| err.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| format!("TLS_CERT/TLS_KEY: {err}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// Open connections at most: the accept loop waits for one to close. Kept under the usual
/// soft limit of 1024 open files, so that accepting never fails for want of descriptors.
const MAX_CONNECTIONS: usize = 1000;

/// Requests in flight at most (HTTP/2 carries many on one connection); more get 503 at once.
/// It also bounds the bodies buffered at once, each up to the layer's 256 KiB.
const MAX_REQUESTS_IN_FLIGHT: usize = 512;

/// A listener whose queue holds a burst of connections: with std's 128 the kernel drops the
/// rest, and their clients try again only a second later.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Time limits, the in-flight limit and the 503 it answers, around the whole app.
fn with_limits(app: Router, timeout: Duration) -> Router {
    app.layer(
        ServiceBuilder::new()
            // A line per request and response, at `debug` (`RUST_LOG=tower_http=debug`).
            .layer(TraceLayer::new_for_http())
            // Axum needs every error turned into a response.
            .layer(HandleErrorLayer::new(|_: BoxError| async {
                StatusCode::SERVICE_UNAVAILABLE
            }))
            // Over the limit, answer at once rather than queue behind slow clients.
            .layer(LoadShedLayer::new())
            .layer(GlobalConcurrencyLimitLayer::new(MAX_REQUESTS_IN_FLIGHT))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                timeout,
            ))
            // Also a body read once the answer has left (a spawned task), which the above misses.
            .layer(RequestBodyTimeoutLayer::new(timeout)),
    )
}

/// HTTP and HTTPS alike: one accept loop with a cap on open connections, the peer address
/// for trusted-proxy checks, time limits on every stage, and graceful shutdown.
async fn serve(listener: TcpListener, app: Router, tls: Option<TlsAcceptor>, timeout: Duration) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // The whole head within the time limit, or the connection is closed (slowloris).
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout);
    let builder = Arc::new(builder);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop, stopped) = watch::channel(());
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    // Out of file descriptors, say: wait for some to close rather than spin.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // hyper-util's auto builder starts the header-read timer only once it knows the
        // protocol (hyperium/hyper#3756), and HTTP/2 has no idle timeout: a connection silent
        // this long is closed. Longer than the time limit, so a client awaiting its 408 gets it.
        let mut io = TimeoutStream::new(tcp);
        io.set_read_timeout(Some(2 * timeout));
        io.set_write_timeout(Some(2 * timeout));
        let io = Box::pin(io);
        let (builder, app, tls) = (Arc::clone(&builder), app.clone(), tls.clone());
        let stopped = stopped.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_connection(&builder, io, app, peer, stopped).await,
                Some(acceptor) => {
                    if let Ok(Ok(io)) = tokio::time::timeout(timeout, acceptor.accept(io)).await {
                        serve_connection(&builder, io, app, peer, stopped).await;
                    }
                }
            }
            drop(slot);
        });
    }
    drop(stopped);
    let _ = stop.send(());
    // Every connection task holds a receiver: this waits for them all to finish.
    stop.closed().await;
}

/// Serves one connection, WebSocket upgrades included, until it ends or the server stops.
async fn serve_connection<I>(
    builder: &auto::Builder<TokioExecutor>,
    io: I,
    app: Router,
    peer: SocketAddr,
    mut stopped: watch::Receiver<()>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = ServiceBuilder::new()
        .map_request(move |mut request: Request<hyper::body::Incoming>| {
            // The peer address, for the layer's trusted-proxy checks.
            request.extensions_mut().insert(ConnectInfo(peer));
            // The target as sent, which the signature covers (axum keeps it), before the
            // trailing slash a rewrite added is trimmed for routing: `/voice/` is routed as
            // `/voice`, and verified as either.
            let original = OriginalUri(request.uri().clone());
            request.extensions_mut().insert(original);
            request
        })
        .layer(NormalizePathLayer::trim_trailing_slash())
        .service(app);
    let connection =
        builder.serve_connection_with_upgrades(TokioIo::new(io), TowerToHyperService::new(service));
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = stopped.changed() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

fn print_demo(settings: &Settings, token: &str) {
    let url = settings.public_url_for("/voice");
    let params = [
        ("CallSid", "CAdemo0000000000000000000000000000"),
        ("From", "+15005550006"),
    ];
    let body = "CallSid=CAdemo0000000000000000000000000000&From=%2B15005550006";
    let signature = sign(token, &url, params, Algorithm::HmacSha1);
    let forged = sign("not-the-token", &url, params, Algorithm::HmacSha1);
    let insecure = if settings.tls.is_some() { " -k" } else { "" };
    let auth = match &settings.basic_auth {
        Some(credentials) => format!(" --digest -u '{}:<password>'", credentials.username()),
        None => String::new(),
    };
    println!(
        "\n  DEMO MODE: TWILIO_AUTH_TOKEN is not set, so this server made up a demo token:\n\
         \n      {token}\n\
         \n  It is not a real Twilio token. Set TWILIO_AUTH_TOKEN to verify real webhooks.\n\
         \n  A signed request (accepted, 200 with TwiML):\n\
         \n      curl -i{insecure}{auth} {url} -H 'X-Twilio-Signature: {signature}' -d '{body}'\n\
         \n  A forged request (refused, 403):\n\
         \n      curl -i{insecure}{auth} {url} -H 'X-Twilio-Signature: {forged}' -d '{body}'\n"
    );
}

#[tokio::main]
async fn main() {
    let logs = tracing_subscriber::fmt().with_env_filter(
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    );
    match std::env::var("LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        Ok("text") | Err(_) => logs
            // Colours for a terminal only: escape codes in a log file are noise.
            .with_ansi(std::io::stdout().is_terminal())
            .init(),
        Ok(_) => {
            eprintln!("twiml_server: configuration error: LOG_FORMAT must be text or json");
            std::process::exit(2);
        }
    }
    let mut settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("twiml_server: configuration error: {message}");
            std::process::exit(2);
        }
    };
    let tls = match &settings.tls {
        Some((cert, key)) => match tls_config(cert, key) {
            Ok(config) => Some(config),
            Err(message) => {
                eprintln!("twiml_server: configuration error: {message}");
                std::process::exit(2);
            }
        },
        None => None,
    };
    let listener = match listen(settings.bind) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!(
                "twiml_server: cannot listen on BIND_ADDR {}: {err}",
                settings.bind
            );
            std::process::exit(2);
        }
    };
    // With port 0 the system picks the port: from here on, the address really listened on.
    if let Ok(local) = listener.local_addr() {
        settings.bind = local;
    }
    let local = settings.bind;
    if let Some(addr) = settings.metrics_bind {
        if let Err(message) = serve_metrics(addr).await {
            eprintln!("twiml_server: configuration error: {message}");
            std::process::exit(2);
        }
    }
    let replay = match &settings.replay {
        Some(replay) => match replay.layer().await {
            Ok(layer) => Some(layer),
            Err(message) => {
                eprintln!("twiml_server: configuration error: {message}");
                std::process::exit(2);
            }
        },
        None => None,
    };
    let app = with_limits(app(&settings, replay), settings.request_timeout);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let public_https = settings
        .public_base
        .as_deref()
        .is_some_and(|url| url.to_ascii_lowercase().starts_with("https://"));
    if settings.basic_auth.is_some() && tls.is_none() && !public_https {
        tracing::warn!(
            scheme = ?settings.auth_scheme,
            "WEBHOOK_BASIC_AUTH over plain HTTP: Basic sends the password readably, and a man \
             in the middle can strip the Digest challenges to get Basic; serve HTTPS (TLS_CERT, \
             TLS_KEY) or behind an HTTPS PUBLIC_URL, and prefer WEBHOOK_AUTH_SCHEME=digest_sha256"
        );
    }
    tracing::info!(
        keys = ?settings.keyring,
        public_url = %settings.public_url_for("/voice"),
        "tower-twilio example listening on {scheme}://{local}"
    );
    if let Some(token) = &settings.demo_token {
        print_demo(&settings, token);
    }
    let tls = tls.map(|config| TlsAcceptor::from(Arc::new(config)));
    serve(listener, app, tls, settings.request_timeout).await;
}
