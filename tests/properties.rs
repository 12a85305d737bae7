//! Property tests (proptest) of the pure algorithm and of the layer around it.
//!
//! * signing then verifying passes for any URL, params and secret, directly and through the
//!   layer (`testing::form_request`);
//! * any one change to the URL, a param key or value, the secret or the signature makes
//!   verification fail, setting the unused trailing bits of the base64 signature included;
//! * decoding a body and verifying its signature (`FormParams::parse`, then
//!   `Signature::matches`) accepts the `hmac` crate's MAC of the naive canonical string, for
//!   any body, URL and secret;
//! * `FormParams::parse` round-trips with `form_urlencoded::Serializer` and agrees with
//!   `form_urlencoded::parse` on any bytes;
//! * URL candidates never panic, start with the URL as seen and are distinct;
//! * `CanonicalParams::from_pairs` does not depend on the order of the pairs.
//!
//! 256 cases per property keep the file at a few seconds in a debug build. A failure is
//! saved in `tests/proptest-regressions/properties.txt` and replayed first on the next run.

mod common;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use proptest::prelude::*;
use proptest::sample::Index;
use tower::{service_fn, Layer, ServiceExt};
use tower_twilio::canonical::CanonicalParams;
use tower_twilio::signature::{self, Algorithm};
use tower_twilio::{testing, FormParams, TwilioWebhookLayer, UrlVariants, VerifiedWebhook};

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

fn algorithm() -> impl Strategy<Value = Algorithm> {
    prop_oneof![Just(Algorithm::HmacSha1), Just(Algorithm::HmacSha256)]
}

/// Keys and values: any Unicode, often empty, often from a small set so keys repeat.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => any::<String>(),
        2 => "[a-cA-C]{0,2}",
        1 => Just(String::new()),
        1 => "[&=+% ?#/é\u{0}\u{1F600}]{0,4}",
    ]
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((text(), text()), 0..8)
}

fn as_strs(params: &[(String, String)]) -> Vec<(&str, &str)> {
    params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// Twilio's parameter string, written independently of the crate: pairs sorted by key then
/// value, duplicates once, concatenated.
fn reference_canonical(params: &[(String, String)]) -> Vec<u8> {
    let mut pairs = as_strs(params);
    pairs.sort_unstable();
    pairs.dedup();
    pairs
        .iter()
        .flat_map(|(k, v)| k.bytes().chain(v.bytes()))
        .collect()
}

/// `s` with the character at `at` replaced by a different one.
fn change_char(s: &str, at: Index, replacement: char) -> Option<String> {
    if s.is_empty() {
        return None;
    }
    let chars: Vec<char> = s.chars().collect();
    let i = at.index(chars.len());
    let replacement = if replacement == chars[i] {
        // Still a different character.
        if replacement == 'a' {
            'b'
        } else {
            'a'
        }
    } else {
        replacement
    };
    let mut out: String = chars[..i].iter().collect();
    out.push(replacement);
    out.extend(&chars[i + 1..]);
    Some(out)
}

/// Standard base64 with padding, as Twilio sends it.
fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Bytes dense in what a form decoder must get right: separators, escapes (valid, short,
/// invalid), pieces of UTF-8 sequences raw and escaped, bytes that are never UTF-8.
fn any_form_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        3 => prop::sample::select(vec![&b"&"[..], b"=", b"+", b"%"]),
        2 => prop::sample::select(vec![&b"0"[..], b"a", b"F", b"g", b"%4", b"%41", b"%2b", b"%zz"]),
        2 => prop::sample::select(vec![
            &b"\xC3"[..], b"\xA9", b"\xF0\x9F", b"\x98\x80", b"\xFF", b"\xFE",
            b"%C3", b"%A9", b"%F0%9F", b"%98%80", b"%FF", b"%c3%a9",
        ]),
    ]
    .prop_map(<[u8]>::to_vec);
    let token = prop_oneof![3 => token, 1 => any::<u8>().prop_map(|b| vec![b])];
    prop::collection::vec(token, 0..32).prop_map(|tokens| tokens.concat())
}

