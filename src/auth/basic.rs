//! HTTP Basic (RFC 7617): `Basic base64(user:password)`, checked against the credentials.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use http::HeaderValue;
use zeroize::Zeroizing;

use super::params::is_token68;
use super::{AuthRejection, Credentials};

/// Basic credentials are standard base64; padding optional on input, so a client that strips
/// `=` is not refused for formatting alone.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Checks `token68`, what follows `Basic ` in the header, against `credentials`.
pub(super) fn check(token68: &str, credentials: &Credentials) -> Result<(), AuthRejection> {
    if token68.is_empty() || !token68.bytes().all(is_token68) {
        return Err(AuthRejection::Malformed);
    }
    let decoded = Zeroizing::new(
        BASE64
            .decode(token68)
            .map_err(|_| AuthRejection::Malformed)?,
    );
    let colon = decoded
        .iter()
        .position(|&b| b == b':')
        .ok_or(AuthRejection::Malformed)?;
    let (username, password) = (&decoded[..colon], &decoded[colon + 1..]);
    // Both compared before branching, so the timing does not tell which one was wrong.
    let matches = credentials.username_matches(username) & credentials.password_matches(password);
    if bool::from(matches) {
        Ok(())
    } else {
        Err(AuthRejection::WrongCredentials)
    }
}

/// The Basic `WWW-Authenticate` challenge for `realm`.
pub(super) fn challenge(realm: &str) -> Option<HeaderValue> {
    let challenge = format!("Basic realm=\"{realm}\", charset=\"UTF-8\"");
    // The realm is printable ASCII without quotes, so this cannot fail; never panic anyway.
    HeaderValue::from_str(&challenge).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user_password: &[u8]) -> String {
        BASE64.encode(user_password)
    }

    #[test]
    fn basic_credentials() {
        let credentials = Credentials::new("twilio", "fake-password-1").unwrap();
        let check = |token68: &str| super::check(token68, &credentials);
        assert_eq!(check(&basic(b"twilio:fake-password-1")), Ok(()));
        let unpadded = BASE64.encode("twilio:fake-password-1");
        assert_eq!(check(unpadded.trim_end_matches('=')), Ok(()));
        for wrong in [
            &b"twilio:fake-password-2"[..],
            b"twilio:fake-password-1 ",
            b"twilio:",
            b"twilio2:fake-password-1",
            b":fake-password-1",
            b"twilio:fake-password-1:",
            b"\xff:\xfe",
        ] {
            assert_eq!(
                check(&basic(wrong)),
                Err(AuthRejection::WrongCredentials),
                "{}",
                String::from_utf8_lossy(wrong)
            );
        }
    }
}
