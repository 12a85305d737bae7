//! Why a request was refused, the default responses, and the hook to replace them.
//!
//! Every rejection is data ([`Rejection`]): the layer logs it once as a `tracing` event under
//! the target `tower_twilio`, hands it to the [`OnRejection`] hook to build the response, and
//! puts it in that response's extensions so outer layers can see it too.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use http::{header, HeaderValue, Response, StatusCode};

pub use crate::hint::Hint;
use crate::keys::{KeyId, SettingsError};
use crate::public_url::UrlError;
use crate::signature::MalformedSignature;

/// Why a request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RejectionReason {
    /// No `X-Twilio-Signature` header (403).
    MissingSignature,
    /// The header is empty, not base64, or of the wrong length (403).
    MalformedSignature(MalformedSignature),
    /// No URL candidate and key produced the signature sent (403).
    SignatureMismatch,
    /// A non-form body, and the URL has no `bodySHA256` parameter (403).
    MissingBodyHash,
    /// The signature matched, but `bodySHA256` is not the hash of the body received (403).
    BodyHashMismatch,
    /// `X-Twilio-Webhooks-Signature-Settings` is malformed, names an unsupported algorithm
    /// or an unknown shared key (403).
    SignatureSettings(SettingsError),
    /// The body is over the configured limit (413).
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body could not be read: the client went away or broke HTTP (400).
    BodyReadFailed,
    /// The URL could not be rebuilt: no host or a malformed one (400), unusable headers from
    /// a trusted proxy, or a custom function that returned none (403).
    Url(UrlError),
    /// The [key resolver](crate::keys::KeyResolver) knows no keys for this request (403).
    UnknownAccount,
    /// The [key resolver](crate::keys::KeyResolver) failed (503, so Twilio retries).
    KeyLookupFailed,
    /// `X-Twilio-Signature` or `X-Twilio-Webhooks-Signature-Settings` came more than once
    /// (400): which one counts would be a guess, so neither does.
    RepeatedHeader(SignatureHeader),
    /// A method Twilio does not send (only `GET` and `POST`, unless configured otherwise):
    /// the signature does not cover the method, so a `GET`'s could be replayed as any other
    /// (405).
    MethodNotAllowed,
    /// A `GET` or `HEAD` with a body: Twilio signs the URL alone for those, so the body
    /// would reach the handler unsigned (400).
    UnsignedBody,
    /// A form `POST` with no parameters (or only empty ones): its string to sign is the
    /// URL alone, a `GET`'s, so a `GET`'s signature would pass for it. Twilio's form
    /// webhooks always carry parameters (400).
    EmptyForm,
    /// Strict parameters are on, and a key repeats or has a character Twilio's parameter
    /// names never have (400).
    UnexpectedParams,
}

/// The request headers that carry a signature and how it was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureHeader {
    /// `X-Twilio-Signature`.
    Signature,
    /// `X-Twilio-Webhooks-Signature-Settings`.
    Settings,
}

impl SignatureHeader {
    /// The header's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Signature => "X-Twilio-Signature",
            Self::Settings => "X-Twilio-Webhooks-Signature-Settings",
        }
    }
}

