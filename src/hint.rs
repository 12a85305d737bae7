//! Likely causes of a failed verification, for the log line of a rejection.
//!
//! Its own module so that [`public_url`](crate::public_url), which sees most causes, and
//! [`rejection`](crate::rejection), which reports them, need not import each other.

use std::fmt;

/// A likely cause of a failed verification, visible from the request and the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Hint {
    /// The path ends with `/` and trailing-slash variants are off; Twilio may have signed
    /// the URL without it.
    TrailingSlash,
    /// A non-form body arrived without `bodySHA256` in the URL: Twilio adds it to JSON
    /// webhooks, so the URL or the content type was changed on the way.
    JsonWithoutBodyHash,
    /// The settings header names a shared key this keyring does not hold.
    UnknownSharedKey,
    /// The request carries `Forwarded` or `X-Forwarded-*` headers, but the public URL is
    /// taken as seen, so they were ignored (behind a proxy? see
    /// [`PublicUrl::trusted_proxies`](crate::PublicUrl::trusted_proxies)).
    ProxyHeadersIgnored,
    /// Proxy headers came from a peer that is not a trusted proxy, so they were ignored.
    ProxyHeadersFromUntrustedPeer,
    /// Trusted proxies are configured, but the request carries no peer address
    /// (`ConnectInfo` or [`PeerAddr`](crate::public_url::PeerAddr)), so none is believed.
    NoPeerAddress,
    /// The host this server saw differs from the fixed public URL's host.
    HostDiffersFromPublicUrl,
    /// The request came to a loopback host (`localhost`, `127.0.0.1`, `[::1]`): a signature
    /// made for one of those names does not match another.
    LoopbackHost,
}

impl Hint {
    /// One sentence for the log.
    pub fn message(&self) -> &'static str {
        match self {
            Self::TrailingSlash => {
                "the path ends with '/' and trailing-slash variants are off; Twilio may have signed it without"
            }
            Self::JsonWithoutBodyHash => {
                "Twilio adds bodySHA256 to the URL of non-form webhooks; the URL or Content-Type changed on the way"
            }
            Self::UnknownSharedKey => {
                "the settings header names a shared key that is not configured (Keyring::with_shared_key, or TWILIO_WEBHOOK_SHARED_KEYS for Keyring::from_env)"
            }
            Self::ProxyHeadersIgnored => {
                "the request has Forwarded/X-Forwarded-* headers but the URL is taken as seen; behind a proxy, configure trusted proxies or a public URL"
            }
            Self::ProxyHeadersFromUntrustedPeer => {
                "Forwarded/X-Forwarded-* headers came from a peer that is not a trusted proxy and were ignored (is the proxy's address in PublicUrl::trusted_proxies?)"
            }
            Self::NoPeerAddress => {
                "trusted proxies are configured but the peer address is unknown; serve with into_make_service_with_connect_info::<SocketAddr>()"
            }
            Self::LoopbackHost => {
                "the host is a loopback address: localhost, 127.0.0.1 and [::1] are different URLs to a signature; sign for the name the request is sent to"
            }
            Self::HostDiffersFromPublicUrl => {
                "the Host this server saw differs from the public URL's host; that is expected behind a proxy, but check that PublicUrl::fixed is given the URL configured in Twilio"
            }
        }
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}
