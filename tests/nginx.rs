//! End to end behind a real nginx: nginx terminates TLS on `https://localhost:<port>` and
//! proxies over plain HTTP to an axum app on 127.0.0.1, whose layer believes forwarded
//! headers from 127.0.0.1 only (`PublicUrl::trusted_proxies`). The client is `curl` (and
//! `openssl s_client` under a real WebSocket client for `wss://`), so every byte crosses
//! real sockets, TLS and nginx's header rewriting. The nginx configuration is
//! `tests/nginx/nginx.conf`; each test starts its own nginx in a fresh temporary directory
//! and kills it when it ends.
//!
//! nginx is required: when it is missing the tests fail under `CI=true`, and otherwise say
//! how to install it and pass without running.

mod common;

use std::fs;
use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::routing::{any, get};
use axum::Router;
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tower_twilio::layer::FailureLimit;
use tower_twilio::signature::{sign, Algorithm};
use tower_twilio::{PublicUrl, TwilioWebhookLayer, VerifiedWebhook};

const TOKEN: &str = "fake_auth_token_for_nginx_tests";
const CONFIG: &str = include_str!("nginx/nginx.conf");
const MISSING: &str =
    "nginx not found: apt-get install -y nginx (or set CI=true to make this a failure)";
const TIMEOUT: Duration = Duration::from_secs(10);
/// Failed verifications a client may cause per minute before it gets 429.
const LIMIT: u32 = 40;

/// A typical Twilio voice webhook: `+` and a space must survive form encoding.
const PARAMS: [(&str, &str); 3] = [
    ("CallSid", "CA1234567890abcdef1234567890abcdef"),
    ("From", "+14158675309"),
    ("SpeechResult", "It's a test"),
];

// ---------------------------------------------------------------------------------------
// The app behind nginx
// ---------------------------------------------------------------------------------------

/// Answers with the URL the layer verified and the `From` parameter it decoded.
async fn echo(webhook: VerifiedWebhook) -> String {
    format!(
        "verified {}\nFrom={}",
        webhook.url(),
        webhook.params().get("From").unwrap_or("-")
    )
}

/// Serves the app on 127.0.0.1 (a free port) with connect info, so the layer knows its TCP
/// peer, and returns the port.
async fn serve_app() -> u16 {
    let app = Router::new()
        .route("/media", get(common::echo_media))
        .route("/{*path}", any(echo))
        .layer(
            TwilioWebhookLayer::new(TOKEN)
                .unwrap()
                .public_url(PublicUrl::trusted_proxies(["127.0.0.1"]).unwrap())
                .failed_verification_limit(
                    FailureLimit::new(LIMIT, Duration::from_secs(60)).unwrap(),
                ),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    port
}

// ---------------------------------------------------------------------------------------
// nginx
// ---------------------------------------------------------------------------------------

/// The nginx binary: on `PATH`, else where distributions put it (often not on a non-root
/// user's `PATH`). Under `CI=true` a missing nginx fails the test; otherwise the test says
/// how to install it and returns `None`.
fn nginx_binary() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join("nginx"));
    let known = [
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ]
    .into_iter()
    .map(PathBuf::from);
    if let Some(found) = on_path.chain(known).find(|p| p.is_file()) {
        return Some(found);
    }
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("nginx not found, and CI=true makes that a failure: apt-get install -y nginx");
    }
    eprintln!("{MISSING}");
    None
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "tower-twilio-nginx-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(name);
        fs::create_dir(&dir).expect("create a temporary directory");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A running nginx in front of the app; killed (and its directory removed) on drop.
struct Nginx {
    child: Child,
    port: u16,
    app_port: u16,
    cert: PathBuf,
    // Dropped after `Drop::drop` has killed nginx.
    _dir: TempDir,
}

impl Nginx {
    /// Starts nginx on a free loopback port in front of the app on `app_port`.
    async fn start(binary: &Path, app_port: u16) -> Self {
        let dir = TempDir::new();
        let cert = dir.0.join("cert.pem");
        self_signed_certificate(&dir.0).await;
        let mut last_error = String::new();
        // Another process may take the free port between our probe and nginx's bind.
        for _attempt in 0..5 {
            let port = free_port();
            match Self::spawn(binary, &dir, port, app_port).await {
                Ok(child) => {
                    return Self {
                        child,
                        port,
                        app_port,
                        cert,
                        _dir: dir,
                    }
                }
                Err(Failure::PortTaken(log)) => last_error = log,
                Err(Failure::Other(log)) => panic!("nginx did not start:\n{log}"),
            }
        }
        panic!("nginx found no free port in five attempts:\n{last_error}");
    }

