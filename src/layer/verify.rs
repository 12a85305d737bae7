//! One request, verified: request parts and body in, proof or rejection out.

use std::sync::Arc;

use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

use super::Config;
use crate::form::FormParams;
use crate::keys::{AccountLookup, KeyId, KeyKind, Keyring, Selection, SettingsError};
use crate::rejection::{Hint, Rejection, RejectionReason};
use crate::signature::{
    body_sha256_values, check_body_sha256, Algorithm, CanonicalParams, Signature,
};
use crate::url::mask_userinfo;
use crate::verified::VerifiedWebhook;

/// `X-Twilio-Signature`.
pub(crate) static SIGNATURE: HeaderName = HeaderName::from_static("x-twilio-signature");
/// `X-Twilio-Webhooks-Signature-Settings`.
pub(crate) static SIGNATURE_SETTINGS: HeaderName =
    HeaderName::from_static("x-twilio-webhooks-signature-settings");

/// The first value of the custom header `name`, as `HeaderMap::get` finds it, but by
/// comparing names: `get` hashes a custom name byte by byte (FNV, a multiply per byte), about
/// 40 ns for the 36 bytes of the settings header, while a webhook has a dozen headers whose
/// lengths rarely match. The map holds at most hyper's 100 headers.
pub(crate) fn custom_header<'a>(
    headers: &'a HeaderMap,
    name: &HeaderName,
) -> Option<&'a HeaderValue> {
    let len = name.as_str().len();
    headers
        .iter()
        .find(|(n, _)| n.as_str().len() == len && *n == name)
        .map(|(_, value)| value)
}

/// Decodes the signature header; done before the body is read, so an unsigned request
/// costs nothing more.
pub(crate) fn read_signature(parts: &Parts) -> Result<Signature, RejectionReason> {
    let header =
        custom_header(&parts.headers, &SIGNATURE).ok_or(RejectionReason::MissingSignature)?;
    Signature::from_base64(header.as_bytes()).map_err(RejectionReason::MalformedSignature)
}

/// What the body contributes to the string to sign.
#[derive(Clone, Copy, Default)]
pub(crate) enum BodyKind {
    /// `application/x-www-form-urlencoded`: the decoded fields.
    Form,
    /// GET and HEAD: nothing; the query is already in the URL.
    None,
    /// Anything else: nothing, and the URL's `bodySHA256` must be the body's hash.
    #[default]
    Hashed,
}

fn body_kind(parts: &Parts) -> BodyKind {
    if parts.method == Method::GET || parts.method == Method::HEAD {
        return BodyKind::None;
    }
    const FORM: &[u8] = b"application/x-www-form-urlencoded";
    // Compared as bytes: the media type is ASCII, whatever follows the `;`. Twilio sends
    // exactly `FORM`, one comparison; anything else is split, trimmed, compared folding case.
    let is_form = parts.headers.get(CONTENT_TYPE).is_some_and(|value| {
        if value.as_bytes() == FORM {
            return true;
        }
        let media_type = value
            .as_bytes()
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default();
        media_type.trim_ascii().eq_ignore_ascii_case(FORM)
    });
    if is_form {
        BodyKind::Form
    } else {
        BodyKind::Hashed
    }
}

/// A request's Twilio parameters and what its body contributes to the string to sign.
#[derive(Default)]
pub(crate) struct RequestParams {
    pub(crate) kind: BodyKind,
    pub(crate) decoded: FormParams,
}

/// The request's Twilio parameters: the decoded form body, or the query of a GET (Twilio's
/// GET webhooks carry them there); none for other bodies. Decoded once per request: the key
/// resolver, the signature and the handler all use this.
pub(crate) fn request_params(parts: &Parts, body: &Bytes) -> RequestParams {
    params_of_kind(body_kind(parts), parts, body)
}

fn params_of_kind(kind: BodyKind, parts: &Parts, body: &Bytes) -> RequestParams {
    let decoded = match kind {
        BodyKind::Form => FormParams::parse(body),
        BodyKind::None => FormParams::parse(parts.uri.query().unwrap_or("").as_bytes()),
        BodyKind::Hashed => FormParams::default(),
    };
    RequestParams { kind, decoded }
}

/// Rebuilds the public URL of a request (before variants).
pub(crate) fn public_url(config: &Config, parts: &Parts) -> Result<String, Rejection> {
    config
        .public_url
        .resolve(parts)
        .map_err(|err| Rejection::new(RejectionReason::Url(err)))
}

/// What a key resolver is told about the request.
pub(crate) fn account_lookup(
    parts: &Parts,
    params: &FormParams,
    body: &Bytes,
    url: &str,
) -> AccountLookup {
    let home_region = parts
        .headers
        .get("x-home-region")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    AccountLookup {
        account_sid: params.get("AccountSid").map(str::to_owned),
        home_region,
        url: url.to_owned(),
        body: body.clone(),
    }
}

