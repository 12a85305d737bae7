//! HTTP Basic and Digest authentication (`tower_twilio::auth`): in process through axum, and
//! over real HTTP on loopback with curl as the client, together with the signature layer.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{Request, Response, StatusCode};
use axum::routing::post;
use axum::Router;
use http_body_util::BodyExt;
use md5::Md5;
use sha2::{Digest, Sha256};
use tower::{ServiceBuilder, ServiceExt};
use tower_twilio::auth::{AuthRejection, AuthScheme, Credentials, HttpAuthLayer};
use tower_twilio::signature::{sign, Algorithm};
use tower_twilio::{TwilioWebhookLayer, VerifiedWebhook};

const TOKEN: &str = "fake_auth_token_for_tests";
const USER: &str = "twilio";
const PASSWORD: &str = "fake-SECRET_MARKER-pass";
const REALM: &str = "tower-twilio tests";
const PARAMS: &[(&str, &str)] = &[
    ("CallSid", "CA1234567890ABCDE"),
    ("From", "+14158675309"),
    ("Body", "Hello & goodbye = 100%"),
];

fn auth(scheme: AuthScheme) -> HttpAuthLayer {
    HttpAuthLayer::new(Credentials::new(USER, PASSWORD).unwrap(), scheme)
        .realm(REALM)
        .unwrap()
}

/// `/voice` behind the signature layer and the auth layer, in either order.
fn app(auth_layer: HttpAuthLayer, auth_outermost: bool) -> Router {
    let route = Router::new().route(
        "/voice",
        post(|webhook: VerifiedWebhook| async move {
            format!("ok {}", webhook.params().get("From").unwrap_or("?"))
        }),
    );
    let signature = TwilioWebhookLayer::new(TOKEN).unwrap();
    if auth_outermost {
        route.layer(signature).layer(auth_layer)
    } else {
        route.layer(auth_layer).layer(signature)
    }
}

fn form_body() -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(PARAMS)
        .finish()
}

/// A signed form POST to `http://example.com{path}`, with an optional `Authorization`.
fn signed_request(path: &str, authorization: Option<&str>) -> Request<Body> {
    let url = format!("http://example.com{path}");
    let signature = sign(TOKEN, &url, PARAMS.iter().copied(), Algorithm::HmacSha1);
    let mut builder = Request::post(path)
        .header("host", "example.com")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature);
    if let Some(value) = authorization {
        builder = builder.header(AUTHORIZATION, value);
    }
    builder.body(Body::from(form_body())).unwrap()
}

struct Answer {
    status: StatusCode,
    challenges: Vec<String>,
    rejection: Option<AuthRejection>,
    body: String,
}

