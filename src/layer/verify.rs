//! The policy for one request, top to bottom: what the head alone decides, what the body
//! adds, and the verification itself. Request parts and body in, proof or rejection out.

use std::error::Error;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::request::Parts;
use http::{HeaderName, HeaderValue, Method};
use http_body_util::LengthLimitError;

use super::config::Config;
use crate::canonical::CanonicalParams;
use crate::form::FormParams;
use crate::keys::{AccountLookup, KeyId, KeyKind, Keyring, SettingsError};
use crate::rejection::{Hint, Rejection, RejectionReason, SignatureHeader};
use crate::signature::{body_sha256_values, check_body_sha256, Algorithm, Signature};
use crate::url::mask_userinfo;
use crate::verified::VerifiedWebhook;

/// `X-Twilio-Signature`.
static SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-signature");
/// `X-Twilio-Webhooks-Signature-Settings`.
static SIGNATURE_SETTINGS: HeaderName =
    HeaderName::from_static("x-twilio-webhooks-signature-settings");

/// What the head of a request decided, before its body is read.
pub(crate) enum Check {
    /// Verify against this signature once the body is in.
    Signature(Signature),
    /// Verification is switched off (local development only).
    Skipped,
}

/// The checks the head alone can make, so that an oversized or unsigned request costs no
/// body read.
pub(crate) fn check_head(config: &Config, parts: &Parts) -> Result<Check, Rejection> {
    if !config.methods.contains(&parts.method) {
        return Err(Rejection::new(RejectionReason::MethodNotAllowed));
    }
    let declared_len = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = config.body_limit;
    if declared_len.is_some_and(|len| len > limit as u64) {
        return Err(Rejection::new(RejectionReason::BodyTooLarge { limit }));
    }
    if config.skip_verification {
        return Ok(Check::Skipped);
    }
    single_header(parts, &SIGNATURE_SETTINGS, SignatureHeader::Settings)?;
    let header = single_header(parts, &SIGNATURE, SignatureHeader::Signature)?
        .ok_or(Rejection::new(RejectionReason::MissingSignature))?;
    Signature::from_base64(header.as_bytes())
        .map(Check::Signature)
        .map_err(|err| Rejection::new(RejectionReason::MalformedSignature(err)))
}

/// The one value of `name`, if any; a repeated header is refused, whether its values agree
/// or not, since which one a proxy or a client meant cannot be known.
fn single_header<'a>(
    parts: &'a Parts,
    name: &HeaderName,
    header: SignatureHeader,
) -> Result<Option<&'a HeaderValue>, Rejection> {
    let mut values = parts.headers.get_all(name).iter();
    let first = values.next();
    if values.next().is_some() {
        return Err(Rejection::new(RejectionReason::RepeatedHeader(header)));
    }
    Ok(first)
}

/// Why the body could not be buffered: over the limit, or broken off.
pub(crate) fn unreadable_body(
    err: &(dyn Error + Send + Sync + 'static),
    limit: usize,
) -> Rejection {
    if err.is::<LengthLimitError>() {
        return Rejection::new(RejectionReason::BodyTooLarge { limit });
    }
    tracing::debug!(target: "tower_twilio", error = %err, "reading the request body failed");
    Rejection::new(RejectionReason::BodyReadFailed)
}

/// What the body contributes to the string to sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyKind {
    /// `application/x-www-form-urlencoded`: the decoded fields.
    Form,
    /// GET and HEAD: nothing; the query is already in the URL.
    None,
    /// Anything else: nothing, and the URL's `bodySHA256` must be the body's hash.
    Hashed,
}

fn body_kind(parts: &Parts) -> BodyKind {
    if parts.method == Method::GET || parts.method == Method::HEAD {
        return BodyKind::None;
    }
    // The media type, before any parameters; compared as bytes, since only it must be ASCII.
    let is_form = parts.headers.get(CONTENT_TYPE).is_some_and(|value| {
        let media_type = value
            .as_bytes()
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default();
        media_type
            .trim_ascii()
            .eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
    });
    if is_form {
        BodyKind::Form
    } else {
        BodyKind::Hashed
    }
}

/// A request whose body is in: the URL Twilio called (before variants) and its parameters.
pub(crate) struct Received {
    url: String,
    kind: BodyKind,
    /// Decoded once: the key resolver, the MAC and the handler all read these.
    params: FormParams,
}

/// Rebuilds the public URL and decodes the parameters: the form body's fields, or a GET's
/// query (where Twilio puts them); none for other bodies.
pub(crate) fn receive(config: &Config, parts: &Parts, body: &Bytes) -> Result<Received, Rejection> {
    let url = config
        .public_url
        .resolve(parts)
        .map_err(|err| Rejection::new(RejectionReason::Url(err)))?;
    let kind = body_kind(parts);
    let params = match kind {
        BodyKind::Form => FormParams::parse(body),
        BodyKind::None if !body.is_empty() => {
            return Err(Rejection::new(RejectionReason::UnsignedBody))
        }
        BodyKind::None => FormParams::parse(parts.uri.query().unwrap_or("").as_bytes()),
        BodyKind::Hashed => FormParams::default(),
    };
    if kind == BodyKind::Form {
        if params
            .iter()
            .all(|(key, value)| key.is_empty() && value.is_empty())
        {
            return Err(Rejection::new(RejectionReason::EmptyForm));
        }
        if config.strict_params && !params.has_twilio_keys_only() {
            return Err(Rejection::new(RejectionReason::UnexpectedParams));
        }
    }
    Ok(Received { url, kind, params })
}