/// Decodes a form body while it MACs `url` and the body's params with the first of
/// `keys`; other bodies as [`request_params`] does. The flag, when there is one, is
/// whether `signature` matched that key on `url` as it is.
fn params_with_first_try(
    parts: &Parts,
    body: &Bytes,
    signature: &Signature,
    selection: &Selection<'_>,
    url: &str,
) -> (RequestParams, Option<bool>) {
    let kind = body_kind(parts);
    match (kind, selection.keys.first()) {
        (BodyKind::Form, Some(key)) => {
            let (decoded, matched) =
                signature.matches_form(&key.signing, selection.algorithm, url, body);
            (RequestParams { kind, decoded }, Some(matched))
        }
        _ => (params_of_kind(kind, parts, body), None),
    }
}

/// Verifies a request whose public URL is `url` and whose [params](request_params) are
/// `params` (`None`: not decoded yet) against `keyring`.
pub(crate) fn verify_request(
    config: &Config,
    keyring: &Keyring,
    parts: &Parts,
    signature: &Signature,
    body: &Bytes,
    url: String,
    params: Option<RequestParams>,
) -> Result<VerifiedWebhook, Rejection> {
    let settings = match custom_header(&parts.headers, &SIGNATURE_SETTINGS) {
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

    let (params, first_try) = match params {
        Some(params) => (params, None),
        None => params_with_first_try(parts, body, signature, &selection, &url),
    };
    let RequestParams { kind, decoded } = params;
    // Only a form body's fields are appended to the URL; a GET's are in it already.
    let canonical = match kind {
        BodyKind::Form => decoded.canonical(),
        BodyKind::None | BodyKind::Hashed => CanonicalParams::none(),
    };
    if matches!(kind, BodyKind::Hashed) && body_sha256_values(&url).next().is_none() {
        return Err(Rejection::new(RejectionReason::MissingBodyHash)
            .with_urls_tried(vec![mask_userinfo(&url)])
            .with_hint(Hint::JsonWithoutBodyHash));
    }

    let candidates = config.variants.candidates(&url);
    let matched = candidates.find_map(|candidate| {
        // The same string, not an equal one (address and length): the URL as seen.
        let is_url = std::ptr::eq(candidate, url.as_str());
        let mut keys = selection.keys.iter().enumerate();
        let (_, key) = keys.find(|&(i, key)| match first_try {
            // Already tried while decoding.
            Some(matched) if is_url && i == 0 => matched,
            _ => signature.matches(&key.signing, selection.algorithm, candidate, &canonical),
        })?;
        // Copy the candidate only when it is a variant, not the URL we already own.
        Some((key, (!is_url).then(|| candidate.to_owned())))
    });
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
        if parts.uri.path().len() > 1
            && parts.uri.path().ends_with('/')
            && !config.variants.tries_trailing_slash()
        {
            rejection = rejection.with_hint(Hint::TrailingSlash);
        }
        for hint in config.public_url.hints(parts) {
            rejection = rejection.with_hint(hint);
        }
        return Err(rejection);
    };
    let url = variant.unwrap_or(url);
    if matches!(kind, BodyKind::Hashed) && check_body_sha256(&url, body).is_err() {
        return Err(Rejection::new(RejectionReason::BodyHashMismatch)
            .with_urls_tried(vec![mask_userinfo(&url)])
            .with_keys_tried(vec![key.id.clone()]));
    }
    Ok(VerifiedWebhook {
        key_id: key.id.clone(),
        key_kind: selection.kind,
        algorithm: selection.algorithm,
        url,
        params: Arc::new(decoded),
    })
}

/// The marker for a request passed on without verification (local development only).
pub(crate) fn unverified(url: String, params: FormParams) -> VerifiedWebhook {
    VerifiedWebhook {
        key_id: KeyId::verification_skipped(),
        key_kind: KeyKind::VerificationSkipped,
        algorithm: Algorithm::HmacSha1,
        url,
        params: Arc::new(params),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_header_finds_what_get_finds() {
        let mut headers = HeaderMap::new();
        // Same length as `x-twilio-signature`, another name.
        headers.insert("x-twilio-signaturx", HeaderValue::from_static("other"));
        assert_eq!(custom_header(&headers, &SIGNATURE), None);
        headers.append(&SIGNATURE, HeaderValue::from_static("first"));
        headers.append(&SIGNATURE, HeaderValue::from_static("second"));
        headers.insert("content-type", HeaderValue::from_static("text/plain"));
        for name in [&SIGNATURE, &SIGNATURE_SETTINGS] {
            assert_eq!(custom_header(&headers, name), headers.get(name));
        }
        assert_eq!(custom_header(&headers, &SIGNATURE).unwrap(), "first");
    }

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
            assert!(matches!(kind(Method::POST, Some(form)), BodyKind::Form));
        }
        for other in [
            &b"application/json"[..],
            b"application/x-www-form-urlencodedx",
            b"application/x-www-form",
            b"; application/x-www-form-urlencoded",
            b"",
        ] {
            assert!(matches!(kind(Method::POST, Some(other)), BodyKind::Hashed));
        }
        assert!(matches!(kind(Method::POST, None), BodyKind::Hashed));
        for method in [Method::GET, Method::HEAD] {
            let form = Some(&b"application/x-www-form-urlencoded"[..]);
            assert!(matches!(kind(method, form), BodyKind::None));
        }
    }
}
