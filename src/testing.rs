//! Signed requests for testing your own handlers and deployments.
//!
//! Each helper builds an `http::Request<String>` as Twilio would send it to `url`: an
//! origin-form target (path and query), a `Host` header from the URL's authority, the right
//! `Content-Type` and a valid `X-Twilio-Signature`. Axum routers and most Tower services
//! accept `Request<String>` directly.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use axum::{routing::post, Router};
//! use tower::ServiceExt;
//! use tower_twilio::{testing, TwilioWebhookLayer};
//!
//! let app = Router::new()
//!     .route("/voice", post(|| async { "<Response/>" }))
//!     .layer(TwilioWebhookLayer::new("fake_token").unwrap());
//!
//! let request = testing::form_request("fake_token", "http://localhost/voice", &[("CallSid", "CA1")]);
//! let response = app.oneshot(request).await.unwrap();
//! assert_eq!(response.status(), 200);
//! # }
//! ```

use http::header::{CONTENT_TYPE, HOST};
use http::Request;

use crate::signature::{body_sha256, sign, Algorithm};

/// The parts of a URL the helpers need: the authority for `Host` and the request target.
fn split(url: &str) -> (&str, &str) {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    // Userinfo never travels in Host: Twilio sends it as an Authorization header.
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    (host, target)
}

fn builder(method: &str, url: &str, signature: &str) -> http::request::Builder {
    let (host, target) = split(url);
    let target = match target {
        "" => "/".to_owned(),
        t if t.starts_with('?') => format!("/{t}"),
        t => t.to_owned(),
    };
    Request::builder()
        .method(method)
        .uri(target)
        .header(HOST, host)
        .header("x-twilio-signature", signature)
}

/// A signed `application/x-www-form-urlencoded` POST to `url` with `params`.
///
/// # Panics
///
/// If `url` cannot be split into a valid `Host` and request target (a test bug).
pub fn form_request(auth_token: &str, url: &str, params: &[(&str, &str)]) -> Request<String> {
    let signature = sign(auth_token, url, params.iter().copied(), Algorithm::HmacSha1);
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    builder("POST", url, &signature)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .expect("a valid URL")
}

/// A signed GET of `url` (its query is what is signed).
///
/// # Panics
///
/// If `url` cannot be split into a valid `Host` and request target (a test bug).
pub fn get_request(auth_token: &str, url: &str) -> Request<String> {
    let signature = sign(auth_token, url, [], Algorithm::HmacSha1);
    builder("GET", url, &signature)
        .body(String::new())
        .expect("a valid URL")
}

/// A signed JSON POST: `bodySHA256` is appended to `url`'s query, then the URL is signed.
///
/// # Panics
///
/// If `url` cannot be split into a valid `Host` and request target (a test bug).
pub fn json_request(auth_token: &str, url: &str, json: &str) -> Request<String> {
    let separator = if url.contains('?') { '&' } else { '?' };
    let url = format!(
        "{url}{separator}bodySHA256={}",
        body_sha256(json.as_bytes())
    );
    let signature = sign(auth_token, &url, [], Algorithm::HmacSha1);
    builder("POST", &url, &signature)
        .header(CONTENT_TYPE, "application/json")
        .body(json.to_owned())
        .expect("a valid URL")
}