async fn send(app: Router, request: Request<Body>) -> Answer {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let challenges = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let rejection = response.extensions().get::<AuthRejection>().copied();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        challenges,
        rejection,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// The value of `name="value"` or `name=value` in a challenge (no escapes needed here).
fn param<'a>(challenge: &'a str, name: &str) -> &'a str {
    let start = challenge
        .find(&format!("{name}="))
        .unwrap_or_else(|| panic!("no {name} in {challenge}"))
        + name.len()
        + 1;
    let rest = &challenge[start..];
    match rest.strip_prefix('"') {
        Some(quoted) => &quoted[..quoted.find('"').unwrap()],
        None => rest.split([',', ' ']).next().unwrap(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `H(data)` for a Digest algorithm, written here independently of the crate.
fn h(algorithm: &str, data: &str) -> String {
    match algorithm {
        "SHA-256" => hex(&Sha256::digest(data.as_bytes())),
        "MD5" => hex(&Md5::digest(data.as_bytes())),
        other => panic!("unexpected algorithm {other}"),
    }
}

/// A client's answer to one Digest challenge (RFC 7616 §3.4, qop=auth).
fn answer(challenge: &str, method: &str, uri: &str, user: &str, password: &str) -> String {
    let realm = param(challenge, "realm");
    let nonce = param(challenge, "nonce");
    let algorithm = param(challenge, "algorithm");
    assert_eq!(param(challenge, "qop"), "auth");
    let (nc, cnonce) = ("00000001", "f2/wE4q74E6zIJEtWaHKaf5wv");
    let ha1 = h(algorithm, &format!("{user}:{realm}:{password}"));
    let ha2 = h(algorithm, &format!("{method}:{uri}"));
    let response = h(
        algorithm,
        &format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"),
    );
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         algorithm={algorithm}, qop=auth, nc={nc}, cnonce=\"{cnonce}\", response=\"{response}\""
    )
}

// ---------------------------------------------------------------------------------------
// In process
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn unauthenticated_request_gets_every_challenge_in_order() {
    let first = send(
        app(auth(AuthScheme::BasicAndDigest), true),
        signed_request("/voice", None),
    )
    .await;
    assert_eq!(first.status, StatusCode::UNAUTHORIZED);
    assert_eq!(first.rejection, Some(AuthRejection::MissingCredentials));
    assert_eq!(first.body, "Unauthorized\n");
    assert_eq!(first.challenges.len(), 3, "{:?}", first.challenges);
    assert!(first.challenges[0].starts_with(&format!(
        "Digest realm=\"{REALM}\", qop=\"auth\", algorithm=SHA-256, nonce=\""
    )));
    assert!(first.challenges[1].starts_with(&format!(
        "Digest realm=\"{REALM}\", qop=\"auth\", algorithm=MD5, nonce=\""
    )));
    assert_eq!(
        first.challenges[2],
        format!("Basic realm=\"{REALM}\", charset=\"UTF-8\"")
    );

    let digest_only = send(
        app(auth(AuthScheme::Digest), true),
        signed_request("/voice", None),
    )
    .await;
    assert_eq!(digest_only.challenges.len(), 2);
    assert!(digest_only
        .challenges
        .iter()
        .all(|c| c.starts_with("Digest ")));
    let basic_only = send(
        app(auth(AuthScheme::Basic), true),
        signed_request("/voice", None),
    )
    .await;
    assert_eq!(
        basic_only.challenges,
        [format!("Basic realm=\"{REALM}\", charset=\"UTF-8\"")]
    );
}

#[tokio::test]
async fn digest_handshake_with_both_algorithms_in_both_layer_orders() {
    for auth_outermost in [true, false] {
        for (index, algorithm) in [(0, "SHA-256"), (1, "MD5")] {
            let layer = auth(AuthScheme::BasicAndDigest);
            let first = send(
                app(layer.clone(), auth_outermost),
                signed_request("/voice", None),
            )
            .await;
            assert_eq!(first.status, StatusCode::UNAUTHORIZED);
            let challenge = &first.challenges[index];
            assert_eq!(param(challenge, "algorithm"), algorithm);

            let right = answer(challenge, "POST", "/voice", USER, PASSWORD);
            let second = send(
                app(layer.clone(), auth_outermost),
                signed_request("/voice", Some(&right)),
            )
            .await;
            assert_eq!(
                (second.status, second.body.as_str()),
                (StatusCode::OK, "ok +14158675309"),
                "{algorithm}, auth outermost: {auth_outermost}"
            );

            let wrong = answer(challenge, "POST", "/voice", USER, "fake-wrong-pass");
            let refused = send(
                app(layer.clone(), auth_outermost),
                signed_request("/voice", Some(&wrong)),
            )
            .await;
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
            assert_eq!(refused.rejection, Some(AuthRejection::WrongCredentials));
            assert_eq!(refused.challenges.len(), 3, "a fresh challenge");

            let wrong_user = answer(challenge, "POST", "/voice", "twilio2", PASSWORD);
            let refused = send(
                app(layer, auth_outermost),
                signed_request("/voice", Some(&wrong_user)),
            )
            .await;
            assert_eq!(refused.rejection, Some(AuthRejection::WrongCredentials));
        }
    }
}

#[tokio::test]
async fn the_signature_is_still_checked_behind_authentication() {
    let layer = auth(AuthScheme::Basic);
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{USER}:{PASSWORD}")
        )
    );
    let mut request = signed_request("/voice", Some(&basic));
    request.headers_mut().remove("x-twilio-signature");
    let answer = send(app(layer.clone(), true), request).await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    assert_eq!(answer.rejection, None);

    let answer = send(app(layer, true), signed_request("/voice", Some(&basic))).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn nonces_are_shared_between_instances_with_the_same_key() {
    let key = [9u8; 32];
    let a = auth(AuthScheme::Digest).nonce_key(key);
    let b = auth(AuthScheme::Digest).nonce_key(key);
    let c = auth(AuthScheme::Digest); // its own random key
    let first = send(app(a, true), signed_request("/voice", None)).await;
    let right = answer(&first.challenges[0], "POST", "/voice", USER, PASSWORD);
    let on_b = send(app(b, true), signed_request("/voice", Some(&right))).await;
    assert_eq!(on_b.status, StatusCode::OK);
    let on_c = send(app(c, true), signed_request("/voice", Some(&right))).await;
    assert_eq!(on_c.status, StatusCode::UNAUTHORIZED);
    assert_eq!(on_c.rejection, Some(AuthRejection::InvalidNonce));
    assert!(!on_c.challenges[0].contains("stale"));
}

