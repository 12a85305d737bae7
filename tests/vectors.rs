//! Every official and generated vector, sent through the layer as an HTTP request over the URL
//! it names, passes; one byte changed in the URL, body, secret or signature fails.

mod common;

use bytes::Bytes;
use common::{pieces, vectors, Vector};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{service_fn, ServiceBuilder, ServiceExt};
use tower_twilio::signature::{self, Algorithm};
use tower_twilio::{
    KeyKind, Keyring, Rejection, Scheme, TwilioWebhookLayer, UrlVariants, VerifiedWebhook,
};

/// What the request looks like on the wire.
#[derive(Clone)]
struct Sent {
    method: &'static str,
    url: String,
    body: Vec<u8>,
    secret: String,
    signature: String,
}

impl Sent {
    fn of(v: &Vector) -> Self {
        // A form with nothing in it signs what a GET of the URL signs (`empty-body-get`):
        // sent as the GET it is, since the layer refuses such a POST.
        let empty_form = v.body.is_empty() && v.params.is_empty();
        Self {
            method: if empty_form { "GET" } else { "POST" },
            url: v.url.clone(),
            body: v.body.clone().into_bytes(),
            secret: v.secret.clone(),
            signature: v.signature.clone(),
        }
    }
}

fn algorithm(v: &Vector) -> Algorithm {
    Algorithm::from_name(&v.algorithm).expect("known algorithm")
}

/// Sends `sent` through a layer configured for vector `v`; returns the status and, on
/// success, checks what the inner service received.
async fn send(v: &Vector, sent: &Sent) -> (StatusCode, Option<Rejection>) {
    let url = pieces(&sent.url);
    let scheme = match url.scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => panic!("unexpected scheme {other}"),
    };
    let keyring = match &v.signature_settings {
        Some(settings) => {
            let id = settings
                .split(',')
                .find_map(|i| i.strip_prefix("key="))
                .unwrap();
            Keyring::new().with_shared_key(id, &sent.secret).unwrap()
        }
        None => Keyring::auth_token(&sent.secret).unwrap(),
    };
    // Userinfo never travels in the request line: the layer puts the configured
    // credentials back (the Basic-auth case).
    let variants = UrlVariants::default().userinfo(pieces(&v.url).userinfo);
    let layer = TwilioWebhookLayer::with_keyring(keyring)
        .scheme(scheme)
        .url_variants(variants);

    let expected_body = Bytes::from(sent.body.clone());
    let expected_params = v.params.clone();
    // A GET's params are its query's; the vector lists the body's.
    let is_form = v
        .content_type
        .starts_with("application/x-www-form-urlencoded")
        && sent.method == "POST";
    let is_shared = v.signature_settings.is_some();
    let service = ServiceBuilder::new().layer(layer).service(service_fn(
        move |request: Request<Full<Bytes>>| {
            let expected_body = expected_body.clone();
            let expected_params = expected_params.clone();
            async move {
                let marker = request
                    .extensions()
                    .get::<VerifiedWebhook>()
                    .cloned()
                    .expect("marker");
                let body = request.into_body().collect().await.unwrap().to_bytes();
                assert_eq!(body, expected_body, "the inner service sees the same bytes");
                if is_form {
                    let params: Vec<(String, String)> = marker
                        .params()
                        .iter()
                        .map(|(k, val)| (k.to_owned(), val.to_owned()))
                        .collect();
                    assert_eq!(params, expected_params);
                }
                let kind = if is_shared {
                    KeyKind::SharedKey
                } else {
                    KeyKind::AuthToken
                };
                assert_eq!(marker.key_kind(), kind);
                Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from("ok"))))
            }
        },
    ));

    let mut request = Request::builder()
        .method(sent.method)
        .uri(url.target)
        .header("host", url.host)
        .header("content-type", &v.content_type)
        .header("x-twilio-signature", &sent.signature);
    if let Some(settings) = &v.signature_settings {
        request = request.header("x-twilio-webhooks-signature-settings", settings);
    }
    let request = request
        .body(Full::new(Bytes::from(sent.body.clone())))
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    let rejection = response.extensions().get::<Rejection>().cloned();
    (response.status(), rejection)
}

