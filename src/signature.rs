//! The MAC over the string Twilio signs, and the body hash of non-form requests.
//!
//! Nothing here knows about HTTP or Tower, so it can be read, tested, benchmarked and
//! fuzzed on its own. The [layer](crate::TwilioWebhookLayer) is a shell around it.
//!
//! Twilio computes
//!
//! ```text
//! data      = URL + for key in sort(keys): for value in sort(unique(values[key])): key + value
//! signature = base64(HMAC(secret, data))
//! ```
//!
//! and sends `signature` in `X-Twilio-Signature`. [`CanonicalParams`] is the second half of
//! `data`; [`SigningKey`] holds a secret ready to MAC with; [`Signature`] is the decoded header.
//!
//! ```
//! use tower_twilio::signature::{self, Algorithm};
//!
//! let url = "https://example.com/voice";
//! let params = [("CallSid", "CA123"), ("From", "+14158675309")];
//! let header = signature::sign(b"fake_token", url, params, Algorithm::HmacSha1);
//! assert!(signature::verify(b"fake_token", url, params, Algorithm::HmacSha1, &header));
//! assert!(!signature::verify(b"other_token", url, params, Algorithm::HmacSha1, &header));
//! ```

use std::fmt;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::canonical::CanonicalParams;

/// Standard alphabet; padding optional on input so a client that strips `=` is not
/// refused for formatting alone (the bytes are what we compare).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The longest MAC we produce (HMAC-SHA256).
const MAX_MAC_LEN: usize = 32;

/// The longest base64 encoding of a MAC: 32 bytes, padded.
const MAX_HEADER_LEN: usize = 44;

/// The HMAC a signature was made with.
///
/// Auth Token signatures are always [`HmacSha1`](Algorithm::HmacSha1); shared keys name
/// theirs in the `X-Twilio-Webhooks-Signature-Settings` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA1 (`HMAC_SHA1`): legacy Auth Token signatures and SHA-1 shared keys.
    HmacSha1,
    /// HMAC-SHA256 (`HMAC_SHA256`): shared keys configured for it.
    HmacSha256,
}

impl Algorithm {
    /// Parses the name Twilio uses in the settings header (`HMAC_SHA1`, `HMAC_SHA256`).
    ///
    /// Anything else is `None`: an unknown algorithm must fail, never fall back.
    ///
    /// ```
    /// use tower_twilio::signature::Algorithm;
    /// assert_eq!(Algorithm::from_name("HMAC_SHA256"), Some(Algorithm::HmacSha256));
    /// assert_eq!(Algorithm::from_name("MD5"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "HMAC_SHA1" => Some(Self::HmacSha1),
            "HMAC_SHA256" => Some(Self::HmacSha256),
            _ => None,
        }
    }

    /// The name Twilio uses for this algorithm.
    pub const fn name(self) -> &'static str {
        match self {
            Self::HmacSha1 => "HMAC_SHA1",
            Self::HmacSha256 => "HMAC_SHA256",
        }
    }

    /// Length in bytes of a MAC made with this algorithm (20 or 32).
    pub const fn mac_len(self) -> usize {
        match self {
            Self::HmacSha1 => 20,
            Self::HmacSha256 => 32,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A secret prepared for signing with either algorithm.
///
/// The HMAC key schedule (the inner and outer padded key blocks) is computed once here, so
/// verifying a request hashes only the message. The raw secret is not kept; the prepared
/// state is zeroized on drop and never shown by `Debug`.
///
/// ```
/// use tower_twilio::signature::SigningKey;
/// let key = SigningKey::new(b"fake_token");
/// assert_eq!(format!("{key:?}"), "SigningKey(<redacted>)");
/// ```
#[derive(Clone)]
pub struct SigningKey {
    sha1: Hmac<Sha1>,
    sha256: Hmac<Sha256>,
}

impl SigningKey {
    /// Prepares `secret` (an Auth Token or a shared key's signing secret, as bytes).
    pub fn new(secret: &[u8]) -> Self {
        // HMAC takes keys of any length: these cannot fail.
        Self {
            sha1: Hmac::new_from_slice(secret).expect("HMAC accepts keys of any length"),
            sha256: Hmac::new_from_slice(secret).expect("HMAC accepts keys of any length"),
        }
    }

    /// The MAC of the string to sign for `url` and `params`, fed to the HMAC piece by piece.
    fn mac(&self, algorithm: Algorithm, url: &str, params: &CanonicalParams<'_>) -> MacBytes {
        let mut out = MacBytes {
            bytes: [0; MAX_MAC_LEN],
            len: algorithm.mac_len(),
        };
        match algorithm {
            Algorithm::HmacSha1 => {
                let mut mac = self.sha1.clone();
                params
                    .string_to_sign(url)
                    .for_each(|piece| mac.update(piece));
                out.bytes[..20].copy_from_slice(&mac.finalize().into_bytes());
            }
            Algorithm::HmacSha256 => {
                let mut mac = self.sha256.clone();
                params
                    .string_to_sign(url)
                    .for_each(|piece| mac.update(piece));
                out.bytes.copy_from_slice(&mac.finalize().into_bytes());
            }
        }
        out
    }

    /// The `X-Twilio-Signature` value for `url` and `params`.
    ///
    /// ```
    /// use tower_twilio::canonical::CanonicalParams;
    /// use tower_twilio::signature::{Algorithm, SigningKey};
    /// let key = SigningKey::new(b"12345");
    /// let params = CanonicalParams::from_pairs([("foo", "bar")]);
    /// let header = key.sign(Algorithm::HmacSha1, "https://example.com/test", &params);
    /// assert_eq!(header.len(), 28);
    /// ```
    pub fn sign(&self, algorithm: Algorithm, url: &str, params: &CanonicalParams<'_>) -> String {
        BASE64.encode(self.mac(algorithm, url, params).as_slice())
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningKey(<redacted>)")
    }
}

/// A MAC value of up to [`MAX_MAC_LEN`] bytes, on the stack.
#[derive(Clone, Copy)]
struct MacBytes {
    bytes: [u8; MAX_MAC_LEN],
    len: usize,
}

impl MacBytes {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Why an `X-Twilio-Signature` value could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedSignature {
    /// The header is empty.
    Empty,
    /// The header is not standard base64.
    NotBase64,
    /// The header decodes to a length no supported algorithm produces.
    WrongLength,
}

impl fmt::Display for MalformedSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "signature header is empty",
            Self::NotBase64 => "signature header is not base64",
            Self::WrongLength => "signature header has the wrong length for HMAC-SHA1/SHA256",
        })
    }
}