impl RejectionReason {
    /// The status of the default response.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::KeyLookupFailed => StatusCode::SERVICE_UNAVAILABLE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::BodyReadFailed
            | Self::RepeatedHeader(_)
            | Self::UnsignedBody
            | Self::EmptyForm
            | Self::UnexpectedParams
            | Self::Url(UrlError::MissingHost | UrlError::InvalidHost) => StatusCode::BAD_REQUEST,
            _ => StatusCode::FORBIDDEN,
        }
    }

    /// The short text of the default response body. It says what failed, not why, so it
    /// helps a developer testing by hand and tells an attacker nothing new.
    pub fn message(&self) -> &'static str {
        match self {
            Self::MissingSignature => "Missing X-Twilio-Signature header\n",
            Self::MalformedSignature(_) => "Malformed X-Twilio-Signature header\n",
            Self::SignatureMismatch => "Invalid Twilio signature\n",
            Self::MissingBodyHash => "Missing bodySHA256 for a non-form body\n",
            Self::BodyHashMismatch => "Body does not match bodySHA256\n",
            Self::SignatureSettings(_) => "Unusable X-Twilio-Webhooks-Signature-Settings header\n",
            Self::BodyTooLarge { .. } => "Request body too large\n",
            Self::BodyReadFailed => "Request body could not be read\n",
            Self::Url(UrlError::MissingHost | UrlError::InvalidHost) => {
                "Request has no usable Host\n"
            }
            Self::Url(_) => "Public URL could not be determined\n",
            Self::UnknownAccount => "Invalid Twilio signature\n",
            Self::KeyLookupFailed => "Signature keys are unavailable, try again later\n",
            Self::RepeatedHeader(_) => "Repeated X-Twilio signature header\n",
            Self::MethodNotAllowed => "Method not allowed for Twilio webhooks\n",
            Self::UnsignedBody => "A GET or HEAD webhook has no body\n",
            Self::EmptyForm => "A form webhook without parameters\n",
            Self::UnexpectedParams => "Parameters Twilio does not send\n",
        }
    }

    /// A stable `snake_case` name, for metrics labels and log queries.
    ///
    /// ```
    /// use tower_twilio::RejectionReason;
    /// assert_eq!(RejectionReason::SignatureMismatch.name(), "signature_mismatch");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Self::MissingSignature => "missing_signature",
            Self::MalformedSignature(_) => "malformed_signature",
            Self::SignatureMismatch => "signature_mismatch",
            Self::MissingBodyHash => "missing_body_hash",
            Self::BodyHashMismatch => "body_hash_mismatch",
            Self::SignatureSettings(_) => "signature_settings",
            Self::BodyTooLarge { .. } => "body_too_large",
            Self::BodyReadFailed => "body_read_failed",
            Self::Url(UrlError::MissingHost) => "missing_host",
            Self::Url(UrlError::InvalidHost) => "invalid_host",
            Self::Url(UrlError::ProxyHeader(_)) => "proxy_header",
            Self::Url(UrlError::CustomRefused) => "custom_url_refused",
            Self::UnknownAccount => "unknown_account",
            Self::KeyLookupFailed => "key_lookup_failed",
            Self::RepeatedHeader(_) => "repeated_header",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::UnsignedBody => "unsigned_body",
            Self::EmptyForm => "empty_form",
            Self::UnexpectedParams => "unexpected_params",
        }
    }
}

impl fmt::Display for RejectionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingSignature => f.write_str("missing X-Twilio-Signature header"),
            Self::MalformedSignature(why) => write!(f, "malformed signature: {why}"),
            Self::SignatureMismatch => f.write_str("signature does not match"),
            Self::MissingBodyHash => f.write_str("non-form body without bodySHA256"),
            Self::BodyHashMismatch => f.write_str("bodySHA256 does not match the body"),
            Self::SignatureSettings(why) => write!(f, "{why}"),
            Self::BodyTooLarge { limit } => write!(f, "body over the {limit}-byte limit"),
            Self::BodyReadFailed => f.write_str("body could not be read"),
            Self::Url(why) => write!(f, "URL could not be rebuilt: {why}"),
            Self::UnknownAccount => f.write_str("the key resolver knows no keys for this request"),
            Self::KeyLookupFailed => f.write_str("the key resolver failed"),
            Self::RepeatedHeader(header) => write!(f, "{} came more than once", header.name()),
            Self::MethodNotAllowed => f.write_str("method not allowed"),
            Self::UnsignedBody => f.write_str("GET or HEAD with a body"),
            Self::EmptyForm => f.write_str("form POST without parameters"),
            Self::UnexpectedParams => {
                f.write_str("a parameter key repeats or is not a Twilio parameter name")
            }
        }
    }
}

