//! Each source of the public URL through the layer in an axum router: as seen, fixed,
//! trusted proxies (with forged headers from untrusted peers), custom; ports, prefixes and
//! the trailing slash.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::routing::post;
use axum::Router;
use common::{exchange, raw_form_post, serve};
use tower::ServiceExt;
use tower_twilio::public_url::ProxyHeaderError;
use tower_twilio::public_url::UrlError;
use tower_twilio::signature::{sign, Algorithm};
use tower_twilio::{
    Hint, PublicUrl, Rejection, RejectionReason, TwilioWebhookLayer, UrlVariants, VerifiedWebhook,
};

const TOKEN: &str = "fake_auth_token_for_tests";
const PARAMS: [(&str, &str); 2] = [("CallSid", "CA1"), ("From", "+14158675309")];

fn app(layer: TwilioWebhookLayer) -> Router {
    Router::new()
        .route(
            "/voice",
            post(|w: VerifiedWebhook| async move { w.url().to_owned() }),
        )
        .route(
            "/voice/",
            post(|w: VerifiedWebhook| async move { w.url().to_owned() }),
        )
        .layer(layer)
}

/// A form POST to `target` as the peer `peer`, signed over `signed_url`.
fn request(peer: &str, target: &str, signed_url: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let signature = sign(TOKEN, signed_url, PARAMS, Algorithm::HmacSha1);
    let mut builder = Request::post(target)
        .header("host", "internal.svc:3000")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .extension(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Body::from("CallSid=CA1&From=%2B14158675309"))
        .unwrap()
}

async fn send(app: Router, request: Request<Body>) -> (StatusCode, Option<Rejection>, String) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let rejection = response.extensions().get::<Rejection>().cloned();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, rejection, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn as_seen_uses_the_configured_scheme_and_the_host() {
    let plain = app(TwilioWebhookLayer::new(TOKEN).unwrap());
    let r = request(
        "10.0.0.1:5000",
        "/voice",
        "http://internal.svc:3000/voice",
        &[],
    );
    assert_eq!(send(plain.clone(), r).await.0, StatusCode::OK);
    let r = request(
        "10.0.0.1:5000",
        "/voice",
        "https://internal.svc:3000/voice",
        &[],
    );
    assert_eq!(send(plain, r).await.0, StatusCode::FORBIDDEN);

    let tls = app(TwilioWebhookLayer::new(TOKEN)
        .unwrap()
        .scheme(tower_twilio::Scheme::Https));
    let r = request(
        "10.0.0.1:5000",
        "/voice",
        "https://internal.svc:3000/voice",
        &[],
    );
    assert_eq!(send(tls, r).await.0, StatusCode::OK);
}

#[tokio::test]
async fn as_seen_ignores_proxy_headers_and_says_so() {
    let app = app(TwilioWebhookLayer::new(TOKEN).unwrap());
    let forged = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "hooks.example.com"),
    ];
    let r = request(
        "127.0.0.1:5000",
        "/voice",
        "https://hooks.example.com/voice",
        &forged,
    );
    let (status, rejection, _) = send(app, r).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(rejection.unwrap().hints(), [Hint::ProxyHeadersIgnored]);
}

#[tokio::test]
async fn fixed_base_url_with_prefix() {
    let layer = TwilioWebhookLayer::new(TOKEN)
        .unwrap()
        .public_url(PublicUrl::fixed("https://hooks.example.com/twilio").unwrap());
    let app = app(layer);
    let r = request(
        "10.0.0.1:5000",
        "/voice",
        "https://hooks.example.com/twilio/voice",
        &[],
    );
    let (status, _, url) = send(app.clone(), r).await;
    assert_eq!(
        (status, url.as_str()),
        (StatusCode::OK, "https://hooks.example.com/twilio/voice")
    );
    // What this server saw is not a candidate any more.
    let r = request(
        "10.0.0.1:5000",
        "/voice",
        "http://internal.svc:3000/voice",
        &[],
    );
    let (status, rejection, _) = send(app, r).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let rejection = rejection.unwrap();
    assert_eq!(
        rejection.urls_tried(),
        [
            "https://hooks.example.com/twilio/voice",
            "https://hooks.example.com:443/twilio/voice"
        ]
    );
    assert_eq!(rejection.hints(), [Hint::HostDiffersFromPublicUrl]);
}

fn behind_proxies(proxies: &[&str]) -> Router {
    app(TwilioWebhookLayer::new(TOKEN)
        .unwrap()
        .public_url(PublicUrl::trusted_proxies(proxies).unwrap()))
}

