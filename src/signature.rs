//! The string Twilio signs, the MAC over it, and the body hash of non-form requests.
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

use std::borrow::Cow;
use std::fmt;

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::form::FormParams;
use crate::sha1_mac::Sha1Key;

/// Standard alphabet; padding optional on input so a client that strips `=` is not
/// refused for formatting alone (the bytes are what we compare).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The longest MAC we produce (HMAC-SHA256).
const MAX_MAC_LEN: usize = 32;

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
    sha1: Sha1Key,
    sha256: Hmac<Sha256>,
}

impl SigningKey {
    /// Prepares `secret` (an Auth Token or a shared key's signing secret, as bytes).
    pub fn new(secret: &[u8]) -> Self {
        Self {
            sha1: Sha1Key::new(secret),
            // HMAC accepts keys of any length, so this cannot fail.
            sha256: <Hmac<Sha256> as KeyInit>::new_from_slice(secret)
                .expect("HMAC accepts keys of any length"),
        }
    }

    /// The MAC of `url` followed by `params`.
    fn mac(&self, algorithm: Algorithm, url: &[u8], params: &[u8]) -> MacBytes {
        let mut out = MacBytes {
            bytes: [0; MAX_MAC_LEN],
            len: algorithm.mac_len(),
        };
        match algorithm {
            Algorithm::HmacSha1 => out.bytes[..20].copy_from_slice(&self.sha1.mac(&[url, params])),
            Algorithm::HmacSha256 => {
                let mut mac = self.sha256.clone();
                mac.update(url);
                mac.update(params);
                out.bytes.copy_from_slice(&mac.finalize().into_bytes());
            }
        }
        out
    }

    /// The `X-Twilio-Signature` value for `url` and `params`.
    ///
    /// ```
    /// use tower_twilio::signature::{Algorithm, CanonicalParams, SigningKey};
    /// let key = SigningKey::new(b"12345");
    /// let params = CanonicalParams::from_pairs([("foo", "bar")]);
    /// let header = key.sign(Algorithm::HmacSha1, "https://example.com/test", &params);
    /// assert_eq!(header.len(), 28);
    /// ```
    pub fn sign(&self, algorithm: Algorithm, url: &str, params: &CanonicalParams<'_>) -> String {
        let mac = self.mac(algorithm, url.as_bytes(), params.as_bytes());
        BASE64.encode(mac.as_slice())
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

/// The parameter half of the string Twilio signs.
///
/// Keys in byte order, each key's distinct values in byte order, written `key` `value` with
/// no separators. Sorting is by key first, then by value; never by `key + value`, so `Reason`
/// still comes before `ReasonConferenceEnded`. [`FormParams::canonical`] borrows it from the
/// decoded body, which is kept in this order.
///
/// ```
/// use tower_twilio::signature::CanonicalParams;
/// let params = CanonicalParams::from_pairs([
///     ("Digits", "5678"), ("Digits", "1234"), ("Digits", "1234"), ("CallSid", "CA1"),
/// ]);
/// assert_eq!(params.as_bytes(), b"CallSidCA1Digits1234Digits5678");
/// ```
///
/// [`FormParams::canonical`]: crate::FormParams::canonical
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CanonicalParams<'a> {
    bytes: Cow<'a, [u8]>,
}

impl CanonicalParams<'static> {
    /// No parameters: GET requests and non-form bodies sign the URL alone.
    pub const fn none() -> Self {
        Self {
            bytes: Cow::Borrowed(&[]),
        }
    }

    /// Sorts and de-duplicates decoded `(key, value)` pairs, in any order.
    pub fn from_pairs<'p, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'p str, &'p str)>,
    {
        FormParams::from_decoded(pairs).canonical().into_owned()
    }
}

impl<'a> CanonicalParams<'a> {
    /// Bytes already in Twilio's order.
    pub(crate) fn borrowed(bytes: &'a [u8]) -> Self {
        Self {
            bytes: Cow::Borrowed(bytes),
        }
    }

    pub(crate) fn owned(bytes: Vec<u8>) -> Self {
        Self {
            bytes: Cow::Owned(bytes),
        }
    }