impl std::error::Error for MalformedSignature {}

/// A decoded `X-Twilio-Signature` value: the MAC bytes Twilio sent.
///
/// Decoded once per request; [`matches`](Signature::matches) then compares it in constant
/// time against each URL candidate and key.
///
/// ```
/// use tower_twilio::signature::{MalformedSignature, Signature};
/// assert!(Signature::from_base64("RSOYDt4T1cUTdK1PDd93/VVr8B8=").is_ok());
/// assert_eq!(Signature::from_base64("").unwrap_err(), MalformedSignature::Empty);
/// assert_eq!(Signature::from_base64("!!").unwrap_err(), MalformedSignature::NotBase64);
/// assert_eq!(Signature::from_base64("AAAA").unwrap_err(), MalformedSignature::WrongLength);
/// ```
#[derive(Clone, Copy)]
pub struct Signature {
    mac: MacBytes,
}

impl Signature {
    /// Decodes a header value (standard base64, padding optional).
    pub fn from_base64(header: impl AsRef<[u8]>) -> Result<Self, MalformedSignature> {
        let header = header.as_ref();
        if header.is_empty() {
            return Err(MalformedSignature::Empty);
        }
        // Longer than any MAC's encoding: refused without decoding; the reason only says
        // whether it looked like base64 (letters, digits, `+`, `/`, `=`).
        if header.len() > MAX_HEADER_LEN {
            let base64_like = header
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(b));
            return Err(if base64_like {
                MalformedSignature::WrongLength
            } else {
                MalformedSignature::NotBase64
            });
        }
        let mut bytes = [0u8; MAX_MAC_LEN + 1];
        let len = BASE64
            .decode_slice(header, &mut bytes)
            .map_err(|_| MalformedSignature::NotBase64)?;
        if len != Algorithm::HmacSha1.mac_len() && len != Algorithm::HmacSha256.mac_len() {
            return Err(MalformedSignature::WrongLength);
        }
        let mut mac = MacBytes {
            bytes: [0; MAX_MAC_LEN],
            len,
        };
        mac.bytes[..len].copy_from_slice(&bytes[..len]);
        Ok(Self { mac })
    }

    /// The MAC bytes (20 or 32).
    pub fn as_bytes(&self) -> &[u8] {
        self.mac.as_slice()
    }

    /// The algorithm whose output length this signature has.
    pub fn algorithm_by_length(&self) -> Algorithm {
        if self.mac.len == Algorithm::HmacSha256.mac_len() {
            Algorithm::HmacSha256
        } else {
            Algorithm::HmacSha1
        }
    }

    /// Whether this is the signature of `url` + `params` under `key` and `algorithm`.
    ///
    /// The comparison of MAC bytes is constant time; a length mismatch (which reveals only
    /// the algorithm, not the key) returns early.
    pub fn matches(
        &self,
        key: &SigningKey,
        algorithm: Algorithm,
        url: &str,
        params: &CanonicalParams<'_>,
    ) -> bool {
        if self.mac.len != algorithm.mac_len() {
            return false;
        }
        let expected = key.mac(algorithm, url, params);
        expected.as_slice().ct_eq(self.mac.as_slice()).into()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("len", &self.mac.len)
            .finish_non_exhaustive()
    }
}

