//! Regression tests for what the fuzz targets in `fuzz/` found (see `fuzz/README.md`). Each
//! test names the target and the minimized input that found the bug.

mod common;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{service_fn, Layer, ServiceExt};
use tower_twilio::keys::{AccountLookup, KeyLookupError};
use tower_twilio::signature::{self, Algorithm};
use tower_twilio::url::mask_userinfo;
use tower_twilio::{FormParams, Keyring, TwilioWebhookLayer, UrlVariants, VerifiedWebhook};

/// Form bodies whose decoded bytes are valid UTF-8 as a whole while a key/value or field
/// boundary falls inside a multi-byte character.
const SPLIT_CHARACTERS: [&[u8]; 6] = [
    b"\xC8&\x87", // form_canonical's minimized input: raw bytes, two fields
    b"%C3=%A9",   // key and value of one field
    b"a=%C3&%A9=b",
    b"\xC3=\xA9",
    b"%F0%9F=%98%80",
    b"x=%F0&%9F%98%80",
];

fn reference(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// fuzz target `form_canonical`, minimized input `C8 26 87` (`"\xC8&\x87"`).
///
/// `FormParams::parse` decoded the whole body into one buffer and fell back to lossy
/// decoding only when that buffer was not UTF-8. Here it is (`C8 87` is `ȇ`), but the field
/// ranges cut the character in two, and `iter()` (so `get`, `canonical`, `Debug`) panicked in
/// `src/form.rs` slicing `self.text[k.clone()]`: "byte index 1 is not a char boundary; it is
/// inside 'ȇ' (bytes 0..2)". Each key and value must be decoded on its own, as
/// `form_urlencoded` (axum's `Form`) does: here two U+FFFD keys.
#[test]
fn form_field_boundary_inside_a_utf8_character() {
    for body in SPLIT_CHARACTERS {
        let expected = reference(body);
        let expected: Vec<(&str, &str)> = expected
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let params = FormParams::parse(body);
        assert_eq!(params.len(), expected.len(), "{body:?}");
        assert_eq!(params.iter().collect::<Vec<_>>(), expected, "{body:?}");
        assert_eq!(
            params.canonical(),
            tower_twilio::canonical::CanonicalParams::from_pairs(expected.iter().copied()),
            "{body:?}"
        );
        assert_eq!(params.get(expected[0].0), Some(expected[0].1), "{body:?}");
    }
}

fn inner() -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<String>,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone {
    service_fn(|request: Request<Full<Bytes>>| async move {
        let webhook = request
            .extensions()
            .get::<VerifiedWebhook>()
            .cloned()
            .expect("verified");
        // What a handler does with the params (`TwilioParams`, `webhook.params().get(..)`).
        let params: Vec<(String, String)> = webhook
            .params()
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let mut response = Response::new(String::new());
        response.extensions_mut().insert(params);
        Ok::<_, std::convert::Infallible>(response)
    })
}

fn form_post(body: &'static [u8], signature: &str) -> Request<Full<Bytes>> {
    Request::post("/sms")
        .header("host", "example.com")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", signature)
        .body(Full::new(Bytes::from_static(body)))
        .unwrap()
}

/// A well-formed signature of nothing in particular: anyone can send it.
const FORGED: &str = "RSOYDt4T1cUTdK1PDd93/VVr8B8=";

/// The same bug through the layer, before any signature is checked: a client that sends a
/// well-formed (forged) `X-Twilio-Signature` and the body `%C3=%A9` (or, since GET webhooks
/// take their params from the query, `GET /sms?%C3=%A9`) must get a 403. With a key
/// resolver, the layer reads `AccountSid` from the unverified params first
/// (`account_lookup` -> `FormParams::get` -> `iter`) and panics, which kills the
/// connection's task (the whole server under `panic = "abort"`). (Without a resolver, the
/// layer panicked the same way while `canonical()` went through `iter()`.)
#[test]
fn layer_refuses_forged_requests_whose_params_split_a_utf8_character() {
    let with_token = TwilioWebhookLayer::new("fake_token").unwrap();
    let with_resolver = TwilioWebhookLayer::with_key_resolver(|_account: AccountLookup| async {
        Ok::<_, KeyLookupError>(Keyring::auth_token("fake_token").unwrap())
    });
    for layer in [&with_token, &with_resolver] {
        for body in SPLIT_CHARACTERS {
            let response = common::block_on(layer.layer(inner()).oneshot(form_post(body, FORGED)));
            let status = response.unwrap().status();
            assert_eq!(status, StatusCode::FORBIDDEN, "{body:?}");
        }
        for query in ["%C3=%A9", "a=%C3&%A9=b", "%F0%9F=%98%80", "x=%F0&%9F%98%80"] {
            let request = Request::get(format!("/sms?{query}"))
                .header("host", "example.com")
                .header("x-twilio-signature", FORGED)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let response = common::block_on(layer.layer(inner()).oneshot(request));
            let status = response.unwrap().status();
            assert_eq!(status, StatusCode::FORBIDDEN, "{query}");
        }
    }
}

/// Signed over the params as documented ("bytes that are not UTF-8 after decoding become
/// U+FFFD, as in axum's `Form`", i.e. as `form_urlencoded` decodes each key and value, and
/// as a validator built on a web framework's form decoding computes them), such a body must
/// verify, and the handler must get those params: the canonical string and `params()` must
/// come from the same decoded pairs. (A canonical string built from the raw decoded bytes
/// refused this signature with a 403 while `params().iter()` panicked on the same body.)
#[test]
fn layer_verifies_a_form_body_split_inside_a_utf8_character_as_documented() {
    let layer = TwilioWebhookLayer::new("fake_token").unwrap();
    let url = "http://example.com/sms";
    for body in SPLIT_CHARACTERS {
        let params = reference(body);
        let signature = signature::sign(
            "fake_token",
            url,
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            Algorithm::HmacSha1,
        );
        let response =
            common::block_on(layer.layer(inner()).oneshot(form_post(body, &signature))).unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{body:?}");
        assert_eq!(
            response.extensions().get::<Vec<(String, String)>>(),
            Some(&params),
            "{body:?}"
        );
    }
}

/// fuzz target `url_candidates`, minimized input `p://::`.
///
/// `mask_userinfo` returns the URL unchanged, password included, whenever `UrlParts::parse`
/// refuses it (`src/url.rs`, the `_ => url.to_owned()` arm): an empty host, a port that is
/// not digits (`http::Uri` accepts `http://u:pw@h:x/` as an absolute-form target), an
/// unclosed IPv6 bracket. The password must be masked whatever the host looks like.
#[test]
fn mask_userinfo_hides_the_password_of_any_url() {
    for url in [
        "p://u:hunter2@:",
        "http://u:hunter2@:/x",
        "https://u:hunter2@h:x/",
        "https://u:hunter2@[::1/x",
    ] {
        let masked = mask_userinfo(url);
        assert!(!masked.contains("hunter2"), "{url} -> {masked}");
    }
}

/// fuzz target `url_candidates`, minimized input `p://::`: the candidates the crate itself
/// builds with the configured credentials can be URLs it cannot parse again (`p://::` has
/// host `:` and an empty port; dropping the port gives `p://user:hunter2@:`), so their
/// `Debug` output (and the `urls_tried` of a rejection) shows the configured password.
#[test]
fn candidates_debug_never_shows_the_configured_password() {
    let variants = UrlVariants::default().userinfo(Some("user:hunter2"));
    for url in ["p://::", "http://::/x"] {
        let shown = format!("{:?}", variants.candidates(url));
        assert!(!shown.contains("hunter2"), "{url}: {shown}");
    }
}

/// fuzz target `layer` (strict mode), input `POST
/// http://user:p...w@example.com:80.example/` (absolute-form, a form body, a well-formed
/// forged signature): `http::Uri` accepts the authority `user:pw@example.com:80.example`,
/// the URL as seen keeps it, `UrlParts::parse` refuses its port, and so
/// `Rejection::urls_tried()`, which the layer logs as "passwords masked", showed the
/// password. Such a target is now refused before any URL is built (userinfo never travels
/// in a request target), so nothing with the password is tried, logged or kept.
#[test]
fn rejection_logs_no_password_from_an_absolute_form_target() {
    let layer = TwilioWebhookLayer::new("fake_token").unwrap();
    for target in [
        "http://user:hunter2@example.com:80.example/voice",
        "http://user:hunter2@example.com:x/voice",
    ] {
        let request = Request::post(target)
            .header("host", "example.com")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-twilio-signature", FORGED)
            .body(Full::new(Bytes::from_static(b"CallSid=CA1")))
            .unwrap();
        let response = common::block_on(layer.layer(inner()).oneshot(request)).unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{target}");
        let rejection = response
            .extensions()
            .get::<tower_twilio::Rejection>()
            .expect("a rejection");
        assert_eq!(
            rejection.reason(),
            tower_twilio::RejectionReason::Url(tower_twilio::public_url::UrlError::InvalidHost)
        );
        for url in rejection.urls_tried() {
            assert!(!url.contains("hunter2"), "{target}: logged {url}");
        }
        assert!(!format!("{rejection:?}").contains("hunter2"), "{target}");
    }
}