/// Valid UTF-8 text, some bytes percent-encoded, with `&` and `=` inserted at any byte
/// offset, often inside a character: the decoded bytes are valid UTF-8 as a whole while a
/// field or key/value boundary splits a character.
fn split_utf8_body() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(
            prop::sample::select(vec![
                'a',
                'Z',
                '0',
                ' ',
                '\u{e9}',
                '\u{207}',
                '\u{20ac}',
                '\u{1f600}',
            ]),
            0..8,
        ),
        prop::collection::vec(
            (any::<Index>(), prop::sample::select(vec![b'&', b'='])),
            0..4,
        ),
        any::<u64>(),
    )
        .prop_map(|(chars, separators, escape)| {
            let text: String = chars.into_iter().collect();
            let mut pieces: Vec<Vec<u8>> = text
                .bytes()
                .enumerate()
                .map(|(i, b)| {
                    if escape >> (i % 64) & 1 == 1 {
                        format!("%{b:02X}").into_bytes()
                    } else {
                        vec![b]
                    }
                })
                .collect();
            for (at, separator) in separators {
                let at = at.index(pieces.len() + 1);
                pieces.insert(at, vec![separator]);
            }
            pieces.concat()
        })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sign_then_verify_passes(
        url in any::<String>(),
        params in params(),
        secret in prop::collection::vec(any::<u8>(), 0..80),
        algorithm in algorithm(),
    ) {
        let pairs = as_strs(&params);
        let header = signature::sign(&secret, &url, pairs.iter().copied(), algorithm);
        prop_assert!(signature::verify(&secret, &url, pairs.iter().copied(), algorithm, &header));
        // In any order: the pairs are sorted before signing.
        prop_assert!(signature::verify(&secret, &url, pairs.iter().rev().copied(), algorithm, &header));
        // Unpadded, as some clients send it.
        prop_assert!(signature::verify(
            &secret, &url, pairs.iter().copied(), algorithm, header.trim_end_matches('=')
        ));
        // The other algorithm never accepts it (different length).
        let other = match algorithm {
            Algorithm::HmacSha1 => Algorithm::HmacSha256,
            _ => Algorithm::HmacSha1,
        };
        prop_assert!(!signature::verify(&secret, &url, pairs.iter().copied(), other, &header));
    }

    #[test]
    fn a_changed_url_fails(
        url in ".{1,40}",
        params in params(),
        at in any::<Index>(),
        replacement in any::<char>(),
        algorithm in algorithm(),
    ) {
        let pairs = as_strs(&params);
        let header = signature::sign("fake_token", &url, pairs.iter().copied(), algorithm);
        let changed = change_char(&url, at, replacement).unwrap();
        prop_assert_ne!(&changed, &url);
        prop_assert!(!signature::verify("fake_token", &changed, pairs.iter().copied(), algorithm, &header));
    }

    #[test]
    fn a_changed_param_key_or_value_fails(
        url in "https://example\\.com/[a-z]{0,5}",
        params in prop::collection::vec((text(), text()), 1..8),
        which in any::<Index>(),
        change_key in any::<bool>(),
        at in any::<Index>(),
        replacement in any::<char>(),
        algorithm in algorithm(),
    ) {
        let header = signature::sign("fake_token", &url, as_strs(&params), algorithm);
        let mut changed = params.clone();
        let pair = &mut changed[which.index(params.len())];
        let target = if change_key { &mut pair.0 } else { &mut pair.1 };
        *target = match change_char(target, at, replacement) {
            Some(s) => s,
            // An empty key or value: give it one character instead.
            None => replacement.to_string(),
        };
        // Only a change of the data Twilio signs must fail: reordering repeated values or
        // turning a pair into a duplicate of another can leave it equal.
        prop_assume!(reference_canonical(&changed) != reference_canonical(&params));
        prop_assert!(!signature::verify("fake_token", &url, as_strs(&changed), algorithm, &header));
    }

    #[test]
    fn a_changed_secret_fails(
        url in ".{0,40}",
        params in params(),
        secret in prop::collection::vec(any::<u8>(), 1..100),
        at in any::<Index>(),
        flip in 1u8..=255,
        algorithm in algorithm(),
    ) {
        let pairs = as_strs(&params);
        let header = signature::sign(&secret, &url, pairs.iter().copied(), algorithm);
        let mut changed = secret.clone();
        changed[at.index(secret.len())] ^= flip;
        prop_assert!(!signature::verify(&changed, &url, pairs.iter().copied(), algorithm, &header));
    }

    #[test]
    fn a_changed_signature_fails(
        url in ".{0,40}",
        params in params(),
        at in any::<Index>(),
        replacement in prop_oneof![
            3 => prop::sample::select(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=".to_vec()
            ),
            1 => any::<u8>(),
        ],
        algorithm in algorithm(),
    ) {
        let pairs = as_strs(&params);
        let header = signature::sign("fake_token", &url, pairs.iter().copied(), algorithm);
        let mut changed = header.clone().into_bytes();
        let i = at.index(changed.len());
        prop_assume!(changed[i] != replacement);
        changed[i] = replacement;
        // Any other byte: a different MAC, a non-canonical last character (its unused low
        // bits set), misplaced padding, or not base64 at all. None may pass.
        let changed = String::from_utf8_lossy(&changed);
        prop_assert!(!signature::verify("fake_token", &url, pairs.iter().copied(), algorithm, &changed),
            "{header} -> {changed}");
    }

    #[test]
    fn non_canonical_trailing_bits_are_refused(
        url in ".{0,40}",
        params in params(),
        bits in 1u8..=3,
        padded in any::<bool>(),
        algorithm in algorithm(),
    ) {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let pairs = as_strs(&params);
        let header = signature::sign("fake_token", &url, pairs.iter().copied(), algorithm);
        // 20 and 32 bytes both leave the last character's two low bits unused.
        let data = header.trim_end_matches('=');
        let last = data.len() - 1;
        let value = ALPHABET.iter().position(|&c| c == data.as_bytes()[last]).unwrap();
        prop_assert_eq!(value & 3, 0, "sign writes canonical base64");
        let mut changed = data.as_bytes().to_vec();
        changed[last] = ALPHABET[value ^ usize::from(bits)];
        let mut changed = String::from_utf8(changed).unwrap();
        if padded {
            changed.push_str(&header[data.len()..]);
        }
        // Decodes to the same MAC bytes by a lenient decoder; refused here.
        prop_assert!(signature::Signature::from_base64(&changed).is_err(), "{}", changed);
        prop_assert!(!signature::verify("fake_token", &url, pairs.iter().copied(), algorithm, &changed));
    }

    #[test]
    fn signed_form_requests_pass_the_layer(
        path in "(/[a-zA-Z0-9._~%!$'()*+,;=:@-]{0,8}){1,3}/?",
        query in proptest::option::of("[a-zA-Z0-9._~%!$'()*+,;=:@/?&-]{0,20}"),
        params in params(),
    ) {
        let url = match &query {
            Some(query) => format!("http://example.com{path}?{query}"),
            None => format!("http://example.com{path}"),
        };
        let pairs = as_strs(&params);
        let request = testing::form_request("fake_token", &url, &pairs);
        let layer = TwilioWebhookLayer::new("fake_token").unwrap();
        let service = layer.layer(service_fn(|request: Request<Full<Bytes>>| async move {
            let webhook = request.extensions().get::<VerifiedWebhook>().cloned();
            let mut response = Response::new(String::new());
            if let Some(webhook) = webhook {
                response.extensions_mut().insert(webhook);
            }
            Ok::<_, std::convert::Infallible>(response)
        }));
        let response = common::block_on(service.oneshot(request)).unwrap();
        // A form POST with nothing in it signs what a GET of the URL signs: refused.
        if pairs.iter().all(|(k, v)| k.is_empty() && v.is_empty()) {
            prop_assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{}", url);
            return Ok(());
        }
        prop_assert_eq!(response.status(), StatusCode::OK, "{}", url);
        let webhook = response.extensions().get::<VerifiedWebhook>().expect("verified");
        // The path with no trailing slash (when there was one) is a candidate after the
        // URL itself, so the URL as seen is what matched.
        prop_assert_eq!(webhook.url(), url.as_str());
        prop_assert_eq!(webhook.params().iter().collect::<Vec<_>>(), pairs);
    }

    #[test]
    fn form_params_round_trip_through_the_serializer(params in params()) {
        let pairs = as_strs(&params);
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&pairs)
            .finish();
        let parsed = FormParams::parse(body.as_bytes());
        prop_assert_eq!(parsed.iter().collect::<Vec<_>>(), pairs);
        prop_assert_eq!(parsed.len(), params.len());
        let canonical = parsed.canonical();
        let expected = reference_canonical(&params);
        prop_assert_eq!(canonical.to_bytes(), expected);
    }

    #[test]
    fn verification_agrees_with_hmac_over_the_decoded_pairs(
        body in prop_oneof![
            any_form_bytes(),
            split_utf8_body(),
            // Twilio-like: plain keys that often share their first 7 or 14 bytes, values
            // with escapes, fields across 64-byte blocks, now and then a repeated pair.
            "((Call|Called|Caller)(City|Country|Status|StatusCallbackEvent)?=([a-z0-9]|%2B|\\+){0,40}&){0,30}"
                .prop_map(String::into_bytes),
        ],
        url in "https://[a-z]{1,80}\\.com/[a-z/]{0,80}(\\?[a-z=&]{0,40})?",
        secret in "[a-zA-Z0-9]{1,100}",
    ) {
        use hmac::{Hmac, KeyInit, Mac};
        use tower_twilio::signature::{Signature, SigningKey};

        // The reference: another decoder, the naive canonical string, the `hmac` crate.
        let reference: Vec<(String, String)> = form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(url.as_bytes());
        mac.update(&reference_canonical(&reference));
        let header = base64_encode(&mac.finalize().into_bytes());

        let key = SigningKey::new(secret.as_bytes());
        let signature = Signature::from_base64(&header).unwrap();
        let params = FormParams::parse(&body);
        let canonical = params.canonical();
        prop_assert!(signature.matches(&key, Algorithm::HmacSha1, &url, &canonical));
        prop_assert_eq!(params.iter().collect::<Vec<_>>(), as_strs(&reference));
        // The same signature on another URL does not match.
        let other_url = format!("{url}x");
        prop_assert!(!signature.matches(&key, Algorithm::HmacSha1, &other_url, &canonical));
    }

    #[test]
    fn form_params_agree_with_form_urlencoded_on_any_bytes(
        body in prop_oneof![any_form_bytes(), split_utf8_body()]
    ) {
        let parsed = FormParams::parse(&body);
        let reference: Vec<(String, String)> = form_urlencoded::parse(&body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        prop_assert_eq!(parsed.iter().collect::<Vec<_>>(), as_strs(&reference));
        let canonical = parsed.canonical();
        let expected = reference_canonical(&reference);
        prop_assert_eq!(canonical.to_bytes(), expected);
    }

    #[test]
    fn candidates_start_with_the_url_and_are_distinct(
        url in prop_oneof![
            any::<String>(),
            "(https?|wss?|ftp|HTTP)://([a-z]{1,3}(:[a-z]{0,3})?@)?([a-z.]{1,8}|\\[[0-9a-f:]{2,8}\\])(:[0-9]{0,5})?(/[a-z]{0,3}){0,3}/?(\\?[a-z=&/?]{0,6})?(#[a-z/]{0,3})?",
        ],
        userinfo in proptest::option::of("[a-z]{1,3}:[a-z%0-9]{0,4}"),
    ) {
        for variants in [
            UrlVariants::default(),
            UrlVariants::default().userinfo(userinfo.as_deref()),
            UrlVariants::none(),
        ] {
            let candidates = variants.candidates(&url);
            let all = candidates.to_vec();
            prop_assert_eq!(all.len(), candidates.len());
            prop_assert_eq!(all[0].as_str(), url.as_str());
            for (i, a) in all.iter().enumerate() {
                prop_assert!(!all[i + 1..].contains(a), "{:?} repeats {:?}", all, a);
            }
        }
        prop_assert_eq!(UrlVariants::none().candidates(&url).len(), 1);
    }

    #[test]
    fn canonical_params_do_not_depend_on_order(
        (params, shuffled) in params().prop_flat_map(|p| (Just(p.clone()), Just(p).prop_shuffle()))
    ) {
        let canonical = CanonicalParams::from_pairs(as_strs(&params));
        prop_assert_eq!(&CanonicalParams::from_pairs(as_strs(&shuffled)), &canonical);
        let expected = reference_canonical(&params);
        prop_assert_eq!(canonical.to_bytes(), expected);
    }
}