/// Signs `url` and decoded `params` the way Twilio does and returns the header value.
///
/// Use it to test your own handlers (see also [`testing`](crate::testing)). `params` may be
/// in any order; repeated keys are allowed. For GET requests and JSON bodies pass no params
/// (for JSON, `url` must already carry `bodySHA256`; see [`body_sha256`]).
///
/// ```
/// use tower_twilio::signature::{sign, Algorithm};
/// // The vector every official Twilio library tests with.
/// let header = sign(
///     b"12345",
///     "https://mycompany.com/myapp.php?foo=1&bar=2",
///     [("CallSid", "CA1234567890ABCDE"), ("Caller", "+14158675309"), ("Digits", "1234"),
///      ("From", "+14158675309"), ("To", "+18005551212")],
///     Algorithm::HmacSha1,
/// );
/// assert_eq!(header, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
/// ```
pub fn sign<'a, I>(secret: impl AsRef<[u8]>, url: &str, params: I, algorithm: Algorithm) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    SigningKey::new(secret.as_ref()).sign(algorithm, url, &CanonicalParams::from_pairs(params))
}

/// Checks one header value against one exact URL and its params.
///
/// A malformed header (empty, not base64, wrong length) is simply not a match. This does not
/// try URL variants or check a body hash: the [layer](crate::TwilioWebhookLayer) does both.
///
/// ```
/// use tower_twilio::signature::{verify, Algorithm};
/// assert!(!verify(b"12345", "https://example.com/", [], Algorithm::HmacSha1, "not base64!"));
/// ```
pub fn verify<'a, I>(
    secret: impl AsRef<[u8]>,
    url: &str,
    params: I,
    algorithm: Algorithm,
    header: &str,
) -> bool
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    match Signature::from_base64(header) {
        Ok(signature) => signature.matches(
            &SigningKey::new(secret.as_ref()),
            algorithm,
            url,
            &CanonicalParams::from_pairs(params),
        ),
        Err(_) => false,
    }
}

/// Lowercase hex SHA-256 of a raw body: the `bodySHA256` value Twilio puts in the URL of a
/// non-form (e.g. JSON) webhook.
///
/// ```
/// use tower_twilio::signature::body_sha256;
/// assert_eq!(
///     body_sha256(br#"{"property": "value", "boolean": true}"#),
///     "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620",
/// );
/// ```
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn body_sha256_hex(body: &[u8]) -> [u8; 64] {
    let mut hex = [0u8; 64];
    hex::encode_to_slice(Sha256::digest(body), &mut hex).expect("64 hex digits for 32 bytes");
    hex
}

/// Why a body failed its `bodySHA256` check; see [`check_body_sha256`] for an example.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyHashError {
    /// The URL has no `bodySHA256` query parameter.
    Missing,
    /// A `bodySHA256` value is not the SHA-256 of the body received.
    Mismatch,
}

impl fmt::Display for BodyHashError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "the URL has no bodySHA256 query parameter",
            Self::Mismatch => "bodySHA256 does not match the body",
        })
    }
}

impl std::error::Error for BodyHashError {}