#[tokio::test]
async fn trusted_proxy_headers_make_the_public_url() {
    let app = behind_proxies(&["10.0.0.0/8"]);
    let headers = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "hooks.example.com"),
    ];
    let r = request(
        "10.9.9.9:40000",
        "/voice",
        "https://hooks.example.com/voice",
        &headers,
    );
    let (status, _, url) = send(app.clone(), r).await;
    assert_eq!(
        (status, url.as_str()),
        (StatusCode::OK, "https://hooks.example.com/voice")
    );
    // RFC 7239 Forwarded, IPv6 peer mapped from IPv4 counts as IPv4.
    let forwarded = [(
        "forwarded",
        "for=192.0.2.1;proto=https;host=hooks.example.com",
    )];
    let r = request(
        "[::ffff:10.1.2.3]:40000",
        "/voice",
        "https://hooks.example.com/voice",
        &forwarded,
    );
    assert_eq!(send(app, r).await.0, StatusCode::OK);
}

#[tokio::test]
async fn forged_proxy_headers_from_an_untrusted_peer_are_refused() {
    let app = behind_proxies(&["10.0.0.0/8"]);
    let forged = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "hooks.example.com"),
    ];
    // A client that knows a valid signature for the public URL (replayed, say) cannot make
    // this server believe it called that URL.
    let r = request(
        "192.0.2.50:40000",
        "/voice",
        "https://hooks.example.com/voice",
        &forged,
    );
    let (status, rejection, _) = send(app.clone(), r).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let rejection = rejection.unwrap();
    assert_eq!(rejection.reason(), RejectionReason::SignatureMismatch);
    assert_eq!(rejection.urls_tried()[0], "http://internal.svc:3000/voice");
    assert_eq!(rejection.hints(), [Hint::ProxyHeadersFromUntrustedPeer]);
    // It is verified on what the server itself saw.
    let r = request(
        "192.0.2.50:40000",
        "/voice",
        "http://internal.svc:3000/voice",
        &forged,
    );
    assert_eq!(send(app, r).await.0, StatusCode::OK);
}

#[tokio::test]
async fn with_several_hops_the_nearest_proxy_wins() {
    let app = behind_proxies(&["10.0.0.0/8"]);
    // The client wrote the first values; the proxy appended the real ones.
    let headers = [
        ("x-forwarded-proto", "http, https"),
        ("x-forwarded-host", "evil.example, hooks.example.com"),
    ];
    let r = request(
        "10.0.0.2:40000",
        "/voice",
        "https://hooks.example.com/voice",
        &headers,
    );
    assert_eq!(send(app.clone(), r).await.0, StatusCode::OK);
    let r = request(
        "10.0.0.2:40000",
        "/voice",
        "http://evil.example/voice",
        &headers,
    );
    assert_eq!(send(app, r).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn forwarded_prefix_and_port() {
    let app = behind_proxies(&["10.0.0.0/8"]);
    let headers = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "hooks.example.com"),
        ("x-forwarded-port", "8443"),
        ("x-forwarded-prefix", "/twilio"),
    ];
    let r = request(
        "10.0.0.2:40000",
        "/voice",
        "https://hooks.example.com:8443/twilio/voice",
        &headers,
    );
    let (status, _, url) = send(app.clone(), r).await;
    assert_eq!(
        (status, url.as_str()),
        (
            StatusCode::OK,
            "https://hooks.example.com:8443/twilio/voice"
        )
    );
    // Port 443 given explicitly: Twilio's signature without a port still matches.
    let headers = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-host", "h.example"),
    ];
    let r = request(
        "10.0.0.2:40000",
        "/voice",
        "https://h.example/voice",
        &headers,
    );
    assert_eq!(send(app, r).await.0, StatusCode::OK);
}

#[tokio::test]
async fn forwarded_prefix_with_a_nested_router() {
    let inner = Router::new()
        .route(
            "/voice",
            post(|w: VerifiedWebhook| async move { w.url().to_owned() }),
        )
        .layer(
            TwilioWebhookLayer::new(TOKEN)
                .unwrap()
                .public_url(PublicUrl::trusted_proxies(["10.0.0.1"]).unwrap()),
        );
    let app = Router::new().nest("/calls", inner);
    let headers = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-prefix", "/edge/"),
    ];
    let r = request(
        "10.0.0.1:1",
        "/calls/voice",
        "https://internal.svc:3000/edge/calls/voice",
        &headers,
    );
    let (status, _, url) = send(app, r).await;
    assert_eq!(
        (status, url.as_str()),
        (StatusCode::OK, "https://internal.svc:3000/edge/calls/voice")
    );
}

#[tokio::test]
async fn malformed_headers_from_a_trusted_proxy_get_a_clear_reason() {
    let app = behind_proxies(&["10.0.0.0/8"]);
    for (name, value, error) in [
        ("x-forwarded-port", "70000", ProxyHeaderError::Port),
        ("x-forwarded-proto", "gopher", ProxyHeaderError::Proto),
        (
            "forwarded",
            "proto=https;proto=http",
            ProxyHeaderError::Forwarded,
        ),
        ("x-forwarded-host", "a b", ProxyHeaderError::Host),
    ] {
        let r = request(
            "10.0.0.2:40000",
            "/voice",
            "https://hooks.example.com/voice",
            &[(name, value)],
        );
        let (status, rejection, body) = send(app.clone(), r).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {value}");
        assert_eq!(
            rejection.unwrap().reason(),
            RejectionReason::Url(UrlError::ProxyHeader(error))
        );
        assert_eq!(body, "Public URL could not be determined\n");
    }
}

