//! Shared by the integration tests: the signature vectors and a way to send them.
#![allow(dead_code)]

use serde::Deserialize;

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
pub async fn serve(app: axum::Router) -> std::net::SocketAddr {
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
