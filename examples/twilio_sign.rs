//! Sign a webhook request the way Twilio does, to test your own deployment end to end.
//!
//! ```text
//! export TWILIO_AUTH_TOKEN=your_token
//! cargo run --example twilio_sign -- https://hooks.example.com/voice CallSid=CA123 From=+15005550006
//! cargo run --example twilio_sign -- --curl https://hooks.example.com/voice CallSid=CA123
//! cargo run --example twilio_sign -- --send http://127.0.0.1:3000/voice CallSid=CA123
//! cargo run --example twilio_sign -- --send --json '{"type":"test"}' http://127.0.0.1:3000/events
//! cargo run --example twilio_sign -- --get 'http://127.0.0.1:3000/voice?CallSid=CA123'
//! ```
//!
//! Prints the `X-Twilio-Signature` value (default), a `curl` command (`--curl`), or sends the
//! request and prints the response (`--send`, plain `http://` only; use `--curl` for https).
//! `--shared-key ID [--algorithm HMAC_SHA1|HMAC_SHA256]` signs with that shared key from
//! `TWILIO_WEBHOOK_SHARED_KEYS` and adds the settings header. The token is never printed.

use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower_twilio::signature::{body_sha256, sign, Algorithm};

const USAGE: &str = "usage: twilio_sign [--curl | --send] [--get | --json BODY] \
[--shared-key ID [--algorithm HMAC_SHA1|HMAC_SHA256]] URL [NAME=VALUE ...]";

#[derive(PartialEq)]
enum Output {
    Header,
    Curl,
    Send,
}

/// One request to sign, as the command line describes it.
struct Signed {
    method: &'static str,
    /// The URL exactly as signed (with `bodySHA256` for JSON).
    url: String,
    content_type: Option<&'static str>,
    body: String,
    headers: Vec<(&'static str, String)>,
}

fn parse(args: Vec<String>) -> Result<(Output, Signed), String> {
    let mut output = Output::Header;
    let (mut get, mut json, mut shared_key, mut algorithm) = (false, None, None, None);
    let mut rest = Vec::new();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--curl" => output = Output::Curl,
            "--send" => output = Output::Send,
            "--get" => get = true,
            "--json" => json = Some(args.next().ok_or("--json needs a body")?),
            "--shared-key" => shared_key = Some(args.next().ok_or("--shared-key needs an id")?),
            "--algorithm" => {
                let name = args.next().ok_or("--algorithm needs a name")?;
                algorithm =
                    Some(Algorithm::from_name(&name).ok_or(format!("unknown algorithm {name}"))?);
            }
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with("--") => {
                return Err(format!("unknown option {flag}\n{USAGE}"))
            }
            _ => rest.push(arg),
        }
    }
    let mut rest = rest.into_iter();
    let url = rest.next().ok_or(USAGE)?;
    let params: Vec<(String, String)> = rest
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => Ok((name.to_owned(), value.to_owned())),
            None => Err(format!("{pair:?} is not NAME=VALUE")),
        })
        .collect::<Result<_, _>>()?;
    if (get || json.is_some()) && !params.is_empty() {
        return Err("--get and --json sign the URL alone: put parameters in the URL query".into());
    }

    let (secret, algorithm, settings) = match shared_key {
        None => {
            let token = std::env::var("TWILIO_AUTH_TOKEN").map_err(|_| "set TWILIO_AUTH_TOKEN")?;
            (token, algorithm.unwrap_or(Algorithm::HmacSha1), None)
        }
        Some(id) => {
            let list = std::env::var("TWILIO_WEBHOOK_SHARED_KEYS")
                .map_err(|_| "set TWILIO_WEBHOOK_SHARED_KEYS")?;
            let secret = list
                .split(',')
                .filter_map(|entry| entry.trim().split_once('='))
                .find(|(key, _)| key.trim() == id)
                .map(|(_, secret)| secret.to_owned())
                .ok_or(format!(
                    "no shared key {id:?} in TWILIO_WEBHOOK_SHARED_KEYS"
                ))?;
            let algorithm = algorithm.unwrap_or(Algorithm::HmacSha256);
            (
                secret,
                algorithm,
                Some(format!("key={id},algorithm={algorithm}")),
            )
        }
    };

    let mut signed = match json {
        Some(body) => {
            let separator = if url.contains('?') { '&' } else { '?' };
            Signed {
                method: "POST",
                url: format!(
                    "{url}{separator}bodySHA256={}",
                    body_sha256(body.as_bytes())
                ),
                content_type: Some("application/json"),
                body,
                headers: Vec::new(),
            }
        }
        None if get => Signed {
            method: "GET",
            url,
            content_type: None,
            body: String::new(),
            headers: Vec::new(),
        },
        None => Signed {
            method: "POST",
            body: form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&params)
                .finish(),
            url,
            content_type: Some("application/x-www-form-urlencoded"),
            headers: Vec::new(),
        },
    };
    let pairs = params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    signed.headers.push((
        "X-Twilio-Signature",
        sign(&secret, &signed.url, pairs, algorithm),
    ));
    if let Some(settings) = settings {
        signed
            .headers
            .push(("X-Twilio-Webhooks-Signature-Settings", settings));
    }
    Ok((output, signed))
}