#[tokio::test]
async fn trailing_slash_is_tried_by_default_and_can_be_turned_off() {
    let r = || {
        request(
            "10.0.0.1:1",
            "/voice/",
            "http://internal.svc:3000/voice",
            &[],
        )
    };
    let on = app(TwilioWebhookLayer::new(TOKEN).unwrap());
    let (status, _, url) = send(on, r()).await;
    assert_eq!(
        (status, url.as_str()),
        (StatusCode::OK, "http://internal.svc:3000/voice")
    );
    let off = app(TwilioWebhookLayer::new(TOKEN)
        .unwrap()
        .url_variants(UrlVariants::default().trailing_slash(false)));
    let (status, rejection, _) = send(off, r()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(rejection.unwrap().hints(), [Hint::TrailingSlash]);
}

#[tokio::test]
async fn custom_public_url() {
    let layer = TwilioWebhookLayer::new(TOKEN)
        .unwrap()
        .public_url(PublicUrl::custom(|parts| {
            let tenant = parts.headers.get("x-tenant")?.to_str().ok()?;
            Some(format!(
                "https://{tenant}.hooks.example.com{}",
                parts.uri.path()
            ))
        }));
    let app = app(layer);
    let r = request(
        "10.0.0.1:1",
        "/voice",
        "https://acme.hooks.example.com/voice",
        &[("x-tenant", "acme")],
    );
    assert_eq!(send(app.clone(), r).await.0, StatusCode::OK);
    let r = request(
        "10.0.0.1:1",
        "/voice",
        "https://acme.hooks.example.com/voice",
        &[],
    );
    let (status, rejection, _) = send(app, r).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        rejection.unwrap().reason(),
        RejectionReason::Url(UrlError::CustomRefused)
    );
}

#[tokio::test]
async fn connect_info_from_a_real_connection_decides_trust() {
    // Over real loopback HTTP the peer is 127.0.0.1.
    let trusting = serve(behind_proxies(&["127.0.0.1"])).await;
    let distrusting = serve(behind_proxies(&["10.0.0.0/8"])).await;
    let headers = [
        ("X-Forwarded-Proto", "https"),
        ("X-Forwarded-Host", "hooks.example.com"),
    ];
    for (addr, expected) in [(trusting, 200), (distrusting, 403)] {
        let raw = raw_form_post(
            &addr.to_string(),
            "/voice",
            "https://hooks.example.com/voice",
            TOKEN,
            &PARAMS,
            &headers,
        );
        assert_eq!(exchange(addr, &raw).await.0, expected, "server at {addr}");
    }
}

#[tokio::test]
async fn scheme_and_public_url_apply_in_either_order() {
    use tower_twilio::Scheme;
    let proxies = || PublicUrl::trusted_proxies(["10.0.0.0/8"]).unwrap();
    let layers = [
        TwilioWebhookLayer::new(TOKEN)
            .unwrap()
            .scheme(Scheme::Https)
            .public_url(proxies()),
        TwilioWebhookLayer::new(TOKEN)
            .unwrap()
            .public_url(proxies())
            .scheme(Scheme::Https),
    ];
    for layer in layers {
        // No forwarded headers: the URL as seen, over this server's own https listener.
        let signed = "https://internal.svc:3000/voice";
        let (status, rejection, body) =
            send(app(layer), request("10.1.1.1:5000", "/voice", signed, &[])).await;
        assert_eq!(status, StatusCode::OK, "{rejection:?}");
        assert_eq!(body, signed);
    }
}

#[tokio::test]
async fn a_loopback_host_gets_a_hint_when_the_signature_does_not_match() {
    let layer = TwilioWebhookLayer::new(TOKEN).unwrap();
    // Signed for 127.0.0.1 (as the example's demo prints it), sent to localhost.
    let signature = sign(
        TOKEN,
        "http://127.0.0.1:3000/voice",
        PARAMS,
        Algorithm::HmacSha1,
    );
    let request = Request::post("/voice")
        .header("host", "localhost:3000")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(Body::from("CallSid=CA1&From=%2B14158675309"))
        .unwrap();
    let (status, rejection, _) = send(app(layer.clone()), request).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(rejection.unwrap().hints(), [Hint::LoopbackHost]);
    // Not for a public host.
    let (_, rejection, _) = send(
        app(layer),
        request_to("hooks.example.com", "http://127.0.0.1:3000/voice"),
    )
    .await;
    assert!(!rejection.unwrap().hints().contains(&Hint::LoopbackHost));
}

fn request_to(host: &str, signed_url: &str) -> Request<Body> {
    let signature = sign(TOKEN, signed_url, PARAMS, Algorithm::HmacSha1);
    Request::post("/voice")
        .header("host", host)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(Body::from("CallSid=CA1&From=%2B14158675309"))
        .unwrap()
}