/// What a key resolver is told about the request.
pub(crate) fn account_lookup(parts: &Parts, received: &Received, body: &Bytes) -> AccountLookup {
    let home_region = parts
        .headers
        .get("x-home-region")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    AccountLookup {
        account_sid: received.params.get("AccountSid").map(str::to_owned),
        home_region,
        url: received.url.clone(),
        body: body.clone(),
    }
}

/// Verifies `signature` over the received request with `keyring`: the keys the settings
/// header selects, against the URL and each of its variants; then the body hash.
pub(crate) fn verify(
    config: &Config,
    keyring: &Keyring,
    parts: &Parts,
    signature: &Signature,
    body: &Bytes,
    received: Received,
) -> Result<VerifiedWebhook, Rejection> {
    // `check_head` refused a repeated header.
    let settings = match parts.headers.get(&SIGNATURE_SETTINGS) {
        None => None,
        Some(value) => Some(value.to_str().map_err(|_| {
            Rejection::new(RejectionReason::SignatureSettings(SettingsError::Malformed))
        })?),
    };
    let selection = keyring.select(settings).map_err(|err| {
        let rejection = Rejection::new(RejectionReason::SignatureSettings(err));
        match err {
            SettingsError::UnknownKey => rejection.with_hint(Hint::UnknownSharedKey),
            _ => rejection,
        }
    })?;

    let Received { url, kind, params } = received;
    if kind == BodyKind::Hashed && body_sha256_values(&url).next().is_none() {
        return Err(Rejection::new(RejectionReason::MissingBodyHash)
            .with_urls_tried(vec![mask_userinfo(&url)])
            .with_hint(Hint::JsonWithoutBodyHash));
    }

    // Only a form body's fields are appended to the URL; a GET's are in it already.
    let canonical = match kind {
        BodyKind::Form => params.canonical(),
        BodyKind::None | BodyKind::Hashed => CanonicalParams::none(),
    };
    let candidates = config.variants.candidates(&url);
    let matched = candidates.find_map(|candidate| {
        let key = selection.keys.iter().find(|key| {
            signature.matches(&key.signing, selection.algorithm, candidate, &canonical)
        })?;
        // A variant is never equal to the URL it was made from: copy only a variant.
        Some((key, (candidate != url).then(|| candidate.to_owned())))
    });
    drop(canonical);
    let Some((key, variant)) = matched else {
        let mut rejection = Rejection::new(RejectionReason::SignatureMismatch)
            .with_urls_tried(
                candidates
                    .to_vec()
                    .iter()
                    .map(|u| mask_userinfo(u))
                    .collect(),
            )
            .with_keys_tried(selection.keys.iter().map(|k| k.id.clone()).collect());
        let path = parts.uri.path();
        if path.len() > 1 && path.ends_with('/') && !config.variants.tries_trailing_slash() {
            rejection = rejection.with_hint(Hint::TrailingSlash);
        }
        for hint in config.public_url.hints(parts) {
            rejection = rejection.with_hint(hint);
        }
        return Err(rejection);
    };
    let matched_url = variant.unwrap_or(url);

    // Whenever the signed URL claims a body hash, the body must have it, form or not.
    let claims_hash = body_sha256_values(&matched_url).next().is_some();
    if (kind == BodyKind::Hashed || claims_hash) && check_body_sha256(&matched_url, body).is_err() {
        return Err(Rejection::new(RejectionReason::BodyHashMismatch)
            .with_urls_tried(vec![mask_userinfo(&matched_url)])
            .with_keys_tried(vec![key.id.clone()]));
    }
    Ok(VerifiedWebhook {
        key_id: key.id.clone(),
        key_kind: selection.kind,
        algorithm: selection.algorithm,
        url: matched_url,
        params: Arc::new(params),
        params_signed: kind == BodyKind::Form,
        signature: Some(*signature),
    })
}

/// The marker for a request passed on without verification (local development only).
pub(crate) fn unverified(parts: &Parts, received: Received) -> VerifiedWebhook {
    tracing::warn!(
        target: "tower_twilio",
        method = %parts.method,
        path = parts.uri.path(),
        "Twilio signature NOT verified: verification is switched off"
    );
    VerifiedWebhook {
        key_id: KeyId::verification_skipped(),
        key_kind: KeyKind::VerificationSkipped,
        algorithm: Algorithm::HmacSha1,
        url: received.url,
        params: Arc::new(received.params),
        params_signed: received.kind == BodyKind::Form,
        signature: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_kind_reads_the_media_type_before_parameters() {
        let kind = |method: Method, content_type: Option<&[u8]>| {
            let mut request = http::Request::builder().method(method);
            if let Some(value) = content_type {
                request = request.header(CONTENT_TYPE, HeaderValue::from_bytes(value).unwrap());
            }
            body_kind(&request.body(()).unwrap().into_parts().0)
        };
        for form in [
            &b"application/x-www-form-urlencoded"[..],
            b"Application/X-WWW-Form-Urlencoded; charset=UTF-8",
            b" application/x-www-form-urlencoded ;charset=\xe9",
        ] {
            assert_eq!(kind(Method::POST, Some(form)), BodyKind::Form);
        }
        for other in [
            &b"application/json"[..],
            b"application/x-www-form-urlencodedx",
            b"application/x-www-form",
            b"; application/x-www-form-urlencoded",
            b"",
        ] {
            assert_eq!(kind(Method::POST, Some(other)), BodyKind::Hashed);
        }
        assert_eq!(kind(Method::POST, None), BodyKind::Hashed);
        for method in [Method::GET, Method::HEAD] {
            let form = Some(&b"application/x-www-form-urlencoded"[..]);
            assert_eq!(kind(method, form), BodyKind::None);
        }
    }
}
