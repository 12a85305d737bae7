//! `SignatureSettings::parse` on arbitrary strings, `Signature::from_base64` on arbitrary
//! bytes (checked against the `base64` crate as a reference decoder), and
//! `check_body_sha256` on an arbitrary URL and body.
#![no_main]

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tower_twilio::keys::{SettingsError, SignatureSettings};
use tower_twilio::signature::{
    body_sha256, check_body_sha256, sign, Algorithm, BodyHashError, MalformedSignature, Signature,
    SigningKey,
};

/// Standard alphabet, padding optional, non-canonical trailing bits refused.
const REFERENCE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    match SignatureSettings::parse(&text) {
        Ok(None) => assert!(text.trim().is_empty()),
        Ok(Some(settings)) => {
            assert!(!settings.key.is_empty());
            assert_eq!(settings.key, settings.key.trim());
            assert!(!settings.key.contains(','));
            let key_items = text
                .split(',')
                .filter_map(|item| item.split_once('='))
                .filter(|(name, _)| name.trim() == "key")
                .map(|(_, value)| value.trim())
                .collect::<Vec<_>>();
            assert_eq!(key_items, [settings.key]);
            assert!(matches!(
                settings.algorithm,
                Algorithm::HmacSha1 | Algorithm::HmacSha256
            ));
            assert_eq!(
                Algorithm::from_name(settings.algorithm.name()),
                Some(settings.algorithm)
            );
        }
        Err(SettingsError::UnknownKey) => panic!("parse cannot know the keys"),
        Err(_) => assert!(!text.trim().is_empty()),
    }

    // The header decoder agrees with the reference decoder on what is a 20- or 32-byte MAC.
    let decoded = Signature::from_base64(data);
    let reference = if data.len() > 64 {
        None // longer than any MAC: the reference is not consulted (from_base64 refuses > 44)
    } else {
        REFERENCE.decode(data).ok()
    };
    match (&decoded, &reference) {
        (Ok(signature), Some(bytes)) => {
            assert!(bytes.len() == 20 || bytes.len() == 32);
            let expected = if bytes.len() == 32 {
                Algorithm::HmacSha256
            } else {
                Algorithm::HmacSha1
            };
            assert_eq!(signature.algorithm_by_length(), expected);
        }
        (Ok(_), None) => panic!("from_base64 accepted {data:?}, which is not base64"),
        (Err(MalformedSignature::Empty), _) => assert!(data.is_empty()),
        (Err(MalformedSignature::WrongLength), Some(bytes)) => {
            assert!(bytes.len() != 20 && bytes.len() != 32)
        }
        (Err(MalformedSignature::WrongLength), None) => assert!(data.len() > 44),
        (Err(MalformedSignature::NotBase64), Some(bytes)) => {
            panic!(
                "from_base64 refused {data:?}, valid base64 of {} bytes",
                bytes.len()
            )
        }
        (Err(_), None) => {}
        (Err(err), Some(_)) => panic!("unexpected {err:?}"),
    }

    // A decoded signature matches exactly what signing produces.
    if let Ok(signature) = decoded {
        let key = SigningKey::new(data);
        let algorithm = signature.algorithm_by_length();
        let url = text.as_ref();
        let header = sign(data, url, [], algorithm);
        let ours = Signature::from_base64(&header).expect("sign writes a valid header");
        let params = Default::default();
        assert!(ours.matches(&key, algorithm, url, &params));
        assert_eq!(
            signature.matches(&key, algorithm, url, &params),
            REFERENCE.encode(REFERENCE.decode(data).unwrap()) == header
        );
    }

    // bodySHA256: every `bodySHA256=` value of the query (before any `#`) must be the
    // body's lowercase hex SHA-256, and there must be one.
    let mid = (0..=text.len() / 2)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let (url, body) = text.split_at(mid);
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    let values: Vec<&str> = query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("bodySHA256="))
        .collect();
    let hash = body_sha256(body.as_bytes());
    let expected = if values.is_empty() {
        Err(BodyHashError::Missing)
    } else if values.iter().all(|v| *v == hash) {
        Ok(())
    } else {
        Err(BodyHashError::Mismatch)
    };
    assert_eq!(check_body_sha256(url, body.as_bytes()), expected);
});
