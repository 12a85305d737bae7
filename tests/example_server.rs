//! The compiled `twiml_server` example, run as a process over loopback: every route signed
//! and forged, demo mode, configuration errors, HTTPS, Basic auth and graceful shutdown.

mod common;

use common::{example_binary, ExampleServer as Server};

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tower_twilio::signature::{body_sha256, sign, Algorithm};

const TOKEN: &str = "fake_example_token_0123456789abcdef";

/// A raw HTTP/1.1 request to the server, signed over `signed_url` with `token`.
fn request(
    server: &Server,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
    signature: &str,
) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nX-Twilio-Signature: {signature}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        server.addr,
        body.len()
    )
    .into_bytes()
}

fn form(params: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

/// Sends a form POST to `path` signed with `token`; returns (status, response text).
async fn post_form(
    server: &Server,
    path: &str,
    token: &str,
    params: &[(&str, &str)],
) -> (u16, String) {
    let signature = sign(
        token,
        &server.url(path),
        params.iter().copied(),
        Algorithm::HmacSha1,
    );
    let raw = request(
        server,
        "POST",
        path,
        "application/x-www-form-urlencoded",
        &form(params),
        &signature,
    );
    common::exchange(server.addr, &raw).await
}

#[tokio::test]
async fn every_route_accepts_signed_and_refuses_forged_requests() {
    let server = Server::start(&[("TWILIO_AUTH_TOKEN", TOKEN)]);
    let voice = [("CallSid", "CA1"), ("From", "+15005550006")];
    for token in [TOKEN, "forged"] {
        let ok = token == TOKEN;
        let (status, text) = post_form(&server, "/voice", token, &voice).await;
        assert_eq!(status, if ok { 200 } else { 403 }, "{text}");
        if ok {
            assert!(text.contains("content-type: text/xml"), "{text}");
            assert!(text.contains("<Response><Say>"), "{text}");
        }
        // GET /voice: the query is what is signed.
        let url = server.url("/voice?CallSid=CA1");
        let signature = sign(token, &url, [], Algorithm::HmacSha1);
        let raw = request(
            &server,
            "GET",
            "/voice?CallSid=CA1",
            "text/plain",
            "",
            &signature,
        );
        assert_eq!(
            common::exchange(server.addr, &raw).await.0,
            if ok { 200 } else { 403 }
        );

        let (status, _) =
            post_form(&server, "/status", token, &[("CallStatus", "completed")]).await;
        assert_eq!(status, if ok { 204 } else { 403 });

        let json = r#"{"type":"com.twilio.messaging.message.delivered","data":{"sid":"SM1"}}"#;
        let path = format!("/events?bodySHA256={}", body_sha256(json.as_bytes()));
        let signature = sign(token, &server.url(&path), [], Algorithm::HmacSha1);
        let raw = request(&server, "POST", &path, "application/json", json, &signature);
        assert_eq!(
            common::exchange(server.addr, &raw).await.0,
            if ok { 204 } else { 403 }
        );
    }
    let health = format!(
        "GET /healthz HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    let (status, text) = common::exchange(server.addr, health.as_bytes()).await;
    assert_eq!(status, 200, "healthz is not protected: {text}");
}

#[tokio::test]
async fn duplicates_are_answered_from_memory_unless_the_guard_is_off() {
    let params = [("MessageSid", "SMdup"), ("Body", "once")];
    let server = Server::start(&[("TWILIO_AUTH_TOKEN", TOKEN)]);
    let (status, first) = post_form(&server, "/sms", TOKEN, &params).await;
    assert_eq!(status, 200, "{first}");
    assert!(!first.to_ascii_lowercase().contains("idempotent-replayed"));
    let (status, again) = post_form(&server, "/sms", TOKEN, &params).await;
    assert_eq!(status, 200, "{again}");
    assert!(
        again
            .to_ascii_lowercase()
            .contains("idempotent-replayed: true"),
        "{again}"
    );
    assert_eq!(server.stdout().matches("sms webhook").count(), 1);

    let off = Server::start(&[("TWILIO_AUTH_TOKEN", TOKEN), ("REPLAY_GUARD", "off")]);
    for _ in 0..2 {
        let (status, response) = post_form(&off, "/sms", TOKEN, &params).await;
        assert_eq!(status, 200);
        assert!(!response
            .to_ascii_lowercase()
            .contains("idempotent-replayed"));
    }
    assert_eq!(off.stdout().matches("sms webhook").count(), 2);
}

#[tokio::test]
async fn sms_echo_is_escaped_never_twiml() {
    let server = Server::start(&[("TWILIO_AUTH_TOKEN", TOKEN)]);
    let body = "<Redirect>https://evil.example/</Redirect> & 'quotes'";
    let (status, text) = post_form(&server, "/sms", TOKEN, &[("Body", body), ("From", "+1")]).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("<Message>You said: &lt;Redirect&gt;https://evil.example/&lt;/Redirect&gt; &amp; &apos;quotes&apos;</Message>"),
        "{text}"
    );
    assert!(!text.contains("<Redirect>"), "{text}");
    let (status, _) = post_form(&server, "/sms", "forged", &[("Body", "hi")]).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn media_stream_websocket_signed_and_forged() {
    let server = Server::start(&[("TWILIO_AUTH_TOKEN", TOKEN)]);
    let url = format!("ws://{}/media", server.addr);
    let mut request = url.as_str().into_client_request().unwrap();
    let signature = sign(TOKEN, &url, [], Algorithm::HmacSha1);
    request
        .headers_mut()
        .insert("x-twilio-signature", signature.parse().unwrap());
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.status(), 101);
    let start = r#"{"event":"start","sequenceNumber":"1","start":{"streamSid":"MZdemo","callSid":"CAdemo"},"streamSid":"MZdemo"}"#;
    socket.send(Message::text(start)).await.unwrap();
    socket.send(Message::Close(None)).await.unwrap();
    // The server answers nothing but the close.
    let reply = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap();
    assert!(
        matches!(reply, None | Some(Ok(Message::Close(_))) | Some(Err(_))),
        "unexpected message {reply:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.stdout().contains("media stream started") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.stdout().contains("MZdemo"), "{}", server.stdout());

    let mut forged = url.as_str().into_client_request().unwrap();
    let signature = sign("forged", &url, [], Algorithm::HmacSha1);
    forged
        .headers_mut()
        .insert("x-twilio-signature", signature.parse().unwrap());
    match tokio_tungstenite::connect_async(forged).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected a 403, got {other:?}"),
    }
}

#[tokio::test]
async fn demo_mode_prints_working_curl_commands_and_no_real_token() {
    let server = Server::start(&[]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.stdout().contains("forged request") && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stdout = server.stdout();
    assert!(stdout.contains("DEMO MODE"), "{stdout}");
    let commands: Vec<&str> = stdout
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("curl "))
        .collect();
    assert_eq!(commands.len(), 2, "{stdout}");
    for (command, expected) in commands.iter().zip(["200", "403"]) {
        let output = Command::new("sh")
            .arg("-c")
            .arg(format!("{command} -s -o /dev/null -w '%{{http_code}}'"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            expected,
            "{command}"
        );
    }
}

fn run_to_exit(env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(example_binary());
    command.env_clear().env("BIND_ADDR", "127.0.0.1:0");
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example should have refused to start with {env:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn malformed_configuration_stops_start_up_naming_the_variable() {
    let secret = "fake_secret_never_printed";
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[
                ("TWILIO_AUTH_TOKEN", ""),
                ("TWILIO_WEBHOOK_SHARED_KEYS", "k=v"),
            ],
            "TWILIO_AUTH_TOKEN",
        ),
        (
            &[
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("TWILIO_SECONDARY_AUTH_TOKEN", "  "),
            ],
            "TWILIO_SECONDARY_AUTH_TOKEN",
        ),
        (
            &[
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("TWILIO_WEBHOOK_SHARED_KEYS", secret),
            ],
            "TWILIO_WEBHOOK_SHARED_KEYS",
        ),
        (
            &[("TWILIO_AUTH_TOKEN", TOKEN), ("BIND_ADDR", "localhost")],
            "BIND_ADDR",
        ),
        (
            &[
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("PUBLIC_URL", "hooks.example.com"),
            ],
            "PUBLIC_URL",
        ),
        (
            &[
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("TRUSTED_PROXIES", "10.0.0.0/99"),
            ],
            "TRUSTED_PROXIES",
        ),
        (
            &[("TWILIO_AUTH_TOKEN", TOKEN), ("WEBHOOK_BASIC_AUTH", secret)],
            "WEBHOOK_BASIC_AUTH",
        ),
        (
            &[
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("TLS_CERT", "/nonexistent.pem"),
            ],
            "TLS_CERT",
        ),
        (
            &[
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("TLS_CERT", "/nonexistent.pem"),
                ("TLS_KEY", "/nonexistent.key"),
            ],
            "TLS_CERT",
        ),
        (
            &[
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("REQUEST_TIMEOUT_SECS", "10s"),
            ],
            "REQUEST_TIMEOUT_SECS",
        ),
        (
            &[("TWILIO_AUTH_TOKEN", TOKEN), ("REQUEST_TIMEOUT_SECS", "0")],
            "REQUEST_TIMEOUT_SECS",
        ),
        (
            &[("TWILIO_AUTH_TOKEN", TOKEN), ("REPLAY_GUARD", "maybe")],
            "REPLAY_GUARD",
        ),
        (
            &[
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("WEBHOOK_AUTH_SCHEME", "ntlm"),
            ],
            "WEBHOOK_AUTH_SCHEME",
        ),
        (
            &[
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("REPLAY_STORE_TIMEOUT_MS", "soon"),
            ],
            "REPLAY_STORE_TIMEOUT_MS",
        ),
        (
            &[("TWILIO_AUTH_TOKEN", TOKEN), ("LOG_FORMAT", "xml")],
            "LOG_FORMAT",
        ),
        (
            &[("TWILIO_AUTH_TOKEN", TOKEN), ("REPLAY_TTL_SECS", "1h")],
            "REPLAY_TTL_SECS",
        ),
        (
            &[("TWILIO_AUTH_TOKEN", TOKEN), ("REPLAY_TTL_SECS", "0")],
            "REPLAY_TTL_SECS",
        ),
        (
            &[
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("REPLAY_STORE_FAILURE", "ajar"),
            ],
            "REPLAY_STORE_FAILURE",
        ),
        (
            &[
                ("TWILIO_AUTH_TOKEN", TOKEN),
                ("REDIS_URL", "mongodb://user:fake_secret_never_printed@db"),
            ],
            "REDIS_URL",
        ),
    ];
    for (env, var) in cases {
        let output = run_to_exit(env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(2), "{env:?}: {stderr}");
        assert!(stderr.contains(var), "{env:?}: {stderr}");
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "{stderr}{stdout}"
        );
        assert!(
            !stderr.contains(TOKEN) && !stdout.contains(TOKEN),
            "a token was printed: {stderr}{stdout}"
        );
    }
}

#[tokio::test]
async fn real_tokens_are_never_printed() {
    let server = Server::start(&[
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("TWILIO_SECONDARY_AUTH_TOKEN", "fake_second_token_xyz"),
    ]);
    let _ = post_form(&server, "/voice", "forged", &[("A", "1")]).await;
    let _ = post_form(&server, "/voice", TOKEN, &[("A", "1")]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stdout = server.stdout();
    assert!(stdout.contains("Twilio webhook rejected"), "{stdout}");
    assert!(!stdout.contains("DEMO MODE"), "{stdout}");
    assert!(
        !stdout.contains(TOKEN) && !stdout.contains("fake_second_token_xyz"),
        "{stdout}"
    );
}

#[tokio::test]
async fn basic_auth_is_asked_for_then_checked_with_the_signature() {
    let server = Server::start(&[
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("WEBHOOK_BASIC_AUTH", "twilio:fake_pass_123"),
    ]);
    let url = server.url("/voice");
    let curl = |auth: &[&str], signed_url: &str| {
        let signature = sign(TOKEN, signed_url, [("CallSid", "CA1")], Algorithm::HmacSha1);
        curl_status(auth, &signature, &url)
    };
    // Twilio's first try carries no credentials.
    assert_eq!(curl(&[], &url), "401");
    assert_eq!(curl(&["--basic", "-u", "twilio:wrong"], &url), "401");
    assert_eq!(
        curl(&["--basic", "-u", "twilio:fake_pass_123"], &url),
        "200"
    );
    assert_eq!(
        curl(&["--digest", "-u", "twilio:fake_pass_123"], &url),
        "200"
    );
    // Twilio signs the URL with the credentials in it: that passes too.
    let with_userinfo = format!("http://twilio:fake_pass_123@{}/voice", server.addr);
    assert_eq!(
        curl(&["--digest", "-u", "twilio:fake_pass_123"], &with_userinfo),
        "200"
    );
    assert!(
        !server.stdout().contains("fake_pass_123"),
        "{}",
        server.stdout()
    );
}

#[tokio::test]
async fn https_with_rustls() {
    let dir = std::env::temp_dir().join(format!("twiml-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(status.success());
    let server = Server::start(&[
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("TLS_CERT", cert.to_str().unwrap()),
        ("TLS_KEY", key.to_str().unwrap()),
    ]);
    let url = format!("https://localhost:{}/voice", server.addr.port());
    let curl = |token: &str| {
        let signature = sign(token, &url, [("CallSid", "CA1")], Algorithm::HmacSha1);
        let resolve = format!("localhost:{}:127.0.0.1", server.addr.port());
        let cacert = cert.to_str().unwrap();
        curl_status(
            &["--cacert", cacert, "--resolve", &resolve],
            &signature,
            &url,
        )
    };
    assert_eq!(curl(TOKEN), "200");
    assert_eq!(curl("forged"), "403");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let mut server = Server::start(&[("TWILIO_AUTH_TOKEN", TOKEN)]);
    let pid = server.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running 10 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.stdout().contains("shutting down"));
}

/// POSTs `CallSid=CA1` to `url` with curl, `extra` arguments and the signature; returns the
/// status code curl saw.
fn curl_status(extra: &[&str], signature: &str, url: &str) -> String {
    let output = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(extra)
        .args([
            "-H",
            &format!("X-Twilio-Signature: {signature}"),
            "-d",
            "CallSid=CA1",
            url,
        ])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

/// `promtool`, from Debian's `prometheus` package; the test fails without it.
#[cfg(feature = "metrics")]
fn promtool() -> std::path::PathBuf {
    ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|path| path.exists())
        .expect("promtool not found: apt-get install -y prometheus (the metrics test needs it)")
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_count_what_was_sent_and_pass_promtool() {
    let server = Server::start(&[
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("METRICS_BIND_ADDR", "127.0.0.1:0"),
        ("FAILED_VERIFICATION_LIMIT", "2/60s"),
    ]);
    let metrics_url = server
        .stdout()
        .split_once("metrics on http://")
        .and_then(|(_, rest)| rest.split_whitespace().next().map(str::to_owned))
        .expect("the example says where its metrics are");
    for n in 0..3 {
        let params = [("MessageSid", format!("SMmetrics{n}"))];
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(post_form(&server, "/sms", TOKEN, &params).await.0, 200);
    }
    for _ in 0..2 {
        let (status, response) =
            post_form(&server, "/sms", TOKEN, &[("MessageSid", "SMmetrics0")]).await;
        assert_eq!(status, 200);
        assert!(response
            .to_ascii_lowercase()
            .contains("idempotent-replayed: true"));
    }
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            post_form(&server, "/sms", "not_the_token", &[("MessageSid", "SMx")])
                .await
                .0,
        );
    }
    assert_eq!(statuses, [403, 403, 429, 429]);

    let (addr, path) = metrics_url.split_once('/').unwrap();
    let scrape = format!("GET /{path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let (status, response) = common::exchange(addr.parse().unwrap(), scrape.as_bytes()).await;
    assert_eq!(status, 200, "{response}");
    let exposition = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    let value = |series: &str| -> Option<f64> {
        exposition
            .lines()
            .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
    };
    let total = |outcome: &str, reason: &str| {
        value(&format!(
            "tower_twilio_webhooks_total{{outcome=\"{outcome}\",reason=\"{reason}\"}} "
        ))
    };
    assert_eq!(total("accepted", "none"), Some(3.0), "{exposition}");
    assert_eq!(total("replayed", "none"), Some(2.0), "{exposition}");
    assert_eq!(
        total("rejected", "signature_mismatch"),
        Some(2.0),
        "{exposition}"
    );
    assert_eq!(
        total("limited", "signature_mismatch"),
        Some(2.0),
        "{exposition}"
    );
    assert_eq!(
        value("tower_twilio_verify_duration_seconds_count "),
        Some(9.0),
        "{exposition}"
    );
    // Labels are a small fixed set: no address, URL or parameter in them.
    assert!(!exposition.contains("127.0.0.1") && !exposition.contains("SMmetrics"));

    let mut check = Command::new(promtool())
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(exposition.as_bytes())
            .unwrap();
    }
    let output = check.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool check metrics: {}{}\n{exposition}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The README's example alert rule is a valid Prometheus rule file.
#[cfg(feature = "metrics")]
#[test]
fn the_readme_alert_rule_passes_promtool() {
    let readme = include_str!("../README.md");
    let rules = readme
        .split_once("alert on a burst of rejections by reason:\n\n```yaml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(rules, _)| rules)
        .expect("the README has the alert rule");
    let path = std::env::temp_dir().join(format!("tower-twilio-rules-{}.yml", std::process::id()));
    std::fs::write(&path, rules).unwrap();
    let output = Command::new(promtool())
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_trailing_slash_added_on_the_way_is_routed_and_verified_as_twilio_signed_it() {
    let server = Server::start(&[("TWILIO_AUTH_TOKEN", TOKEN)]);
    let params = [("CallSid", "CAslash")];
    // Twilio signed /voice; a rewrite in front added the slash.
    let signature = sign(TOKEN, &server.url("/voice"), params, Algorithm::HmacSha1);
    let raw = request(
        &server,
        "POST",
        "/voice/",
        "application/x-www-form-urlencoded",
        &form(&params),
        &signature,
    );
    let (status, response) = common::exchange(server.addr, &raw).await;
    assert_eq!(status, 200, "{response}");
    assert!(response.contains("<Say>"), "{response}");
    // Forged, with or without the slash: 403, never a 404 that says nothing.
    let forged = sign(
        "not_the_token",
        &server.url("/voice"),
        params,
        Algorithm::HmacSha1,
    );
    for path in ["/voice/", "/voice"] {
        let raw = request(
            &server,
            "POST",
            path,
            "application/x-www-form-urlencoded",
            &form(&params),
            &forged,
        );
        assert_eq!(common::exchange(server.addr, &raw).await.0, 403, "{path}");
    }
}

#[tokio::test]
async fn logs_are_plain_text_off_a_terminal_json_on_request_and_trace_each_request_at_debug() {
    let text = Server::start(&[
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("RUST_LOG", "info,tower_http=debug"),
    ]);
    assert_eq!(
        post_form(&text, "/sms", TOKEN, &[("MessageSid", "SMlog")])
            .await
            .0,
        200
    );
    let json = Server::start(&[("TWILIO_AUTH_TOKEN", TOKEN), ("LOG_FORMAT", "json")]);
    assert_eq!(
        post_form(&json, "/sms", TOKEN, &[("MessageSid", "SMlog")])
            .await
            .0,
        200
    );
    std::thread::sleep(Duration::from_millis(100));
    let text = text.stdout();
    assert!(!text.contains('\u{1b}'), "colour codes in a file: {text}");
    assert!(text.contains("started processing request"), "{text}");
    let json = json.stdout();
    let lines: Vec<&str> = json.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "{json}");
    for line in lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {line}"));
        assert!(value.get("level").is_some(), "{line}");
    }
}

#[tokio::test]
async fn credentials_over_plain_http_are_warned_about_at_start_up() {
    let plain = Server::start(&[
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("WEBHOOK_BASIC_AUTH", "twilio:fake-password-0"),
    ]);
    assert!(
        plain.stdout().contains("over plain HTTP"),
        "{}",
        plain.stdout()
    );
    assert!(!plain.stdout().contains("fake-password-0"));
    let behind_https = Server::start(&[
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("WEBHOOK_BASIC_AUTH", "twilio:fake-password-0"),
        ("PUBLIC_URL", "https://hooks.example.com"),
    ]);
    assert!(!behind_https.stdout().contains("over plain HTTP"));
}
