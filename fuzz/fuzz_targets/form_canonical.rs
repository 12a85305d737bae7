//! `FormParams::parse` on arbitrary bytes, then `iter`, `get`, `get_all` and `canonical`.
//!
//! Checks: no panic; the pairs are exactly what `form_urlencoded::parse` (axum's `Form`)
//! decodes, invalid escapes and invalid UTF-8 included; `get`/`get_all` agree with `iter`
//! (in the signed order: a key's values sorted);
//! the canonical bytes are the sorted, de-duplicated pairs concatenated (so their length is
//! the sum of key + value lengths of those pairs) and do not depend on the pairs' order;
//! serializing the pairs again and parsing gives them back; the MAC of the canonical
//! string fed piece by piece (`Signature::matches`) accepts exactly the signature of the
//! concatenated string, with a URL shorter and one longer than a SHA-1 block.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use tower_twilio::canonical::CanonicalParams;
use tower_twilio::signature::{Algorithm, Signature, SigningKey};
use tower_twilio::FormParams;

fuzz_target!(|data: &[u8]| {
    let params = FormParams::parse(data);
    let pairs: Vec<(&str, &str)> = params.iter().collect();
    assert_eq!(pairs.len(), params.len());
    assert_eq!(params.is_empty(), pairs.is_empty());

    // Differential: the reference decoder gives the same pairs.
    let reference: Vec<(String, String)> = form_urlencoded::parse(data)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let reference: Vec<(&str, &str)> = reference
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        pairs, reference,
        "FormParams::parse disagrees with form_urlencoded"
    );

    // `get` and `get_all` answer in the signed order: a key's values sorted.
    let values_of = |key: &str| {
        let mut all: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| *v)
            .collect();
        all.sort_unstable();
        all
    };
    for &(key, _) in pairs.iter().take(16) {
        let all = values_of(key);
        assert_eq!(params.get(key), all.first().copied());
        assert_eq!(params.get_all(key).collect::<Vec<_>>(), all);
    }
    // A key that is (usually) absent; the fuzzer learns constants, so it may be present.
    let rare = "\u{0}rare key\u{0}";
    assert_eq!(params.get(rare), values_of(rare).first().copied());

    // The canonical string: keys, then values, in byte order; duplicates once.
    let canonical = params.canonical();
    let mut sorted = pairs.clone();
    sorted.sort_unstable();
    sorted.dedup();
    let expected_len: usize = sorted.iter().map(|(k, v)| k.len() + v.len()).sum();
    let canonical_bytes = canonical.to_bytes();
    assert_eq!(canonical_bytes.len(), expected_len);
    let expected: Vec<u8> = sorted
        .iter()
        .flat_map(|(k, v)| k.bytes().chain(v.bytes()))
        .collect();
    assert_eq!(canonical_bytes, expected);
    assert_eq!(
        CanonicalParams::from_pairs(pairs.iter().rev().copied()),
        canonical
    );
    assert_eq!(
        CanonicalParams::from_pairs(sorted.iter().copied()),
        canonical
    );

    // Round trip through the reference encoder.
    let encoded = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&pairs)
        .finish();
    let again = FormParams::parse(encoded.as_bytes());
    assert_eq!(again.iter().collect::<Vec<_>>(), pairs);
    assert_eq!(again.canonical(), canonical);

    // The MAC over the pieces is the MAC over the whole string: a reference HMAC of the
    // URL and the concatenated canonical bytes is accepted, another string's is not.
    let key = SigningKey::new(b"fake_fuzz_token");
    for url in [
        "https://example.com/sms",
        "https://example.com/a/path/that/is/longer/than/one/block/of/sha1/input?q=1",
    ] {
        let whole = [url.as_bytes(), &canonical_bytes].concat();
        let reference = common::hmac_sha1_base64(b"fake_fuzz_token", &whole);
        let signature = Signature::from_base64(&reference).expect("base64 of a MAC");
        assert!(signature.matches(&key, Algorithm::HmacSha1, url, &canonical));
        let other = key.sign(Algorithm::HmacSha1, url, &CanonicalParams::from_pairs([("\0", "x")]));
        let other = Signature::from_base64(&other).expect("sign writes base64");
        let expected = canonical_bytes == b"\0x";
        assert_eq!(other.matches(&key, Algorithm::HmacSha1, url, &canonical), expected);
    }

    let _ = format!("{params:?} {canonical:?}");
});