#[tokio::test]
async fn an_expired_nonce_gets_stale_true_and_the_new_one_works() {
    let layer = auth(AuthScheme::Digest).nonce_lifetime(Duration::from_secs(1));
    let first = send(app(layer.clone(), true), signed_request("/voice", None)).await;
    let old = answer(&first.challenges[0], "POST", "/voice", USER, PASSWORD);
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let stale = send(
        app(layer.clone(), true),
        signed_request("/voice", Some(&old)),
    )
    .await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stale.rejection, Some(AuthRejection::StaleNonce));
    assert!(stale.challenges[0].ends_with(", stale=true"));
    assert!(stale.challenges[1].ends_with(", stale=true"));

    let fresh = answer(&stale.challenges[0], "POST", "/voice", USER, PASSWORD);
    let retried = send(app(layer, true), signed_request("/voice", Some(&fresh))).await;
    assert_eq!(retried.status, StatusCode::OK);
}

#[tokio::test]
async fn digest_uri_must_be_the_original_request_target_in_nested_routers() {
    let inner = Router::new()
        .route("/voice", post(|| async { "nested ok" }))
        .layer(auth(AuthScheme::Digest));
    let app = Router::new().nest("/twilio", inner);
    let request = |authorization: Option<&str>| {
        let mut builder = Request::post("/twilio/voice?x=1").header("host", "example.com");
        if let Some(value) = authorization {
            builder = builder.header(AUTHORIZATION, value);
        }
        builder.body(Body::empty()).unwrap()
    };
    let first = send(app.clone(), request(None)).await;
    let challenge = &first.challenges[0];
    let right = answer(challenge, "POST", "/twilio/voice?x=1", USER, PASSWORD);
    let ok = send(app.clone(), request(Some(&right))).await;
    assert_eq!((ok.status, ok.body.as_str()), (StatusCode::OK, "nested ok"));
    for uri in ["/voice?x=1", "/twilio/voice", "/twilio/other?x=1"] {
        let wrong = answer(challenge, "POST", uri, USER, PASSWORD);
        let refused = send(app.clone(), request(Some(&wrong))).await;
        assert_eq!(refused.rejection, Some(AuthRejection::UriMismatch), "{uri}");
    }
}

#[tokio::test]
async fn the_inner_service_gets_the_request_unchanged() {
    // Any body type goes through: here a `String`, echoed back with the header seen.
    let service = ServiceBuilder::new()
        .layer(auth(AuthScheme::Basic))
        .service_fn(|request: Request<String>| async move {
            let seen = request
                .headers()
                .get(AUTHORIZATION)
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            Ok::<_, Infallible>(Response::new(format!("{seen}|{}", request.into_body())))
        });
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{USER}:{PASSWORD}")
        )
    );
    let request = Request::post("/x")
        .header(AUTHORIZATION, &basic)
        .body("the body, untouched".to_owned())
        .unwrap();
    let response = service.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.body(), &format!("{basic}|the body, untouched"));

    let request = Request::post("/x").body("never read".to_owned()).unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.body(), "Unauthorized\n");
}