    async fn spawn(
        binary: &Path,
        dir: &TempDir,
        port: u16,
        app_port: u16,
    ) -> Result<Child, Failure> {
        let dir_str = dir.0.to_str().expect("a UTF-8 temporary directory");
        let config = CONFIG
            .replace("@DIR@", dir_str)
            .replace("@APP_PORT@", &app_port.to_string())
            .replace("@PORT@", &port.to_string());
        let config_path = dir.0.join("nginx.conf");
        fs::write(&config_path, config).unwrap();
        let pid_file = dir.0.join("nginx.pid");
        let error_log = dir.0.join("error.log");
        let _ = fs::remove_file(&pid_file);
        let _ = fs::remove_file(&error_log);
        let stderr = fs::File::create(dir.0.join("stderr.log")).unwrap();
        // No `-e <error log>`: nginx before 1.19.5 (Ubuntu 22.04 has 1.18) refuses it. Until
        // it has read the configuration, nginx logs to its built-in path (stderr on Debian
        // and Ubuntu).
        let mut child = Command::new(binary)
            .args(["-p", dir_str, "-c"])
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot run {}: {err}", binary.display()));
        let logs = || {
            let read = |name: &str| fs::read_to_string(dir.0.join(name)).unwrap_or_default();
            format!(
                "stderr: {}\nerror.log: {}",
                read("stderr.log"),
                read("error.log")
            )
        };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                let logs = logs();
                return Err(if logs.contains("Address already in use") {
                    Failure::PortTaken(logs)
                } else {
                    Failure::Other(format!("exited with {status}\n{logs}"))
                });
            }
            // nginx writes its pid file after binding its sockets: once it exists, the
            // port is nginx's and not some other process's.
            if pid_file.exists() && StdTcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(child);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Failure::Other(format!(
                    "not accepting connections after {TIMEOUT:?}\n{}",
                    logs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn url(&self, target: &str) -> String {
        format!("https://localhost:{}{target}", self.port)
    }

    /// POSTs `params` as a form to `https://localhost:<port><target>` with `curl`, signed
    /// with the test token over `signed_url`, with `headers` added (`"Name: value"`).
    /// Returns (status, body).
    async fn post(
        &self,
        target: &str,
        signed_url: &str,
        params: &[(&str, &str)],
        headers: &[&str],
    ) -> (u16, String) {
        self.post_with(TOKEN, target, signed_url, params, headers)
            .await
    }

    /// [`post`](Self::post), signed with `token`.
    async fn post_with(
        &self,
        token: &str,
        target: &str,
        signed_url: &str,
        params: &[(&str, &str)],
        headers: &[&str],
    ) -> (u16, String) {
        self.post_from("127.0.0.1", token, target, signed_url, params, headers)
            .await
    }

    /// [`post_with`](Self::post_with), from the loopback address `source`.
    async fn post_from(
        &self,
        source: &str,
        token: &str,
        target: &str,
        signed_url: &str,
        params: &[(&str, &str)],
        headers: &[&str],
    ) -> (u16, String) {
        let signature = sign(
            token,
            signed_url,
            params.iter().copied(),
            Algorithm::HmacSha1,
        );
        let body = params
            .iter()
            .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let mut curl = tokio::process::Command::new("curl");
        // -q first: no ~/.curlrc. No proxy from the environment, only 127.0.0.1.
        curl.args(["-q", "-sS", "--noproxy", "*", "--max-time", "10"])
            .args(["--interface", source])
            .arg("--cacert")
            .arg(&self.cert)
            .args(["--resolve", &format!("localhost:{}:127.0.0.1", self.port)])
            .args(["-o", "-", "-w", "\n%{http_code}"])
            .args(["-H", "Content-Type: application/x-www-form-urlencoded"])
            .args(["-H", &format!("X-Twilio-Signature: {signature}")]);
        for header in headers {
            curl.args(["-H", header]);
        }
        curl.args(["--data-raw", &body]).arg(self.url(target));
        let output = curl.kill_on_drop(true).output().await.expect("curl runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "curl failed ({}): {}{stdout}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let (body, status) = stdout.rsplit_once('\n').expect("curl printed the status");
        (status.parse().expect("an HTTP status"), body.to_owned())
    }

    /// [`post`](Self::post) with [`PARAMS`], which must pass, verified over `signed_url`.
    async fn assert_passes(&self, target: &str, signed_url: &str, headers: &[&str]) {
        let (status, body) = self.post(target, signed_url, &PARAMS, headers).await;
        assert_eq!(
            (status, body.as_str()),
            (
                200,
                format!("verified {signed_url}\nFrom=+14158675309").as_str()
            ),
            "{target} signed over {signed_url}, with {headers:?}"
        );
    }

    /// [`post`](Self::post) with [`PARAMS`], which must be refused as a signature mismatch.
    async fn assert_refused(&self, target: &str, signed_url: &str, headers: &[&str]) {
        let (status, body) = self.post(target, signed_url, &PARAMS, headers).await;
        assert_eq!(
            (status, body.as_str()),
            (403, "Invalid Twilio signature\n"),
            "{target} signed over {signed_url}, with {headers:?}"
        );
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // One process (`master_process off`): killing it leaves nothing behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum Failure {
    PortTaken(String),
    Other(String),
}

/// A port that was free on 127.0.0.1 a moment ago.
fn free_port() -> u16 {
    let listener = StdTcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `cert.pem` and `key.pem` in `dir`: self-signed for `localhost` and 127.0.0.1.
async fn self_signed_certificate(dir: &Path) {
    let output = tokio::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("the openssl CLI runs");
    assert!(
        output.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `application/x-www-form-urlencoded` encoding of one name or value.
fn form_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The app and nginx in front of it, or `None` (the test passes) when nginx is missing
/// outside CI.
async fn setup() -> Option<Nginx> {
    let binary = nginx_binary()?;
    let app_port = serve_app().await;
    let nginx = Nginx::start(&binary, app_port).await;
    Some(nginx)
}

// ---------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn request_signed_over_the_public_https_url_passes_through_nginx() {
    let Some(nginx) = setup().await else { return };
    // Host carries the port ($http_host), X-Forwarded-Proto says https.
    nginx
        .assert_passes("/voice", &nginx.url("/voice"), &[])
        .await;
    // The raw query reaches the app as the client sent it.
    let target = "/voice?Digits=1%232&x=%27+y";
    nginx.assert_passes(target, &nginx.url(target), &[]).await;
}

#[tokio::test]
async fn request_signed_over_the_internal_url_is_refused() {
    let Some(nginx) = setup().await else { return };
    let public = nginx.url("/voice");
    for internal in [
        // The upstream address, as the app saw the connection.
        format!("http://127.0.0.1:{}/voice", nginx.app_port),
        // The URL the app would rebuild if it ignored X-Forwarded-Proto.
        public.replacen("https://", "http://", 1),
        // The right URL with another port.
        format!("https://localhost:{}/voice", nginx.app_port),
    ] {
        nginx.assert_refused("/voice", &internal, &[]).await;
    }
    // The right URL with another token.
    let (status, body) = nginx
        .post_with("another_fake_token", "/voice", &public, &PARAMS, &[])
        .await;
    assert_eq!((status, body.as_str()), (403, "Invalid Twilio signature\n"));
    // And the right one, for contrast; also without its port, a variant the layer tries
    // (as Twilio's own libraries do).
    nginx.assert_passes("/voice", &public, &[]).await;
    nginx
        .assert_passes("/voice", "https://localhost/voice", &[])
        .await;
}

#[tokio::test]
async fn prefix_stripped_by_nginx_is_restored_from_x_forwarded_prefix() {
    let Some(nginx) = setup().await else { return };
    // The app sees /voice?x=1; Forwarded gives proto and host:port, X-Forwarded-Prefix
    // gives /hooks back.
    let target = "/hooks/voice?x=%27";
    nginx.assert_passes(target, &nginx.url(target), &[]).await;
    // Signed over what the app itself saw, with or without nginx's host: refused.
    nginx
        .assert_refused(target, &nginx.url("/voice?x=%27"), &[])
        .await;
    nginx
        .assert_refused(target, "http://localhost/voice?x=%27", &[])
        .await;

    // The same with the raw request target.
    let target = "/raw-hooks/voice?x=%27";
    nginx.assert_passes(target, &nginx.url(target), &[]).await;
    nginx
        .assert_refused(target, &nginx.url("/voice?x=%27"), &[])
        .await;

    // $host plus X-Forwarded-Port $server_port: the same URL by another route.
    let target = "/by-port/voice";
    nginx.assert_passes(target, &nginx.url(target), &[]).await;
    nginx
        .assert_refused(target, &nginx.url("/voice"), &[])
        .await;
}

#[tokio::test]
async fn encoded_path_bytes_survive_only_when_nginx_passes_the_raw_target() {
    let Some(nginx) = setup().await else { return };
    let target = "/raw-hooks/voice%27s/a%2Fb?x=%27";
    nginx.assert_passes(target, &nginx.url(target), &[]).await;
    nginx
        .assert_refused(target, &nginx.url("/raw-hooks/voice's/a/b?x=%27"), &[])
        .await;
    // "proxy_pass http://app/;" decodes and re-encodes the path: the app sees
    // /voice's/a/b, so the URL Twilio signed no longer verifies (the query is untouched).
    let target = "/hooks/voice%27s/a%2Fb?x=%27";
    nginx.assert_refused(target, &nginx.url(target), &[]).await;
    nginx
        .assert_passes(target, &nginx.url("/hooks/voice's/a/b?x=%27"), &[])
        .await;
}

#[tokio::test]
async fn forwarded_headers_written_by_the_client_are_overwritten_by_nginx() {
    let Some(nginx) = setup().await else { return };
    let forged: &[&str] = &[
        "X-Forwarded-Proto: http",
        "X-Forwarded-Host: evil.example",
        "X-Forwarded-Port: 8080",
        "X-Forwarded-Prefix: /evil",
        "Forwarded: proto=http;host=evil.example",
    ];
    for target in [
        "/voice",
        "/hooks/voice",
        "/raw-hooks/voice",
        "/by-port/voice",
    ] {
        // nginx replaced or removed every forged header: the public URL still verifies...
        nginx
            .assert_passes(target, &nginx.url(target), forged)
            .await;
        // ...and none of the URLs the client tried to make the app believe does.
        for evil in [
            format!("http://evil.example{target}"),
            format!("https://evil.example{target}"),
            format!("http://evil.example:8080/evil{target}"),
            format!("https://evil.example:8080{target}"),
            nginx.url(target).replacen("https://", "http://", 1),
        ] {
            nginx.assert_refused(target, &evil, forged).await;
        }
    }
}

#[tokio::test]
async fn the_value_nginx_appends_last_wins_over_what_the_client_wrote() {
    let Some(nginx) = setup().await else { return };
    let target = "/chain/voice";
    // Without client headers nginx sends ", localhost:<port>": the empty item is skipped.
    nginx.assert_passes(target, &nginx.url(target), &[]).await;
    let forged: &[&str] = &[
        "X-Forwarded-Proto: http",
        "X-Forwarded-Host: evil.example",
        "X-Forwarded-Prefix: /evil",
    ];
    // The app receives "evil.example, localhost:<port>" and so on, and uses the last value.
    nginx
        .assert_passes(target, &nginx.url(target), forged)
        .await;
    nginx
        .assert_refused(target, "http://evil.example/evil/voice", forged)
        .await;
    nginx
        .assert_refused(target, "https://evil.example/chain/voice", forged)
        .await;
}

#[tokio::test]
async fn a_location_that_passes_client_forwarded_headers_through_lets_the_client_pick_the_url() {
    // Why the recommended location clears the headers it does not set: /naive/ only sets
    // Host and X-Forwarded-Proto, so the client's X-Forwarded-Host arrives from a trusted
    // peer and is believed. A Twilio signature made for another host served with the same
    // token could then be replayed here.
    let Some(nginx) = setup().await else { return };
    let target = "/naive/voice";
    nginx.assert_passes(target, &nginx.url(target), &[]).await;
    let forged: &[&str] = &["X-Forwarded-Host: evil.example"];
    nginx
        .assert_passes(target, "https://evil.example/naive/voice", forged)
        .await;
    nginx
        .assert_refused(target, &nginx.url(target), forged)
        .await;
    // The recommended location, with the same forged header, still only accepts its URL.
    nginx
        .assert_refused("/voice", "https://evil.example/voice", forged)
        .await;
}

/// A WebSocket client whose bytes go through `openssl s_client`'s stdin and stdout.
type WssClient = tokio_tungstenite::WebSocketStream<
    tokio::io::Join<tokio::process::ChildStdout, tokio::process::ChildStdin>,
>;

/// Runs a real WebSocket client over `openssl s_client` (TLS to nginx, verified against
/// our certificate), so the client really calls `wss://localhost:<port>/media...`.
async fn wss_connect(
    nginx: &Nginx,
    target: &str,
    signed_url: &str,
) -> (tokio::process::Child, Result<WssClient, WsError>) {
    let mut s_client = tokio::process::Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error"])
        .args(["-connect", &format!("127.0.0.1:{}", nginx.port)])
        .args(["-servername", "localhost", "-verify_hostname", "localhost"])
        .arg("-CAfile")
        .arg(&nginx.cert)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("openssl s_client runs");
    let stream = tokio::io::join(
        s_client.stdout.take().unwrap(),
        s_client.stdin.take().unwrap(),
    );
    let mut request = format!("wss://localhost:{}{target}", nginx.port)
        .into_client_request()
        .unwrap();
    let signature = sign(TOKEN, signed_url, [], Algorithm::HmacSha1);
    request
        .headers_mut()
        .insert("x-twilio-signature", signature.parse().unwrap());
    let result = tokio::time::timeout(TIMEOUT, tokio_tungstenite::client_async(request, stream))
        .await
        .expect("the handshake finished in time")
        .map(|(stream, response)| {
            assert_eq!(response.status(), 101);
            stream
        });
    (s_client, result)
}

#[tokio::test]
async fn websocket_upgrade_through_nginx_is_verified_against_the_wss_url() {
    let Some(nginx) = setup().await else { return };
    let target = "/media?CallSid=CA1";
    let wss = format!("wss://localhost:{}{target}", nginx.port);
    let (mut s_client, result) = wss_connect(&nginx, target, &wss).await;
    let mut ws = result.expect("the upgrade signed over wss:// is accepted");
    assert_eq!(common::next_text(&mut ws).await, format!("verified {wss}"));
    for text in ["connected", "start", "media"] {
        ws.send(Message::text(text)).await.unwrap();
        assert_eq!(common::next_text(&mut ws).await, format!("ack: {text}"));
    }
    let _ = ws.close(None).await;
    let _ = s_client.kill().await;

    // The https:// URL of the same resource is not what Twilio signs for a stream.
    let https = nginx.url(target);
    let (mut s_client, result) = wss_connect(&nginx, target, &https).await;
    match result {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 403),
        Err(other) => panic!("expected a 403, got {other}"),
        Ok(_) => panic!("the upgrade signed over https:// was accepted"),
    }
    let _ = s_client.kill().await;
}

#[tokio::test]
async fn the_failure_limit_follows_the_client_nginx_names_not_nginx_itself() {
    let Some(nginx) = setup().await else { return };
    let public = nginx.url("/voice");
    // nginx sees the client on 127.0.0.2 and says so in X-Forwarded-For; the app's peer
    // is nginx on 127.0.0.1 for every client.
    let forged = |source: &'static str| {
        let (nginx, public) = (&nginx, public.clone());
        async move {
            nginx
                .post_from(source, "not_the_token", "/voice", &public, &PARAMS, &[])
                .await
                .0
        }
    };
    for _ in 0..LIMIT {
        assert_eq!(forged("127.0.0.2").await, 403);
    }
    assert_eq!(forged("127.0.0.2").await, 429);
    // Whatever the client writes into X-Forwarded-For, nginx's value is the one believed.
    let (status, _) = nginx
        .post_from(
            "127.0.0.2",
            "not_the_token",
            "/voice",
            &public,
            &PARAMS,
            &["X-Forwarded-For: 198.51.100.77"],
        )
        .await;
    assert_eq!(status, 429);
    // Another client behind the same nginx is not affected, and Twilio's valid requests
    // from the limited client still pass.
    assert_eq!(forged("127.0.0.3").await, 403);
    let (status, _) = nginx
        .post_from("127.0.0.2", TOKEN, "/voice", &public, &PARAMS, &[])
        .await;
    assert_eq!(status, 200);
}
