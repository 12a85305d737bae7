//! The `twilio_sign` example CLI against a server with the layer, over loopback.

mod common;

use std::path::PathBuf;

use axum::routing::post;
use axum::Router;
use tower_twilio::signature::{sign, Algorithm};
use tower_twilio::{Keyring, TwilioWebhookLayer, UrlVariants, VerifiedWebhook};

const TOKEN: &str = "fake_cli_token_42";

fn cli() -> PathBuf {
    let deps = std::env::current_exe().unwrap();
    let binary = deps
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("twilio_sign");
    assert!(
        binary.exists(),
        "{} is missing: cargo test builds the examples",
        binary.display()
    );
    binary
}

/// Runs the CLI with `TWILIO_AUTH_TOKEN=token`; returns (exit code, stdout, stderr).
async fn run(token: &str, args: &[&str]) -> (i32, String, String) {
    let output = tokio::process::Command::new(cli())
        .env_clear()
        .env("TWILIO_AUTH_TOKEN", token)
        .env(
            "TWILIO_WEBHOOK_SHARED_KEYS",
            "cli_key=fake_cli_shared_secret",
        )
        .args(args)
        .output()
        .await
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (
        output.status.code().unwrap_or(-1),
        text(output.stdout),
        text(output.stderr),
    )
}

async fn server() -> std::net::SocketAddr {
    let keyring = Keyring::auth_token(TOKEN)
        .unwrap()
        .with_shared_key("cli_key", "fake_cli_shared_secret")
        .unwrap();
    let layer = TwilioWebhookLayer::with_keyring(keyring)
        .url_variants(UrlVariants::default().userinfo(Some("u:p%40ss")));
    let echo = |w: VerifiedWebhook| async move {
        format!("{} {}", w.key_id(), w.params().get("From").unwrap_or("-"))
    };
    let app = Router::new()
        .route("/voice", post(echo).get(echo))
        .route("/events", post(echo))
        .layer(layer);
    common::serve(app).await
}

#[tokio::test]
async fn prints_the_signature_header() {
    let url = "https://hooks.example.com/voice?x=1";
    let (code, stdout, _) = run(TOKEN, &[url, "CallSid=CA1", "From=+15005550006"]).await;
    assert_eq!(code, 0);
    let expected = sign(
        TOKEN,
        url,
        [("CallSid", "CA1"), ("From", "+15005550006")],
        Algorithm::HmacSha1,
    );
    assert_eq!(stdout.trim(), expected);
}

#[tokio::test]
async fn sends_signed_requests_that_the_layer_accepts() {
    let addr = server().await;
    let url = format!("http://{addr}/voice");
    let (code, stdout, stderr) = run(TOKEN, &["--send", &url, "From=+15005550006"]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("200 OK\nprimary +15005550006"),
        "{stdout}"
    );
    let (_, stdout, _) = run("fake_wrong_token", &["--send", &url, "From=+1"]).await;
    assert!(stdout.starts_with("403"), "{stdout}");

    let (_, stdout, _) = run(
        TOKEN,
        &["--send", "--get", &format!("{url}?CallSid=CA1&From=x")],
    )
    .await;
    // A GET's parameters are its query's.
    assert!(stdout.starts_with("200 OK\nprimary x"), "{stdout}");
    let events = format!("http://{addr}/events");
    let (_, stdout, _) = run(TOKEN, &["--send", "--json", r#"{"type":"x"}"#, &events]).await;
    assert!(stdout.starts_with("200 OK"), "{stdout}");
    let (_, stdout, _) = run(
        TOKEN,
        &["--send", "--shared-key", "cli_key", &url, "From=y"],
    )
    .await;
    assert!(stdout.starts_with("200 OK\ncli_key y"), "{stdout}");
    // Credentials in the URL are signed and sent as Basic auth.
    let with_userinfo = format!("http://u:p%40ss@{addr}/voice");
    let (_, stdout, _) = run(TOKEN, &["--send", &with_userinfo, "From=z"]).await;
    assert!(stdout.starts_with("200 OK\nprimary z"), "{stdout}");
}

#[tokio::test]
async fn prints_a_curl_command_that_works() {
    let addr = server().await;
    let url = format!("http://{addr}/voice");
    let (code, command, _) = run(TOKEN, &["--curl", &url, "From=it's me & you"]).await;
    assert_eq!(code, 0);
    assert!(!command.contains(TOKEN), "{command}");
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command.trim())
        .output()
        .await
        .unwrap();
    let response = String::from_utf8(output.stdout).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with("primary it's me & you"), "{response}");
}

#[tokio::test]
async fn refuses_bad_usage_without_printing_the_token() {
    for args in [
        &[][..],
        &["--get", "http://h/", "a=b"],
        &["http://h/", "no-equals"],
        &["--bogus", "http://h/"],
    ] {
        let (code, stdout, stderr) = run(TOKEN, args).await;
        assert_eq!(code, 2, "{args:?}");
        assert!(stderr.starts_with("twilio_sign: "), "{stderr}");
        assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN));
    }
}