#[tokio::test]
async fn hostile_authorization_headers_get_401() {
    let layer = auth(AuthScheme::BasicAndDigest);
    let first = send(app(layer.clone(), true), signed_request("/voice", None)).await;
    let nonce = param(&first.challenges[0], "nonce").to_owned();
    let huge = "x".repeat(64 * 1024);
    let values: Vec<Vec<u8>> = vec![
        b"Basic".to_vec(),
        b"Basic %%%".to_vec(),
        b"basic Zm9v".to_vec(),
        b"Basic \xc3\x28".to_vec(),
        b"Digest".to_vec(),
        b"Digest realm=\"unterminated".to_vec(),
        b"Digest a=\"\\".to_vec(),
        b"Digest username=\"twilio\", username=\"twilio\"".to_vec(),
        format!("Digest username=\"{huge}\"").into_bytes(),
        format!(
            "Digest username=\"twilio\", realm=\"{REALM}\", nonce=\"{nonce}\", uri=\"/voice\", \
             qop=auth, nc=00000001, cnonce=\"c\""
        )
        .into_bytes(),
        format!(
            "Digest username=\"twilio\", realm=\"{REALM}\", nonce=\"{nonce}x\", uri=\"/voice\", \
             qop=auth, nc=00000001, cnonce=\"c\", response=\"{}\"",
            "0".repeat(32)
        )
        .into_bytes(),
        b"Bearer fake-token".to_vec(),
        b"Digest\tusername=\"\xff\"".to_vec(),
    ];
    for value in values {
        let header = axum::http::HeaderValue::from_bytes(&value).unwrap();
        let mut request = signed_request("/voice", None);
        request.headers_mut().insert(AUTHORIZATION, header);
        let answer = send(app(layer.clone(), true), request).await;
        let shown = String::from_utf8_lossy(&value[..value.len().min(60)]).into_owned();
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{shown}");
        assert_eq!(answer.challenges.len(), 3, "{shown}");
        assert!(
            !matches!(
                answer.rejection,
                None | Some(AuthRejection::MissingCredentials)
            ),
            "{shown}: {:?}",
            answer.rejection
        );
    }
}

// ---------------------------------------------------------------------------------------
// Logging
// ---------------------------------------------------------------------------------------

#[test]
fn rejections_are_logged_once_without_credentials() {
    let wrong_basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{USER}:SECRET_MARKER_wrong")
        )
    );
    let logs = common::capture_logs(|| async {
        let layer = auth(AuthScheme::BasicAndDigest);
        let first = send(app(layer.clone(), true), signed_request("/voice", None)).await;
        assert_eq!(first.status, StatusCode::UNAUTHORIZED);
        let wrong = send(
            app(layer.clone(), true),
            signed_request("/voice", Some(&wrong_basic)),
        )
        .await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        let digest = answer(
            &first.challenges[0],
            "POST",
            "/voice",
            USER,
            "SECRET_MARKER_digest",
        );
        let wrong = send(app(layer, true), signed_request("/voice", Some(&digest))).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    });
    let events: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("tower_twilio"))
        .collect();
    assert_eq!(events.len(), 3, "{logs}");
    assert!(events[0].contains("DEBUG"), "{}", events[0]);
    assert!(
        events[0].contains("no Authorization header"),
        "{}",
        events[0]
    );
    for event in &events[1..] {
        assert!(event.contains("WARN"), "{event}");
        assert!(event.contains("wrong username or password"), "{event}");
        assert!(event.contains("status=401"), "{event}");
    }
    assert!(!logs.contains("SECRET_MARKER"), "{logs}");
    assert!(!logs.contains(&wrong_basic[6..]), "{logs}");
    assert!(!logs.contains("response="), "{logs}");
}

// ---------------------------------------------------------------------------------------
// Over loopback, with curl
// ---------------------------------------------------------------------------------------

async fn serve(app: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

struct Curl {
    /// The final response's status.
    status: u16,
    /// Everything curl printed: every response's head (`-i`) and body.
    output: String,
}

impl Curl {
    /// The `WWW-Authenticate` values in the output, in order.
    fn challenges(&self) -> Vec<&str> {
        self.output
            .lines()
            .filter_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("www-authenticate")
                    .then(|| value.trim())
            })
            .collect()
    }
}

