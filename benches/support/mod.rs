//! Inputs shared by the benchmarks: the realistic voice webhook of
//! `benches/fixtures/voice_webhook.json` (also read by the peer scripts in `scripts/bench/`)
//! and generated bodies for the scaling runs. Fake tokens only.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::hint::black_box;

use bytes::Bytes;
use futures_util::FutureExt as _;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{Request, Response};
use http_body_util::Full;
use serde::Deserialize;
use tower::{Service, ServiceExt as _};
use tower_twilio::form::FormParams;
use tower_twilio::signature::{sign, Algorithm, Signature, SigningKey};

/// A signed webhook: the URL Twilio called, the raw form body and the header value.
#[derive(Clone, Debug, Deserialize)]
pub struct Webhook {
    pub auth_token: String,
    pub url: String,
    pub body: String,
    pub signature: String,
    pub bad_signature: String,
}

impl Webhook {
    /// The realistic input: 27 fields, 751 bytes, `https://example.com/twilio/voice?...`.
    pub fn voice() -> Self {
        let webhook: Self = serde_json::from_str(include_str!("../fixtures/voice_webhook.json"))
            .expect("benches/fixtures/voice_webhook.json is valid");
        assert!(
            webhook.verify(&webhook.key(), &webhook.signature),
            "the fixture's signature must verify"
        );
        assert!(!webhook.verify(&webhook.key(), &webhook.bad_signature));
        webhook
    }

    /// A webhook to the fixture's URL with `body`, signed with the fixture's token.
    pub fn with_body(body: String) -> Self {
        let voice = Self::voice();
        // Sign from pairs decoded by another decoder, so the benchmark checks ours too.
        let pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
        let signature = sign(
            &voice.auth_token,
            &voice.url,
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            Algorithm::HmacSha1,
        );
        let webhook = Self {
            body,
            signature,
            ..voice
        };
        assert!(webhook.verify(&webhook.key(), &webhook.signature));
        webhook
    }

    pub fn key(&self) -> SigningKey {
        SigningKey::new(self.auth_token.as_bytes())
    }

    /// Full verification, as the layer does it: decode the form, sort it, decode the
    /// header, MAC and compare.
    pub fn verify(&self, key: &SigningKey, header: &str) -> bool {
        verify(key, &self.url, self.body.as_bytes(), header)
    }

    /// The request as the layer sees it behind a TLS-terminating server: origin-form target,
    /// `Host`, form content type, length and signature, a one-frame `Full<Bytes>` body.
    pub fn request(&self, header: &str) -> Request<Full<Bytes>> {
        let rest = self.url.split_once("://").expect("absolute URL").1;
        let (host, target) = rest.split_at(rest.find('/').expect("a path"));
        Request::post(target)
            .header(HOST, host)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(CONTENT_LENGTH, self.body.len())
            .header("x-twilio-signature", header)
            .body(Full::new(Bytes::from(self.body.clone())))
            .expect("a valid request")
    }
}

/// Full verification of one request against one URL (no variants), as the layer does it:
/// decode the body, sort its pairs, decode the header, MAC and compare. What the benchmarks
/// call "verify".
pub fn verify(key: &SigningKey, url: &str, body: &[u8], header: &str) -> bool {
    let params = FormParams::parse(body);
    let canonical = params.canonical();
    match Signature::from_base64(header) {
        Ok(signature) => signature.matches(key, Algorithm::HmacSha1, url, &canonical),
        Err(_) => false,
    }
}

/// A deterministic pseudo-random sequence (xorshift64), so inputs are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// A body of `size` bytes (within a few bytes) with 16 fields of about equal length, whose
/// values mix plain text, `+` and `%XX` escapes like a message body does.
pub fn body_of_size(size: usize) -> String {
    const FIELDS: usize = 16;
    const TEXT: &str = "Hello+there%2C+it%27s+Twilio%21+";
    let per_field = size / FIELDS;
    let mut fields: Vec<String> = (0..FIELDS)
        .map(|i| {
            let mut field = format!("Field{i:02}=");
            while field.len() + TEXT.len() < per_field {
                field.push_str(TEXT);
            }
            while field.len() + 1 < per_field {
                field.push('x');
            }
            field
        })
        .collect();
    Rng(0x5eed).shuffle(&mut fields);
    fields.join("&")
}

/// A body with `count` short fields in shuffled order (`Param0042=value+42` and the like).
pub fn body_with_params(count: usize) -> String {
    let mut fields: Vec<String> = (0..count)
        .map(|i| match i % 3 {
            0 => format!("Param{i:04}=value+{i}"),
            1 => format!("Param{i:04}=%2B1415555{i:04}"),
            _ => format!("Param{i:04}=V{i}"),
        })
        .collect();
    Rng(0x5eed).shuffle(&mut fields);
    fields.join("&")
}

/// The type of [`inner`], the benchmarks' inner service.
pub type Inner = fn(Request<Full<Bytes>>) -> Ready<Result<Response<Full<Bytes>>, Infallible>>;

/// The inner service: drops the request and answers an empty 200.
pub fn inner(request: Request<Full<Bytes>>) -> Ready<Result<Response<Full<Bytes>>, Infallible>> {
    drop(black_box(request));
    ready(Ok(Response::new(Full::new(Bytes::new()))))
}

/// Polls the service ready, calls it and polls the response future once: with a
/// `Full<Bytes>` body and a ready inner future, that is the whole request.
pub fn call<S>(service: &mut S, request: Request<Full<Bytes>>) -> Response<Full<Bytes>>
where
    S: Service<Request<Full<Bytes>>, Response = Response<Full<Bytes>>, Error = Infallible>,
{
    let ready = service
        .ready()
        .now_or_never()
        .expect("always ready")
        .expect("infallible");
    ready
        .call(request)
        .now_or_never()
        .expect("completes without waiting")
        .expect("infallible")
}