/// `s` with the byte at `i` replaced by a different, equally harmless one.
fn change_byte(s: &str, i: usize) -> String {
    let mut bytes = s.as_bytes().to_vec();
    bytes[i] = match bytes[i] {
        b'a' => b'b',
        b'A' => b'B',
        b'0' => b'1',
        b if b.is_ascii_alphanumeric() => b'a',
        _ => b'x',
    };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn every_vector_passes_through_the_layer() {
    let all = vectors();
    for v in &all {
        let (status, rejection) = send(v, &Sent::of(v)).await;
        assert_eq!(status, StatusCode::OK, "vector {}: {rejection:?}", v.name);
    }
    println!("{} vectors passed", all.len());
}

#[tokio::test]
async fn every_vector_fails_with_one_byte_changed() {
    for v in vectors() {
        let good = Sent::of(&v);
        let url = pieces(&v.url);
        let host_at = v.url.find(url.host).unwrap();
        let path_at = v.url.rfind(url.target).unwrap() + 1;
        let mut changes: Vec<(&str, Sent)> = vec![
            (
                "host",
                Sent {
                    url: change_byte(&v.url, host_at),
                    ..good.clone()
                },
            ),
            (
                "path",
                Sent {
                    url: change_byte(&v.url, path_at),
                    ..good.clone()
                },
            ),
            (
                "secret",
                Sent {
                    secret: change_byte(&v.secret, 0),
                    ..good.clone()
                },
            ),
            (
                "signature",
                Sent {
                    signature: change_byte(&v.signature, 0),
                    ..good.clone()
                },
            ),
            (
                "signature end",
                Sent {
                    signature: change_byte(&v.signature, v.signature.len() - 2),
                    ..good.clone()
                },
            ),
        ];
        if let Some(q) = v.url.find('?') {
            changes.push((
                "query",
                Sent {
                    url: change_byte(&v.url, q + 1),
                    ..good.clone()
                },
            ));
        }
        if v.body.is_empty() {
            changes.push((
                "body",
                Sent {
                    body: b"x".to_vec(),
                    ..good.clone()
                },
            ));
        } else {
            for at in [0, v.body.len() / 2, v.body.len() - 1] {
                let body = change_byte(&v.body, at).into_bytes();
                changes.push((
                    "body",
                    Sent {
                        body,
                        ..good.clone()
                    },
                ));
            }
        }
        for (what, sent) in changes {
            let (status, rejection) = send(&v, &sent).await;
            // A body added to a GET is refused before it could be verified.
            let expected = if sent.method == "GET" && !sent.body.is_empty() {
                StatusCode::BAD_REQUEST
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(
                status, expected,
                "vector {} with one byte of the {what} changed must fail",
                v.name
            );
            assert!(rejection.is_some());
        }
    }
}

#[tokio::test]
async fn get_vectors_pass_as_get_requests() {
    // A GET signs the URL alone; its query is already in it.
    for v in vectors().iter().filter(|v| v.body.is_empty()) {
        let sent = Sent {
            method: "GET",
            ..Sent::of(v)
        };
        assert_eq!(send(v, &sent).await.0, StatusCode::OK, "{}", v.name);
    }
}

#[test]
fn every_vector_agrees_with_the_core() {
    for v in vectors() {
        let algorithm = algorithm(&v);
        let params: Vec<(&str, &str)> = v
            .params
            .iter()
            .map(|(k, val)| (k.as_str(), val.as_str()))
            .collect();
        assert_eq!(
            signature::sign(&v.secret, &v.url, params.iter().copied(), algorithm),
            v.signature,
            "vector {}",
            v.name
        );
        assert!(signature::verify(
            &v.secret,
            &v.url,
            params.iter().copied(),
            algorithm,
            &v.signature
        ));
        // A shared-key secret is not tried with the other algorithm.
        let other = match algorithm {
            Algorithm::HmacSha1 => Algorithm::HmacSha256,
            _ => Algorithm::HmacSha1,
        };
        assert!(!signature::verify(
            &v.secret,
            &v.url,
            params.iter().copied(),
            other,
            &v.signature
        ));
        if !v
            .content_type
            .starts_with("application/x-www-form-urlencoded")
        {
            assert_eq!(
                signature::check_body_sha256(&v.url, v.body.as_bytes()),
                Ok(())
            );
        }
    }
}