/// Runs curl against `http://{addr}/voice` with a signed form body and `auth_args`.
async fn curl(addr: SocketAddr, auth_args: &[&str]) -> Curl {
    let url = format!("http://{addr}/voice");
    // Signed over the URL without userinfo, as the server sees it.
    let signature = sign(TOKEN, &url, PARAMS.iter().copied(), Algorithm::HmacSha1);
    let mut command = tokio::process::Command::new("/usr/bin/curl");
    command
        .args(["-sS", "-i", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(["-H", &format!("X-Twilio-Signature: {signature}")])
        .args(["-H", "Content-Type: application/x-www-form-urlencoded"]);
    for (name, value) in PARAMS {
        command.args(["--data-urlencode", &format!("{name}={value}")]);
    }
    command.args(auth_args).arg(&url);
    let output = command.output().await.expect("curl runs");
    assert!(output.status.success(), "curl failed: {output:?}");
    let output = String::from_utf8(output.stdout).unwrap();
    let status = output.lines().last().unwrap().trim().parse().unwrap();
    Curl { status, output }
}

#[tokio::test]
async fn curl_basic_and_digest_reach_the_signed_route() {
    let addr = serve(app(auth(AuthScheme::BasicAndDigest), true)).await;
    let user_pass = format!("{USER}:{PASSWORD}");
    let wrong = format!("{USER}:fake-wrong-pass");

    let basic = curl(addr, &["--basic", "-u", &user_pass]).await;
    assert_eq!(basic.status, 200, "{}", basic.output);
    assert!(basic.output.contains("ok +14158675309"), "{}", basic.output);

    // curl answers the first Digest challenge: SHA-256.
    let digest = curl(addr, &["--digest", "-u", &user_pass]).await;
    assert_eq!(digest.status, 200, "{}", digest.output);
    assert!(
        digest.output.contains("ok +14158675309"),
        "{}",
        digest.output
    );
    assert!(
        digest.output.starts_with("HTTP/1.1 401"),
        "{}",
        digest.output
    );

    for args in [
        ["--basic", "-u", &wrong],
        ["--digest", "-u", &wrong],
        ["--anyauth", "-u", &wrong],
    ] {
        let refused = curl(addr, &args).await;
        assert_eq!(refused.status, 401, "{args:?}: {}", refused.output);
        assert!(!refused.output.contains("ok +"), "{}", refused.output);
    }

    let anonymous = curl(addr, &[]).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.output);
    let challenges = anonymous.challenges();
    assert_eq!(challenges.len(), 3, "{}", anonymous.output);
    assert!(challenges[0].starts_with("Digest ") && challenges[0].contains("algorithm=SHA-256"));
    assert!(challenges[1].starts_with("Digest ") && challenges[1].contains("algorithm=MD5"));
    assert_eq!(
        challenges[2],
        format!("Basic realm=\"{REALM}\", charset=\"UTF-8\"")
    );
    for challenge in &challenges[..2] {
        assert!(
            challenge.contains(&format!("realm=\"{REALM}\"")),
            "{challenge}"
        );
        assert!(challenge.contains("qop=\"auth\""), "{challenge}");
        assert!(challenge.contains("nonce=\""), "{challenge}");
    }
}

#[tokio::test]
async fn curl_with_the_signature_layer_outermost() {
    // `curl --digest` sends its first, unauthenticated POST without a body, which the
    // signature layer (outermost here) refuses before authentication is asked for; Twilio,
    // like `--anyauth`, sends the whole signed request both times.
    let addr = serve(app(auth(AuthScheme::BasicAndDigest), false)).await;
    let user_pass = format!("{USER}:{PASSWORD}");
    for args in [
        ["--basic", "-u", &user_pass],
        ["--anyauth", "-u", &user_pass],
    ] {
        let answer = curl(addr, &args).await;
        assert_eq!(answer.status, 200, "{args:?}: {}", answer.output);
        assert!(
            answer.output.contains("ok +14158675309"),
            "{}",
            answer.output
        );
    }
    let anyauth = curl(addr, &["--anyauth", "-u", &user_pass]).await;
    // The first answer was the 401 with the challenges; curl then picked Digest SHA-256.
    assert_eq!(anyauth.challenges().len(), 3, "{}", anyauth.output);
    assert!(
        anyauth.output.starts_with("HTTP/1.1 401"),
        "{}",
        anyauth.output
    );
    let wrong = curl(
        addr,
        &["--anyauth", "-u", &format!("{USER}:fake-wrong-pass")],
    )
    .await;
    assert_eq!(wrong.status, 401, "{}", wrong.output);
    let anonymous = curl(addr, &[]).await;
    assert_eq!(anonymous.status, 401, "{}", anonymous.output);
    assert_eq!(anonymous.challenges().len(), 3, "{}", anonymous.output);
}