/// Quotes for a POSIX shell.
fn sh(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

fn curl(signed: &Signed) -> String {
    let mut command = format!("curl -i -X {}", signed.method);
    if let Some(content_type) = signed.content_type {
        command.push_str(&format!(
            " -H {}",
            sh(&format!("Content-Type: {content_type}"))
        ));
    }
    for (name, value) in &signed.headers {
        command.push_str(&format!(" -H {}", sh(&format!("{name}: {value}"))));
    }
    if !signed.body.is_empty() {
        command.push_str(&format!(" --data-binary {}", sh(&signed.body)));
    }
    // curl turns user:pass@ into an Authorization header, as Twilio does.
    command.push_str(&format!(" {}", sh(&signed.url)));
    command
}

async fn send(signed: Signed) -> Result<String, String> {
    if !signed.url.starts_with("http://") {
        return Err("--send speaks plain http://; use --curl for https".into());
    }
    // Userinfo is signed but travels as an Authorization header, as Twilio sends it.
    let (url, userinfo) = split_userinfo(&signed.url);
    let mut request = http::Request::builder().method(signed.method).uri(url);
    if let Some(userinfo) = userinfo {
        use base64::Engine as _;
        let credentials = base64::engine::general_purpose::STANDARD.encode(userinfo);
        request = request.header("authorization", format!("Basic {credentials}"));
    }
    if let Some(content_type) = signed.content_type {
        request = request.header("content-type", content_type);
    }
    for (name, value) in &signed.headers {
        request = request.header(*name, value);
    }
    let request = request
        .body(Full::new(Bytes::from(signed.body)))
        .map_err(|err| format!("invalid request: {err}"))?;
    let client = Client::builder(TokioExecutor::new()).build_http();
    let response = client
        .request(request)
        .await
        .map_err(|err| format!("request failed: {err}"))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|err| err.to_string())?
        .to_bytes();
    Ok(format!(
        "{} {}\n{}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        String::from_utf8_lossy(&body)
    ))
}

/// `http://user:pass@host/x` -> (`http://host/x`, `user:pass`), percent-decoded.
fn split_userinfo(url: &str) -> (String, Option<String>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_owned(), None);
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    match rest[..authority_end].rsplit_once('@') {
        Some((userinfo, host)) => {
            let userinfo = percent_decode(userinfo);
            (
                format!("{scheme}://{host}{}", &rest[authority_end..]),
                Some(userinfo),
            )
        }
        None => (url.to_owned(), None),
    }
}

fn percent_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map_or_else(String::new, |(_, v)| v.into_owned())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let (output, signed) = match parse(std::env::args().skip(1).collect()) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("twilio_sign: {message}");
            return ExitCode::from(2);
        }
    };
    match output {
        Output::Header => println!("{}", signed.headers[0].1),
        Output::Curl => println!("{}", curl(&signed)),
        Output::Send => match send(signed).await {
            Ok(response) => print!("{response}"),
            Err(message) => {
                eprintln!("twilio_sign: {message}");
                return ExitCode::from(1);
            }
        },
    }
    ExitCode::SUCCESS
}
