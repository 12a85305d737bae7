//! HTTP Digest (RFC 7616) with `qop=auth`: the fields of an answer, the algorithms and their
//! hashes, the `response` expected, and the challenges.

use http::request::Parts;
use http::{HeaderValue, Uri};
use md5::Md5;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::nonce::Nonces;
use super::params::parse_auth_params;
use super::{AuthRejection, Credentials};

/// Checks a Digest answer (`params`, what follows `Digest ` in the header) to the request
/// `parts`, at Unix time `now` (seconds).
pub(super) fn check(
    parts: &Parts,
    params: &str,
    credentials: &Credentials,
    realm: &str,
    nonces: &Nonces,
    now: u64,
    allow_md5: bool,
) -> Result<(), AuthRejection> {
    let params = parse_auth_params(params).ok_or(AuthRejection::Malformed)?;
    let fields = DigestFields::from_params(&params)?;
    if fields.realm != realm {
        return Err(AuthRejection::RealmMismatch);
    }
    if !uri_matches(parts, fields.uri) {
        return Err(AuthRejection::UriMismatch);
    }
    let (hash, sess) = parse_algorithm(fields.algorithm)?;
    if hash == DigestHash::Md5 && !allow_md5 {
        return Err(AuthRejection::UnsupportedAlgorithm);
    }
    let well_formed = fields.nc.len() == 8
        && fields.nc.bytes().all(|b| b.is_ascii_hexdigit())
        && !fields.cnonce.is_empty()
        && fields.response.len() == hash.output_len() * 2
        && fields.response.bytes().all(|b| b.is_ascii_hexdigit());
    if !well_formed {
        return Err(AuthRejection::Malformed);
    }
    let issued = nonces.issued_at(realm, fields.nonce)?;

    let expected = digest_response(&DigestInput {
        hash,
        sess,
        username: &credentials.username,
        realm,
        password: &credentials.password,
        method: parts.method.as_str(),
        uri: fields.uri,
        nonce: fields.nonce,
        nc: fields.nc,
        cnonce: fields.cnonce,
        qop: fields.qop,
    });
    let received = fields.response.to_ascii_lowercase();
    let matches = credentials.username_matches(fields.username.as_bytes())
        & expected.as_bytes().ct_eq(received.as_bytes());
    if !bool::from(matches) {
        return Err(AuthRejection::WrongCredentials);
    }
    // RFC 7616 §3.3: stale only when the response itself was right.
    if nonces.is_stale(issued, now) {
        return Err(AuthRejection::StaleNonce);
    }
    Ok(())
}

/// The Digest `WWW-Authenticate` challenges for `realm` and `nonce`: SHA-256, then MD5
/// unless it is not allowed.
pub(super) fn challenges<'a>(
    realm: &'a str,
    nonce: &'a str,
    stale: bool,
    allow_md5: bool,
) -> impl Iterator<Item = HeaderValue> + 'a {
    let stale = if stale { ", stale=true" } else { "" };
    [DigestHash::Sha256, DigestHash::Md5]
        .into_iter()
        .filter(move |&hash| allow_md5 || hash != DigestHash::Md5)
        .filter_map(move |algorithm| {
            let challenge = format!(
                "Digest realm=\"{realm}\", qop=\"auth\", algorithm={}, nonce=\"{nonce}\"{stale}",
                algorithm.name(),
            );
            // The realm is printable ASCII without quotes and the nonce base64url, so
            // this cannot fail; never panic on a request anyway.
            HeaderValue::from_str(&challenge).ok()
        })
}

/// The Digest parameters this layer uses, all present.
#[derive(Debug)]
struct DigestFields<'a> {
    username: &'a str,
    realm: &'a str,
    nonce: &'a str,
    uri: &'a str,
    response: &'a str,
    algorithm: Option<&'a str>,
    qop: &'a str,
    nc: &'a str,
    cnonce: &'a str,
}

