//! Shared by the integration tests: the signature vectors and a way to send them.
#![allow(dead_code)]

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Deserialize)]
pub struct Vector {
    pub name: String,
    pub secret: String,
    pub algorithm: String,
    #[serde(default)]
    pub signature_settings: Option<String>,
    pub url: String,
    pub content_type: String,
    pub body: String,
    pub params: Vec<(String, String)>,
    pub signature: String,
}

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

/// Every vector from `tests/vectors/*.json`.
pub fn vectors() -> Vec<Vector> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
    let mut all = Vec::new();
    for name in ["official.json", "generated.json"] {
        let text = std::fs::read_to_string(format!("{dir}/{name}")).expect("vector file");
        let file: File = serde_json::from_str(&text).expect("vector JSON");
        all.extend(file.vectors);
    }
    assert!(all.len() >= 29, "expected all vectors, found {}", all.len());
    all
}

/// Splits `scheme://[userinfo@]authority/target` into its pieces.
pub struct UrlPieces<'a> {
    pub scheme: &'a str,
    pub userinfo: Option<&'a str>,
    pub host: &'a str,
    pub target: &'a str,
}

pub fn pieces(url: &str) -> UrlPieces<'_> {
    let (scheme, rest) = url.split_once("://").expect("absolute URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (Some(userinfo), host),
        None => (None, authority),
    };
    UrlPieces {
        scheme,
        userinfo,
        host,
        target: if target.is_empty() { "/" } else { target },
    }
}

/// Serves `app` on a loopback port with the TCP peer in `ConnectInfo<SocketAddr>`.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    addr
}

/// Sends raw bytes over a fresh connection and returns (status, whole response text). The
/// server must answer within five seconds.
pub async fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut buf = [0u8; 8192];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
            }
            if response_complete(&response) {
                break;
            }
        }
    });
    read.await.expect("the server answered in time");
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

/// Whether a full response (headers and a Content-Length body) has arrived.
fn response_complete(response: &[u8]) -> bool {
    let text = String::from_utf8_lossy(response);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let len = head.lines().find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("content-length:")
            .and_then(|v| v.trim().parse::<usize>().ok())
    });
    len.is_some_and(|len| body.len() >= len)
}

/// A signed form POST as raw HTTP/1.1: `target` on the wire, signed over `signed_url`,
/// with extra header lines.
pub fn raw_form_post(
    host: &str,
    target: &str,
    signed_url: &str,
    token: &str,
    params: &[(&str, &str)],
    extra_headers: &[(&str, &str)],
) -> Vec<u8> {
    use tower_twilio::signature::{sign, Algorithm};
    let signature = sign(
        token,
        signed_url,
        params.iter().copied(),
        Algorithm::HmacSha1,
    );
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let mut head = format!(
        "POST {target} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in extra_headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head.push_str(&body);
    head.into_bytes()
}

/// `target/<profile>/examples/twiml_server`, which `cargo test` builds with the tests.
pub fn example_binary() -> PathBuf {
    example("twiml_server")
}

/// `target/<profile>/examples/<name>`, which `cargo test` builds with the tests.
pub fn example(name: &str) -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let profile_dir = deps.parent().unwrap().parent().unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --examples` (cargo test builds them)",
        binary.display()
    );
    binary
}

/// The example server, running; killed when dropped.
pub struct ExampleServer {
    pub child: Child,
    pub addr: SocketAddr,
    stdout_path: PathBuf,
}

impl ExampleServer {
    /// Starts the example on a port the system picks (`BIND_ADDR=127.0.0.1:0`, unless `env`
    /// says otherwise) and waits for it to say where it listens: no port is chosen in
    /// advance, so parallel tests cannot race for one. The example must log at `info` for
    /// its own target (`RUST_LOG=error,twiml_server=info` keeps only that line).
    pub fn start(env: &[(&str, &str)]) -> Self {
        Self::start_example("twiml_server", env)
    }

    /// [`start`](Self::start) for the example `name`.
    pub fn start_example(name: &str, env: &[(&str, &str)]) -> Self {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let stdout_path = std::env::temp_dir().join(format!(
            "twiml_server-{}-{}.out",
            std::process::id(),
            STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let stdout = std::fs::File::create(&stdout_path).unwrap();
        let mut command = Command::new(example(name));
        command
            .env_clear()
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .stdout(stdout)
            .stderr(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let addr = Self::wait_listening(&mut child, &stdout_path);
        Self {
            child,
            addr,
            stdout_path,
        }
    }

    /// The address from the example's "listening on" line, once it is written.
    fn wait_listening(child: &mut Child, stdout_path: &std::path::Path) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let stdout = std::fs::read_to_string(stdout_path).unwrap_or_default();
            let listening = stdout
                .split_once("listening on ")
                .and_then(|(_, rest)| rest.split_whitespace().next())
                // In a JSON log line the address ends the message string.
                .and_then(|url| url.split('"').next())
                .and_then(|url| url.split_once("://"))
                .and_then(|(_, addr)| addr.parse().ok());
            if let Some(addr) = listening {
                return addr;
            }
            if let Some(status) = child.try_wait().unwrap() {
                panic!("the example exited early with {status}: {stdout}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the example did not say where it listens");
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stdout_path);
    }
}

/// Runs `f` on a current-thread runtime with every `tracing` event (all levels) captured as
/// plain text, and returns the text.
pub fn capture_logs<F: std::future::Future<Output = ()>>(f: impl FnOnce() -> F) -> String {
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f());
    });
    let bytes = captured.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

/// A WebSocket handler for tests: says which URL was verified, then answers each text
/// message with `ack: <message>`.
pub async fn echo_media(
    ws: axum::extract::ws::WebSocketUpgrade,
    webhook: tower_twilio::VerifiedWebhook,
) -> axum::response::Response {
    use axum::extract::ws::Message;
    let verified = format!("verified {}", webhook.url());
    ws.on_upgrade(move |mut socket| async move {
        if socket.send(Message::Text(verified.into())).await.is_err() {
            return;
        }
        while let Some(Ok(message)) = socket.recv().await {
            match message {
                Message::Text(text) => {
                    let reply = format!("ack: {}", text.as_str());
                    if socket.send(Message::Text(reply.into())).await.is_err() {
                        return;
                    }
                }
                Message::Close(_) => return,
                _ => {}
            }
        }
    })
}

/// Polls a future that never waits on anything outside itself (the layer around a
/// `service_fn` with an in-memory body) to completion, without a runtime.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..1_000 {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("the future did not complete");
}

/// The next text message on a WebSocket client (pings and pongs skipped), within 10 s.
pub async fn next_text<S>(ws: &mut S) -> String
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the server answered in time")
            .expect("the connection is open")
            .expect("a valid frame");
        match message {
            Message::Text(text) => return text.as_str().to_owned(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Resident set size of process `pid` in KiB, from `/proc/<pid>/status` (Linux).
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/<pid>/status")
}