    /// The same bytes, owned.
    pub fn into_owned(self) -> CanonicalParams<'static> {
        CanonicalParams {
            bytes: Cow::Owned(self.bytes.into_owned()),
        }
    }

    /// The bytes appended to the URL before MACing.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for CanonicalParams<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CanonicalParams")
            .field(&String::from_utf8_lossy(&self.bytes))
            .finish()
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
        if let Some(mac) = decode_mac(header) {
            return Ok(Self { mac });
        }
        // 44 characters encode 32 bytes; refuse longer input before decoding anything.
        if header.len() > 44 {
            return Err(if header.iter().all(is_base64_byte) {
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
        let expected = key.mac(algorithm, url.as_bytes(), params.as_bytes());
        expected.as_slice().ct_eq(self.mac.as_slice()).into()
    }

    /// Decodes the form `body` and checks whether this is the signature of `url` and its
    /// params: the same answer as [`FormParams::parse`] followed by
    /// [`matches`](Signature::matches) with [`canonical`](FormParams::canonical), in one pass.
    ///
    /// For HMAC-SHA1, the MAC absorbs each 64 bytes of the canonical string as soon as the
    /// decoder has written them, so hashing and decoding overlap instead of taking turns.
    ///
    /// ```
    /// use tower_twilio::signature::{sign, Algorithm, Signature, SigningKey};
    /// let url = "https://example.com/sms";
    /// let header = sign(b"fake_token", url, [("Body", "Hi!"), ("From", "+1415")], Algorithm::HmacSha1);
    /// let signature = Signature::from_base64(&header).unwrap();
    /// let key = SigningKey::new(b"fake_token");
    /// let (params, ok) = signature.matches_form(&key, Algorithm::HmacSha1, url, b"From=%2B1415&Body=Hi%21");
    /// assert!(ok);
    /// assert_eq!(params.get("Body"), Some("Hi!"));
    /// ```
    pub fn matches_form(
        &self,
        key: &SigningKey,
        algorithm: Algorithm,
        url: &str,
        body: &[u8],
    ) -> (FormParams, bool) {
        if algorithm != Algorithm::HmacSha1 || self.mac.len != algorithm.mac_len() {
            let params = FormParams::parse(body);
            let matched = self.matches(key, algorithm, url, &params.canonical());
            return (params, matched);
        }
        let start = || {
            let mut mac = key.sha1.start();
            mac.update(url.as_bytes());
            mac
        };
        let (mut mac, mut absorbed) = (start(), 0);
        let (params, streamed) = FormParams::parse_with_progress(body, |text| {
            absorbed += mac.update_blocks(&text[absorbed..]);
        });
        if !streamed {
            (mac, absorbed) = (start(), 0);
        }
        mac.update(&params.canonical().as_bytes()[absorbed..]);
        let matched = mac.finish().ct_eq(self.mac.as_slice()).into();
        (params, matched)
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("len", &self.mac.len)
            .finish_non_exhaustive()
    }
}

/// The common case of [`Signature::from_base64`], without the `base64` crate's general
/// machinery (about 290 instructions a header where the crate takes 500): a MAC's exact
/// encoding, 27 or 43 characters of the standard alphabet with an optional `=`, and zero
/// bits past the MAC's last byte.
/// Anything else is `None`, and goes to the crate, which accepts no input this accepts
/// differently (checked in the tests).
fn decode_mac(header: &[u8]) -> Option<MacBytes> {
    let text = header.strip_suffix(b"=").unwrap_or(header);
    let len = match text.len() {
        27 => Algorithm::HmacSha1.mac_len(),
        43 => Algorithm::HmacSha256.mac_len(),
        _ => return None,
    };
    let mut bytes = [0u8; MAX_MAC_LEN];
    // Bit 7 of a table entry marks a byte outside the alphabet; OR-ed together, checked once.
    let mut invalid = 0;
    let mut bits_of = |chars: &[u8]| {
        chars.iter().fold(0u32, |bits, &c| {
            let sextet = SEXTETS[usize::from(c)];
            invalid |= sextet;
            bits << 6 | u32::from(sextet)
        })
    };
    let (groups, tail) = text.split_at(text.len() - 3);
    for (group, out) in groups.chunks_exact(4).zip(bytes.chunks_exact_mut(3)) {
        out.copy_from_slice(&bits_of(group).to_be_bytes()[1..]);
    }
    // The last three characters carry 18 bits: the MAC's last two bytes and two zero bits.
    let bits = bits_of(tail);
    let at = groups.len() / 4 * 3;
    bytes[at..at + 2].copy_from_slice(&((bits >> 2) as u16).to_be_bytes());
    (invalid < 64 && bits & 0b11 == 0).then_some(MacBytes { bytes, len })
}

/// The value of each character of the standard base64 alphabet; 0xff for other bytes.
const SEXTETS: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [0xff; 256];
    let mut i = 0;
    while i < alphabet.len() {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

fn is_base64_byte(b: &u8) -> bool {
    SEXTETS[usize::from(*b)] < 64 || *b == b'='
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
    let hex = body_sha256_hex(body);
    // Hex digits are ASCII.
    hex.iter().map(|&b| b as char).collect()
}

fn body_sha256_hex(body: &[u8]) -> [u8; 64] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(body);
    let mut hex = [0u8; 64];
    for (i, byte) in digest.iter().enumerate() {
        hex[2 * i] = DIGITS[usize::from(byte >> 4)];
        hex[2 * i + 1] = DIGITS[usize::from(byte & 0x0f)];
    }
    hex
}

/// Why a non-form body failed its `bodySHA256` check.
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

    #[test]
    fn canonical_sorts_by_key_then_value_not_concatenation() {
        let params = CanonicalParams::from_pairs([
            ("ReasonConferenceEnded", "a"),
            ("Reason", "z"),
            ("callSid", "3"),
            ("CallSid", "2"),
            ("CALLSID", "1"),
        ]);
        assert_eq!(
            params.as_bytes(),
            b"CALLSID1CallSid2ReasonzReasonConferenceEndedacallSid3"
        );
    }

    #[test]
    fn decoding_while_macing_survives_ties_and_false_starts() {
        let key = SigningKey::new(b"fake_token");
        let long_value = [b"a=%FF&k=".as_slice(), &[b'v'; 200]].concat();
        let v = "v".repeat(100);
        let repeated = format!("b=2&a={v}&a={v}&c=3");
        let shared_prefix = format!("RecordingStatusCallbackEvent={v}&RecordingStatusCallback={v}");
        let bodies: [&[u8]; 4] = [
            // A repeated pair: the canonical string is not the decoded text.
            repeated.as_bytes(),
            // Keys that share 14 bytes: put in order only after decoding, so the text is
            // not the canonical string while it is written.
            shared_prefix.as_bytes(),
            // Blocks with a byte that is not UTF-8 are absorbed, then the general path
            // decodes it to U+FFFD: the MAC must start over.
            &long_value,
            b"",
        ];
        for url in [
            "https://example.com/a",
            // Longer than a block: whole blocks of URL are compressed before any param.
            "https://example.com/a/path/long/enough/that/the/url/alone/fills/one/sha1/block?x=1",
        ] {
            for body in bodies {
                let params = FormParams::parse(body);
                let header = key.sign(Algorithm::HmacSha1, url, &params.canonical());
                let signature = Signature::from_base64(&header).unwrap();
                let (decoded, matched) =
                    signature.matches_form(&key, Algorithm::HmacSha1, url, body);
                assert!(matched, "{url} {:?}", String::from_utf8_lossy(body));
                assert_eq!(decoded, params);
                let other = SigningKey::new(b"other_token");
                assert!(
                    !signature
                        .matches_form(&other, Algorithm::HmacSha1, url, body)
                        .1
                );
            }
        }
    }

    fn naive_canonical(pairs: &[(String, String)]) -> Vec<u8> {
        let mut pairs: Vec<(&[u8], &[u8])> = pairs
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        pairs
            .iter()
            .flat_map(|(k, v)| [*k, *v])
            .flatten()
            .copied()
            .collect()
    }

    // Keys from a small alphabet with NUL, of lengths around eight: ties on the integer
    // prefix, keys that are prefixes of others, and more than 64 pairs (the heap path).
    proptest::proptest! {
        #[test]
        fn canonical_agrees_with_sorting_the_pairs(
            pairs in proptest::collection::vec(("[ab\\x00]{0,10}", "[ab]{0,2}"), 0..90)
        ) {
            let params = CanonicalParams::from_pairs(
                pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            );
            proptest::prop_assert_eq!(params.as_bytes(), &naive_canonical(&pairs)[..]);
        }
    }

    /// What `from_base64` answers through the `base64` crate alone, without `decode_mac`.
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
        // The fast path only ever answers what the crate answers.
        if let Some(mac) = decode_mac(header) {
            proptest::prop_assert_eq!(Ok(mac.as_slice().to_vec()), decoded_by_the_crate(header));
        }
        Ok(())
    }

    proptest::proptest! {
        // Encodings of a MAC, then one byte changed (often to another character of the
        // alphabet, setting trailing bits or shifting padding): the fast path's edges.
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
    fn signature_fast_path_refuses_what_it_does_not_decode() {
        let sha1 = BASE64.encode([0xa5; 20]);
        let sha256 = BASE64.encode([0x5a; 32]);
        for good in [&sha1[..], &sha1[..27], &sha256[..], &sha256[..43]] {
            assert!(decode_mac(good.as_bytes()).is_some(), "{good}");
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
            assert!(decode_mac(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn canonical_keeps_empty_values_and_non_ascii() {
        let params = CanonicalParams::from_pairs([("\u{e9}", "\u{fc}"), ("Empty", ""), ("A", "")]);
        assert_eq!(params.as_bytes(), "AEmpty\u{e9}\u{fc}".as_bytes());
    }

    #[test]
    fn canonical_orders_by_bytes_which_is_code_point_order() {
        // U+00E9 (C3 A9) sorts after 'z' (7A), as Python's str sort does.
        let params = CanonicalParams::from_pairs([("\u{e9}", "1"), ("z", "2")]);
        assert_eq!(params.as_bytes(), "z2\u{e9}1".as_bytes());
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