/// Checks the `bodySHA256` query parameter of `url` against the raw `body`.
///
/// The value is compared in constant time with the lowercase hex SHA-256 of `body`. Every
/// `bodySHA256` in the query must match, and there must be at least one. The signature
/// covers the URL, so this proves the body is the one Twilio signed.
///
/// ```
/// use tower_twilio::signature::{check_body_sha256, BodyHashError};
/// let body = br#"{"property": "value", "boolean": true}"#;
/// let url = "https://mycompany.com/myapp.php?bodySHA256=0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
/// assert_eq!(check_body_sha256(url, body), Ok(()));
/// assert_eq!(check_body_sha256(url, b"{}"), Err(BodyHashError::Mismatch));
/// assert_eq!(check_body_sha256("https://x.test/a", body), Err(BodyHashError::Missing));
/// ```
pub fn check_body_sha256(url: &str, body: &[u8]) -> Result<(), BodyHashError> {
    let mut claimed = body_sha256_values(url).peekable();
    if claimed.peek().is_none() {
        return Err(BodyHashError::Missing);
    }
    let actual = body_sha256_hex(body);
    let mut all_match = subtle::Choice::from(1u8);
    for value in claimed {
        all_match &= value.as_bytes().ct_eq(&actual);
    }
    if bool::from(all_match) {
        Ok(())
    } else {
        Err(BodyHashError::Mismatch)
    }
}