impl<'a> DigestFields<'a> {
    fn from_params(params: &'a [(String, String)]) -> Result<Self, AuthRejection> {
        let get = |name: &str| {
            params
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        let userhash = get("userhash").is_some_and(|v| !v.eq_ignore_ascii_case("false"));
        if userhash || get("username*").is_some() {
            return Err(AuthRejection::UnsupportedUsername);
        }
        // With qop=auth, nc and cnonce are required (RFC 7616 §3.4).
        let qop = get("qop")
            .filter(|qop| qop.eq_ignore_ascii_case("auth"))
            .ok_or(AuthRejection::UnsupportedQop)?;
        let required = |name: &str| get(name).ok_or(AuthRejection::Malformed);
        Ok(Self {
            username: required("username")?,
            realm: required("realm")?,
            nonce: required("nonce")?,
            uri: required("uri")?,
            response: required("response")?,
            algorithm: get("algorithm"),
            qop,
            nc: required("nc")?,
            cnonce: required("cnonce")?,
        })
    }
}

/// Whether the Digest `uri` names the request target (RFC 7616 §3.4.6): its origin form
/// (path and query, byte for byte), or its absolute form when the request line had one
/// (compared as `http::Uri` compares to a string: scheme and host case-insensitively).
fn uri_matches(parts: &Parts, digest_uri: &str) -> bool {
    let uri = original_uri(parts);
    let target = uri.path_and_query().map_or("/", |pq| pq.as_str());
    digest_uri == target || (uri.scheme().is_some() && *uri == *digest_uri)
}

/// The URI the client sent, before any router stripped a prefix.
fn original_uri(parts: &Parts) -> &Uri {
    #[cfg(feature = "axum")]
    if let Some(axum::extract::OriginalUri(uri)) = parts.extensions.get() {
        return uri;
    }
    &parts.uri
}

/// The hash a Digest algorithm is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DigestHash {
    Md5,
    Sha256,
}

impl DigestHash {
    fn name(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Sha256 => "SHA-256",
        }
    }

    fn output_len(self) -> usize {
        match self {
            Self::Md5 => 16,
            Self::Sha256 => 32,
        }
    }

    /// Lowercase hex of `H(parts[0] ":" parts[1] ":" ...)`.
    fn hex(self, parts: &[&[u8]]) -> Zeroizing<String> {
        match self {
            Self::Md5 => hex_digest::<Md5>(parts),
            Self::Sha256 => hex_digest::<Sha256>(parts),
        }
    }
}

fn hex_digest<D: Digest>(parts: &[&[u8]]) -> Zeroizing<String> {
    let mut hasher = D::new();
    for (n, part) in parts.iter().enumerate() {
        if n > 0 {
            Digest::update(&mut hasher, b":");
        }
        Digest::update(&mut hasher, part);
    }
    Zeroizing::new(hex::encode(hasher.finalize()))
}

/// `(hash, sess)` for an `algorithm` parameter; absent means MD5 (RFC 7616 §3.3).
fn parse_algorithm(name: Option<&str>) -> Result<(DigestHash, bool), AuthRejection> {
    let Some(name) = name else {
        return Ok((DigestHash::Md5, false));
    };
    [
        ("MD5", DigestHash::Md5, false),
        ("MD5-sess", DigestHash::Md5, true),
        ("SHA-256", DigestHash::Sha256, false),
        ("SHA-256-sess", DigestHash::Sha256, true),
    ]
    .into_iter()
    .find(|(known, _, _)| name.eq_ignore_ascii_case(known))
    .map(|(_, hash, sess)| (hash, sess))
    .ok_or(AuthRejection::UnsupportedAlgorithm)
}

/// Everything a Digest `response` is computed from.
struct DigestInput<'a> {
    hash: DigestHash,
    sess: bool,
    username: &'a str,
    realm: &'a str,
    password: &'a str,
    method: &'a str,
    uri: &'a str,
    nonce: &'a str,
    nc: &'a str,
    cnonce: &'a str,
    qop: &'a str,
}

/// The Digest `response` for `qop=auth` (RFC 7616 §3.4.1), lowercase hex:
///
/// ```text
/// A1       = username ":" realm ":" password          (then for -sess:
///            H(A1) ":" nonce ":" cnonce)
/// A2       = method ":" uri
/// response = H(H(A1) ":" nonce ":" nc ":" cnonce ":" qop ":" H(A2))
/// ```
fn digest_response(input: &DigestInput<'_>) -> Zeroizing<String> {
    let h = |parts: &[&[u8]]| input.hash.hex(parts);
    let mut ha1 = h(&[
        input.username.as_bytes(),
        input.realm.as_bytes(),
        input.password.as_bytes(),
    ]);
    if input.sess {
        ha1 = h(&[
            ha1.as_bytes(),
            input.nonce.as_bytes(),
            input.cnonce.as_bytes(),
        ]);
    }
    let ha2 = h(&[input.method.as_bytes(), input.uri.as_bytes()]);
    h(&[
        ha1.as_bytes(),
        input.nonce.as_bytes(),
        input.nc.as_bytes(),
        input.cnonce.as_bytes(),
        input.qop.as_bytes(),
        ha2.as_bytes(),
    ])
}