/// A refused request: the reason, and what was tried.
///
/// Put in the extensions of every rejection response, whoever built it, so an outer layer or
/// a test can read why:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use axum::{routing::post, Router};
/// use tower::ServiceExt;
/// use tower_twilio::{testing, Rejection, RejectionReason, TwilioWebhookLayer};
///
/// let app = Router::new()
///     .route("/voice", post(|| async { "<Response/>" }))
///     .layer(TwilioWebhookLayer::new("fake_token").unwrap());
/// let forged = testing::form_request("not_the_token", "http://localhost/voice", &[("A", "1")]);
/// let response = app.oneshot(forged).await.unwrap();
/// let rejection = response.extensions().get::<Rejection>().unwrap();
/// assert_eq!(rejection.reason(), RejectionReason::SignatureMismatch);
/// assert_eq!(rejection.status(), 403);
/// assert_eq!(rejection.keys_tried()[0].as_str(), "primary");
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Rejection {
    reason: RejectionReason,
    urls_tried: Vec<String>,
    keys_tried: Vec<KeyId>,
    hints: Vec<Hint>,
    detail: Option<String>,
    /// Whole seconds, rounded up: what `Retry-After` can say.
    retry_after: Option<u32>,
}

impl Rejection {
    pub(crate) fn new(reason: RejectionReason) -> Self {
        Self {
            reason,
            urls_tried: Vec::new(),
            keys_tried: Vec::new(),
            hints: Vec::new(),
            detail: None,
            retry_after: None,
        }
    }

    /// The client is over its limit of failed verifications: answered 429, and may fail
    /// again after `wait`.
    pub(crate) fn limited(mut self, wait: Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        self.retry_after = Some(u32::try_from(seconds.max(1)).unwrap_or(u32::MAX));
        self
    }

    pub(crate) fn with_detail(mut self, detail: String) -> Self {
        self.detail = Some(detail);
        self
    }

    pub(crate) fn with_urls_tried(mut self, urls: Vec<String>) -> Self {
        self.urls_tried = urls;
        self
    }

    pub(crate) fn with_keys_tried(mut self, keys: Vec<KeyId>) -> Self {
        self.keys_tried = keys;
        self
    }

    pub(crate) fn with_hint(mut self, hint: Hint) -> Self {
        if !self.hints.contains(&hint) {
            self.hints.push(hint);
        }
        self
    }

    /// Why the request was refused.
    pub fn reason(&self) -> RejectionReason {
        self.reason
    }

    /// The status of the default response: the reason's, or `429 Too Many Requests` for a
    /// client over its [limit of failed verifications](crate::layer::FailureLimit).
    pub fn status(&self) -> StatusCode {
        match self.retry_after {
            Some(_) => StatusCode::TOO_MANY_REQUESTS,
            None => self.reason.status(),
        }
    }

