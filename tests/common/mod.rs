//! Shared by the integration tests: the signature vectors and a way to send them.
#![allow(dead_code)]

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Vector {
    pub name: String,
    pub secret: String,
    pub algorithm: String,
    #[serde(default)]
    pub signature_settings: Option<String>,
    pub url: String,
    pub content_type: String,
    pub body: String,
    pub params: Vec<(String, String)>,
    pub signature: String,
}

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

/// Every vector from `tests/vectors/*.json`.
pub fn vectors() -> Vec<Vector> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors");
    let mut all = Vec::new();
    for name in ["official.json", "generated.json"] {
        let text = std::fs::read_to_string(format!("{dir}/{name}")).expect("vector file");
        let file: File = serde_json::from_str(&text).expect("vector JSON");
        all.extend(file.vectors);
    }
    assert!(all.len() >= 29, "expected all vectors, found {}", all.len());
    all
}

/// Splits `scheme://[userinfo@]authority/target` into its pieces.
pub struct UrlPieces<'a> {
    pub scheme: &'a str,
    pub userinfo: Option<&'a str>,
    pub host: &'a str,
    pub target: &'a str,
}

pub fn pieces(url: &str) -> UrlPieces<'_> {
    let (scheme, rest) = url.split_once("://").expect("absolute URL");
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, target) = rest.split_at(end);
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => (Some(userinfo), host),
        None => (None, authority),
    };
    UrlPieces {
        scheme,
        userinfo,
        host,
        target: if target.is_empty() { "/" } else { target },
    }
}