/// Visible to the layer's tests, which answer challenges with `Client`.
#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use http::Request;

    use super::*;
    use crate::auth::{DEFAULT_NONCE_LIFETIME, DEFAULT_REALM};

    const NOW: u64 = 1_800_000_000;
    const USER: &str = "twilio";
    const PASSWORD: &str = "fake-password-1";

    /// What the layer hands to `check`: its credentials, realm and nonces.
    #[derive(Clone)]
    struct Server {
        credentials: Credentials,
        realm: String,
        nonces: Nonces,
        allow_md5: bool,
    }

    impl Server {
        fn new() -> Self {
            Self {
                credentials: Credentials::new(USER, PASSWORD).unwrap(),
                realm: "test realm".to_owned(),
                nonces: Nonces::new(&[42; 32], DEFAULT_NONCE_LIFETIME),
                allow_md5: true,
            }
        }

        /// Checks `header`, a whole `Digest ...` value, sent with the request `method uri`.
        fn check(
            &self,
            method: &str,
            uri: &str,
            header: &str,
            now: u64,
        ) -> Result<(), AuthRejection> {
            let params = header.strip_prefix("Digest ").expect("a Digest header");
            let parts = Request::builder()
                .method(method)
                .uri(uri)
                .body(())
                .unwrap()
                .into_parts()
                .0;
            check(
                &parts,
                params,
                &self.credentials,
                &self.realm,
                &self.nonces,
                now,
                self.allow_md5,
            )
        }
    }

    /// A Digest client answering a challenge; each field can be spoiled by a test.
    #[derive(Clone)]
    pub(in crate::auth) struct Client {
        hash: DigestHash,
        sess: bool,
        algorithm: Option<&'static str>,
        username: String,
        password: String,
        realm: String,
        method: &'static str,
        uri: String,
        pub(in crate::auth) nonce: String,
        nc: &'static str,
        cnonce: &'static str,
        qop: &'static str,
    }

    impl Client {
        /// The right answer to a challenge for `realm` with a nonce issued at `issued`.
        pub(in crate::auth) fn new(realm: &str, nonces: &Nonces, issued: u64) -> Self {
            Self {
                hash: DigestHash::Sha256,
                sess: false,
                algorithm: Some("SHA-256"),
                username: USER.to_owned(),
                password: PASSWORD.to_owned(),
                realm: realm.to_owned(),
                method: "POST",
                uri: "/voice?x=1".to_owned(),
                nonce: nonces.make(realm, issued),
                nc: "00000001",
                cnonce: "0a4f113b",
                qop: "auth",
            }
        }

        pub(in crate::auth) fn header(&self) -> String {
            let response = digest_response(&DigestInput {
                hash: self.hash,
                sess: self.sess,
                username: &self.username,
                realm: &self.realm,
                password: &self.password,
                method: self.method,
                uri: &self.uri,
                nonce: &self.nonce,
                nc: self.nc,
                cnonce: self.cnonce,
                qop: self.qop,
            });
            let algorithm = self
                .algorithm
                .map_or(String::new(), |a| format!(", algorithm={a}"));
            format!(
                "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\"{algorithm}, \
                 qop={}, nc={}, cnonce=\"{}\", response=\"{}\"",
                self.username,
                self.realm,
                self.nonce,
                self.uri,
                self.qop,
                self.nc,
                self.cnonce,
                response.as_str()
            )
        }

        /// Sends the answer to `server`, at `now`, for the request `self.method self.uri`.
        fn send(&self, server: &Server, now: u64) -> Result<(), AuthRejection> {
            server.check(self.method, "/voice?x=1", &self.header(), now)
        }
    }

    fn rfc_input(hash: DigestHash) -> DigestInput<'static> {
        DigestInput {
            hash,
            sess: false,
            username: "Mufasa",
            realm: "http-auth@example.org",
            password: "Circle of Life",
            method: "GET",
            uri: "/dir/index.html",
            nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
            nc: "00000001",
            cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            qop: "auth",
        }
    }

    #[test]
    fn rfc_7616_worked_example() {
        // RFC 7616 §3.9.1.
        assert_eq!(
            digest_response(&rfc_input(DigestHash::Md5)).as_str(),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        assert_eq!(
            digest_response(&rfc_input(DigestHash::Sha256)).as_str(),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn sess_variant_hashes_nonce_and_cnonce_into_a1() {
        let plain = rfc_input(DigestHash::Md5);
        let sess = DigestInput {
            sess: true,
            ..plain
        };
        let ha1 = DigestHash::Md5.hex(&[b"Mufasa", b"http-auth@example.org", b"Circle of Life"]);
        let ha1_sess = DigestHash::Md5.hex(&[
            ha1.as_bytes(),
            sess.nonce.as_bytes(),
            sess.cnonce.as_bytes(),
        ]);
        let ha2 = DigestHash::Md5.hex(&[b"GET", b"/dir/index.html"]);
        let expected = DigestHash::Md5.hex(&[
            ha1_sess.as_bytes(),
            sess.nonce.as_bytes(),
            b"00000001",
            sess.cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]);
        assert_eq!(digest_response(&sess).as_str(), expected.as_str());
        assert_ne!(
            digest_response(&sess).as_str(),
            digest_response(&plain).as_str()
        );
    }

    #[test]
    fn digest_right_credentials_pass_with_every_algorithm() {
        let server = Server::new();
        for (algorithm, hash, sess) in [
            (Some("SHA-256"), DigestHash::Sha256, false),
            (Some("sha-256"), DigestHash::Sha256, false),
            (Some("SHA-256-sess"), DigestHash::Sha256, true),
            (Some("MD5"), DigestHash::Md5, false),
            (Some("MD5-sess"), DigestHash::Md5, true),
            (None, DigestHash::Md5, false),
        ] {
            let client = Client {
                algorithm,
                hash,
                sess,
                ..Client::new(&server.realm, &server.nonces, NOW)
            };
            assert_eq!(client.send(&server, NOW + 10), Ok(()), "{algorithm:?}");
        }
    }

    #[test]
    fn sha256_only_refuses_md5_and_offers_no_md5_challenge() {
        let server = Server {
            allow_md5: false,
            ..Server::new()
        };
        for (algorithm, hash, sess, expected) in [
            (Some("SHA-256"), DigestHash::Sha256, false, Ok(())),
            (Some("SHA-256-sess"), DigestHash::Sha256, true, Ok(())),
            (
                Some("MD5"),
                DigestHash::Md5,
                false,
                Err(AuthRejection::UnsupportedAlgorithm),
            ),
            (
                None,
                DigestHash::Md5,
                false,
                Err(AuthRejection::UnsupportedAlgorithm),
            ),
        ] {
            let client = Client {
                algorithm,
                hash,
                sess,
                ..Client::new(&server.realm, &server.nonces, NOW)
            };
            assert_eq!(client.send(&server, NOW + 10), expected, "{algorithm:?}");
        }
        let offered: Vec<HeaderValue> = challenges("r", "n", false, false).collect();
        assert_eq!(offered.len(), 1);
        assert!(offered[0].to_str().unwrap().contains("algorithm=SHA-256"));
        assert_eq!(challenges("r", "n", false, true).count(), 2);
    }

    #[test]
    fn digest_failures() {
        let server = Server::new();
        let good = Client::new(&server.realm, &server.nonces, NOW);
        let other_key = Nonces::new(&[43; 32], DEFAULT_NONCE_LIFETIME);
        let mut tampered = URL_SAFE_NO_PAD.decode(&good.nonce).unwrap();
        tampered[7] ^= 1; // the timestamp, one second off
        let cases: Vec<(&str, Client, AuthRejection)> = vec![
            (
                "wrong password",
                Client {
                    password: "fake-password-2".into(),
                    ..good.clone()
                },
                AuthRejection::WrongCredentials,
            ),
            (
                "wrong username",
                Client {
                    username: "twilio2".into(),
                    ..good.clone()
                },
                AuthRejection::WrongCredentials,
            ),
            (
                "wrong realm",
                Client {
                    realm: "other realm".into(),
                    ..good.clone()
                },
                AuthRejection::RealmMismatch,
            ),
            (
                "wrong uri",
                Client {
                    uri: "/other".into(),
                    ..good.clone()
                },
                AuthRejection::UriMismatch,
            ),
            (
                "uri without the query",
                Client {
                    uri: "/voice".into(),
                    ..good.clone()
                },
                AuthRejection::UriMismatch,
            ),
            (
                "response computed for another method",
                Client {
                    method: "GET",
                    ..good.clone()
                },
                // The request below is a POST.
                AuthRejection::WrongCredentials,
            ),
            (
                "nonce from another key",
                Client {
                    nonce: other_key.make(&server.realm, NOW),
                    ..good.clone()
                },
                AuthRejection::InvalidNonce,
            ),
            (
                "nonce with a changed timestamp",
                Client {
                    nonce: URL_SAFE_NO_PAD.encode(&tampered),
                    ..good.clone()
                },
                AuthRejection::InvalidNonce,
            ),
            (
                "nonce of the RFC example",
                Client {
                    nonce: "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v".into(),
                    ..good.clone()
                },
                AuthRejection::InvalidNonce,
            ),
            (
                "unsupported algorithm",
                Client {
                    algorithm: Some("SHA-512-256"),
                    ..good.clone()
                },
                AuthRejection::UnsupportedAlgorithm,
            ),
            (
                "auth-int",
                Client {
                    qop: "auth-int",
                    ..good.clone()
                },
                AuthRejection::UnsupportedQop,
            ),
            (
                "nc not 8 hex digits",
                Client {
                    nc: "1",
                    ..good.clone()
                },
                AuthRejection::Malformed,
            ),
            (
                "empty cnonce",
                Client {
                    cnonce: "",
                    ..good.clone()
                },
                AuthRejection::Malformed,
            ),
        ];
        for (name, client, expected) in cases {
            let header = client.header();
            assert_eq!(
                server.check("POST", "/voice?x=1", &header, NOW + 1),
                Err(expected),
                "{name}"
            );
        }
        // The good client passes, so each case above failed for its own reason.
        assert_eq!(good.send(&server, NOW + 1), Ok(()));
    }

    #[test]
    fn nonce_expiry_is_stale_only_with_right_credentials() {
        let server = Server::new();
        let lifetime = DEFAULT_NONCE_LIFETIME.as_secs();
        let new_client = |issued| Client::new(&server.realm, &server.nonces, issued);
        let old = new_client(NOW - lifetime);
        assert_eq!(old.send(&server, NOW), Ok(()), "exactly the lifetime");
        let expired = new_client(NOW - lifetime - 1);
        assert_eq!(expired.send(&server, NOW), Err(AuthRejection::StaleNonce));
        let future = new_client(NOW + lifetime + 1);
        assert_eq!(future.send(&server, NOW), Err(AuthRejection::StaleNonce));
        let wrong = Client {
            password: "nope".into(),
            ..expired
        };
        assert_eq!(
            wrong.send(&server, NOW),
            Err(AuthRejection::WrongCredentials)
        );

        let mut short = server.clone();
        short.nonces.set_lifetime(Duration::from_secs(10));
        let client = Client::new(&short.realm, &short.nonces, NOW);
        assert_eq!(client.send(&short, NOW + 10), Ok(()));
        assert_eq!(
            client.send(&short, NOW + 11),
            Err(AuthRejection::StaleNonce)
        );
    }

    #[test]
    fn digest_username_with_quotes_round_trips() {
        let server = Server {
            credentials: Credentials::new("a\"b\\c", PASSWORD).unwrap(),
            realm: DEFAULT_REALM.to_owned(),
            nonces: Nonces::new(&[1; 32], DEFAULT_NONCE_LIFETIME),
            allow_md5: true,
        };
        let nonce = server.nonces.make(&server.realm, NOW);
        let response = digest_response(&DigestInput {
            hash: DigestHash::Sha256,
            sess: false,
            username: "a\"b\\c",
            realm: DEFAULT_REALM,
            password: PASSWORD,
            method: "GET",
            uri: "/",
            nonce: &nonce,
            nc: "00000001",
            cnonce: "x",
            qop: "auth",
        });
        let header = format!(
            "Digest username=\"a\\\"b\\\\c\", realm=\"{DEFAULT_REALM}\", nonce=\"{nonce}\", uri=\"/\", \
             algorithm=SHA-256, qop=auth, nc=00000001, cnonce=\"x\", response=\"{}\"",
            response.as_str()
        );
        assert_eq!(server.check("GET", "/", &header, NOW), Ok(()));
    }

    #[test]
    fn absolute_form_request_target() {
        let server = Server::new();
        let client = Client {
            uri: "http://example.com/voice?x=1".into(),
            ..Client::new(&server.realm, &server.nonces, NOW)
        };
        let header = client.header();
        assert_eq!(
            server.check("POST", "http://example.com/voice?x=1", &header, NOW),
            Ok(())
        );
        assert_eq!(
            server.check("POST", "/voice?x=1", &header, NOW),
            Err(AuthRejection::UriMismatch)
        );
    }
}