    /// For a client over its limit of failed verifications, how long until it may fail
    /// again (the default response's `Retry-After`, in whole seconds, at least 1).
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
            .map(|seconds| Duration::from_secs(seconds.into()))
    }

    /// The URL candidates tried, in order, passwords masked. Empty when verification did not
    /// get that far.
    pub fn urls_tried(&self) -> &[String] {
        &self.urls_tried
    }

    /// The ids of the keys tried (never a secret).
    pub fn keys_tried(&self) -> &[KeyId] {
        &self.keys_tried
    }

    /// Likely causes visible from the request.
    pub fn hints(&self) -> &[Hint] {
        &self.hints
    }

    /// More about the failure, where there is more: the key resolver's error.
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }

    /// The default response: the status, a short `text/plain` body, and `Retry-After` for a
    /// client over its limit.
    pub fn default_response<B: From<&'static str>>(&self) -> Response<B> {
        let message = match self.retry_after {
            Some(_) => "Too many failed verifications, try again later\n",
            None => self.reason.message(),
        };
        let mut response = Response::new(B::from(message));
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }

    /// Logs this rejection: one event, target `tower_twilio`, at `warn` (`error` for a
    /// server-side failure).
    pub(crate) fn log(&self, method: &http::Method, path: &str, peer: Option<IpAddr>) {
        let hints: Vec<&str> = self.hints.iter().map(Hint::message).collect();
        // Queries of GET webhooks carry phone numbers and message text: at `warn` the URLs
        // show their parameter names only; the whole (password-masked) URLs go to `debug`.
        let urls: Vec<String> = self
            .urls_tried
            .iter()
            .map(|u| query_names_only(u))
            .collect();
        let peer = peer.map(tracing::field::display);
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: "tower_twilio",
                    $level,
                    reason = %self.reason,
                    status = self.status().as_u16(),
                    %method,
                    path,
                    peer,
                    urls_tried = ?urls,
                    keys_tried = ?self.keys_tried,
                    hints = ?hints,
                    detail = self.detail.as_deref(),
                    "Twilio webhook rejected"
                )
            };
        }
        if self.status().is_server_error() {
            event!(tracing::Level::ERROR);
        } else {
            event!(tracing::Level::WARN);
        }
        if !self.urls_tried.is_empty() {
            tracing::debug!(
                target: "tower_twilio",
                urls_tried = ?self.urls_tried,
                "the URLs tried for that rejection, whole (may hold personal data)"
            );
        }
    }
}

/// `url` with each query parameter reduced to its name: `https://h/p?From=%2B1&To=2` is
/// `https://h/p?From&To`.
fn query_names_only(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let names: Vec<&str> = query
        .split('&')
        .map(|pair| pair.split_once('=').map_or(pair, |(name, _)| name))
        .collect();
    format!("{base}?{}", names.join("&"))
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.reason, f)
    }
}

impl std::error::Error for Rejection {}

/// Builds the response for a refused request.
///
/// Implemented for closures `Fn(&Rejection) -> Response<B>`, so a custom response is one
/// line. The layer logs the rejection and adds it to the response's extensions either way.
///
/// ```
/// use http::{Response, StatusCode};
/// use tower_twilio::{Rejection, TwilioWebhookLayer};
///
/// // Answer every refusal with an empty 404, to not even admit the route exists.
/// let layer = TwilioWebhookLayer::new("fake_token")?.on_rejection(|_: &Rejection| {
///     let mut response = Response::new(String::new());
///     *response.status_mut() = StatusCode::NOT_FOUND;
///     response
/// });
/// # let _ = layer;
/// # Ok::<_, tower_twilio::ConfigError>(())
/// ```
pub trait OnRejection<B>: Send + Sync + 'static {
    /// The response to send instead of calling the inner service.
    fn response(&self, rejection: &Rejection) -> Response<B>;
}

impl<F, B> OnRejection<B> for F
where
    F: Fn(&Rejection) -> Response<B> + Send + Sync + 'static,
{
    fn response(&self, rejection: &Rejection) -> Response<B> {
        self(rejection)
    }
}

/// The default [`OnRejection`]: [`Rejection::default_response`].
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct DefaultOnRejection;

impl<B: From<&'static str>> OnRejection<B> for DefaultOnRejection {
    fn response(&self, rejection: &Rejection) -> Response<B> {
        rejection.default_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_left_out() {
        for (url, shown) in [
            (
                "https://h/p?From=%2B15550001&To=%2B1&Body",
                "https://h/p?From&To&Body",
            ),
            ("https://u:***@h/p", "https://u:***@h/p"),
            ("https://h/p?", "https://h/p?"),
            ("https://h/p?x=1#f=2", "https://h/p?x"),
        ] {
            assert_eq!(query_names_only(url), shown, "{url}");
        }
    }
}