/// The raw values of every `bodySHA256` parameter in `url`'s query.
pub(crate) fn body_sha256_values(url: &str) -> impl Iterator<Item = &str> {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("bodySHA256="))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the `base64` crate alone answers for a header of at most 44 characters.
    fn decoded_by_the_crate(header: &[u8]) -> Result<Vec<u8>, MalformedSignature> {
        let mut bytes = [0u8; MAX_MAC_LEN + 1];
        match BASE64.decode_slice(header, &mut bytes) {
            Err(_) => Err(MalformedSignature::NotBase64),
            Ok(len @ (20 | 32)) => Ok(bytes[..len].to_vec()),
            Ok(_) => Err(MalformedSignature::WrongLength),
        }
    }

    fn agrees_with_the_crate(header: &[u8]) -> Result<(), proptest::test_runner::TestCaseError> {
        if header.is_empty() || header.len() > 44 {
            return Ok(());
        }
        let ours = Signature::from_base64(header).map(|s| s.mac.as_slice().to_vec());
        proptest::prop_assert_eq!(&ours, &decoded_by_the_crate(header), "{:?}", header);
        Ok(())
    }

    proptest::proptest! {
        // Encodings of a MAC, then one byte changed (often to another character of the
        // alphabet, setting trailing bits or shifting padding).
        #[test]
        fn signature_decoding_agrees_with_the_base64_crate_near_valid_input(
            mac in proptest::collection::vec(proptest::num::u8::ANY, 19..=33),
            padded in proptest::bool::ANY,
            at in proptest::num::usize::ANY,
            to in proptest::sample::select(b"AQgw/+=0!. \x00\xff".to_vec()),
            mutate in proptest::bool::ANY,
        ) {
            let mut header = BASE64.encode(&mac).into_bytes();
            if !padded {
                while header.last() == Some(&b'=') {
                    header.pop();
                }
            }
            agrees_with_the_crate(&header)?;
            if mutate {
                let at = at % header.len();
                header[at] = to;
                agrees_with_the_crate(&header)?;
            }
        }

        #[test]
        fn signature_decoding_agrees_with_the_base64_crate_on_any_bytes(
            header in proptest::collection::vec(
                proptest::sample::select(b"AQgwz9+/=%\x00".to_vec()),
                26..=45,
            ),
        ) {
            agrees_with_the_crate(&header)?;
        }
    }

    #[test]
    fn signature_decoding_agrees_with_the_base64_crate_on_every_last_character() {
        // The last character holds the MAC's last bits and two bits that must be zero.
        for mac_len in [20, 32] {
            let encoded = BASE64.encode(vec![0x3c; mac_len]);
            let stem = encoded.trim_end_matches('=');
            let stem = &stem[..stem.len() - 1];
            for last in 0..=255u8 {
                for pad in ["", "="] {
                    let mut header = stem.as_bytes().to_vec();
                    header.push(last);
                    header.extend_from_slice(pad.as_bytes());
                    agrees_with_the_crate(&header).unwrap();
                }
            }
        }
    }

    #[test]
    fn headers_longer_than_any_mac_are_told_apart_by_their_bytes() {
        let base64 = "Az09+/=".repeat(8);
        assert_eq!(
            Signature::from_base64(&base64).unwrap_err(),
            MalformedSignature::WrongLength
        );
        for not_base64 in ['!', '-', '_', ' ', '\u{e9}'] {
            let header = format!("{base64}{not_base64}");
            assert_eq!(
                Signature::from_base64(&header).unwrap_err(),
                MalformedSignature::NotBase64,
                "{header}"
            );
        }
    }

    #[test]
    fn only_the_exact_encoding_of_a_mac_is_accepted() {
        let sha1 = BASE64.encode([0xa5; 20]);
        let sha256 = BASE64.encode([0x5a; 32]);
        for good in [&sha1[..], &sha1[..27], &sha256[..], &sha256[..43]] {
            assert!(Signature::from_base64(good).is_ok(), "{good}");
        }
        let mut trailing_bits = sha1[..27].to_owned().into_bytes();
        trailing_bits[26] = b'B'; // a sextet with its low two bits set: not canonical
        for bad in [
            format!("{sha1}="),
            sha1.replace('p', "!"),
            format!("A{}", &sha1[1..]).replace('A', "-"),
            String::from_utf8(trailing_bits).unwrap(),
            sha1[..26].to_owned(),
        ] {
            assert!(Signature::from_base64(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_mac_reads_the_string_to_sign_piece_by_piece() {
        let params = CanonicalParams::from_pairs([("To", "+1415"), ("Body", "Hi"), ("Body", "Hi")]);
        let url = "https://example.com/a?x=1";
        let whole = b"https://example.com/a?x=1BodyHiTo+1415";
        let key = SigningKey::new(b"fake_token");
        let sha1 = <Hmac<Sha1> as KeyInit>::new_from_slice(b"fake_token")
            .unwrap()
            .chain_update(whole)
            .finalize()
            .into_bytes();
        assert_eq!(
            key.mac(Algorithm::HmacSha1, url, &params).as_slice(),
            &sha1[..]
        );
        let sha256 = <Hmac<Sha256> as KeyInit>::new_from_slice(b"fake_token")
            .unwrap()
            .chain_update(whole)
            .finalize()
            .into_bytes();
        assert_eq!(
            key.mac(Algorithm::HmacSha256, url, &params).as_slice(),
            &sha256[..]
        );
    }

    #[test]
    fn malformed_headers_never_match_and_never_panic() {
        let key = SigningKey::new(b"12345");
        for header in [
            "",
            "=",
            "====",
            "A",
            "AAAA",
            "%%%%",
            "\u{0}",
            &"A".repeat(10_000),
        ] {
            assert!(!verify(
                b"12345",
                "https://x/",
                [],
                Algorithm::HmacSha1,
                header
            ));
            if let Ok(sig) = Signature::from_base64(header) {
                assert!(!sig.matches(
                    &key,
                    Algorithm::HmacSha1,
                    "https://x/",
                    &CanonicalParams::none()
                ));
            }
        }
    }

    #[test]
    fn signature_length_decides_which_algorithm_can_match() {
        let key = SigningKey::new(b"secret");
        let params = CanonicalParams::none();
        let sha256 = key.sign(Algorithm::HmacSha256, "https://x/", &params);
        let sig = Signature::from_base64(&sha256).unwrap();
        assert_eq!(sig.algorithm_by_length(), Algorithm::HmacSha256);
        assert!(sig.matches(&key, Algorithm::HmacSha256, "https://x/", &params));
        assert!(!sig.matches(&key, Algorithm::HmacSha1, "https://x/", &params));
    }

    #[test]
    fn unpadded_base64_is_accepted() {
        let header = sign(b"12345", "https://x/", [], Algorithm::HmacSha1);
        let unpadded = header.trim_end_matches('=');
        assert_ne!(unpadded, header);
        assert!(verify(
            b"12345",
            "https://x/",
            [],
            Algorithm::HmacSha1,
            unpadded
        ));
    }

    #[test]
    fn body_hash_requires_every_value_to_match() {
        let body = b"{}";
        let good = body_sha256(body);
        let url = format!("https://x/?bodySHA256={good}&bodySHA256={}", "0".repeat(64));
        assert_eq!(check_body_sha256(&url, body), Err(BodyHashError::Mismatch));
        let url = format!("https://x/?a=1&bodySHA256={good}");
        assert_eq!(check_body_sha256(&url, body), Ok(()));
        let upper = format!("https://x/?bodySHA256={}", good.to_uppercase());
        assert_eq!(
            check_body_sha256(&upper, body),
            Err(BodyHashError::Mismatch)
        );
    }

    #[test]
    fn signing_key_debug_is_redacted() {
        let key = SigningKey::new(b"super-secret-token");
        assert!(!format!("{key:?}").contains("super"));
    }
}
