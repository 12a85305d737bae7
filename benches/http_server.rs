//! The server of the HTTP-level benchmark (`scripts/bench/http.sh` drives it with `wrk`).
//!
//! Three routes answering the same TwiML from the same form field, all called with
//! `?tenant=acme&flow=main` and the same body and headers (the benchmark's voice webhook):
//!
//! * `/open/voice`: no layer, axum's `Form<HashMap<String, String>>`;
//! * `/plain/voice`: no layer, the body decoded with this crate's `FormParams` (the same
//!   decoder the layer uses), so against `/params/voice` the only difference is the layer;
//! * `/twilio/voice`: the same handler behind `TwilioWebhookLayer` (the body is decoded
//!   twice: by the layer, then by `Form`);
//! * `/params/voice`: behind the layer, reading the layer's decoding with `TwilioParams`
//!   (the way the crate is meant to be used).
//!
//! ```sh
//! http_server serve OUT_DIR   # binds 127.0.0.1:0, writes OUT_DIR/addr and OUT_DIR/<route>.lua
//! ```
//!
//! Run without `serve` (as `cargo bench` does) it prints this usage and exits, so a plain
//! `cargo bench` never hangs on it. The runtime is single-threaded: the script pins the
//! server to one core and `wrk` to the other.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::Form;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use tower_twilio::extract::TwilioParams;
use tower_twilio::signature::{sign, Algorithm};
use tower_twilio::{FormParams, TwilioWebhookLayer};

#[allow(dead_code)]
mod support;

use support::Webhook;

/// The path and query of both routes, after the route prefix.
const QUERY: &str = "?tenant=acme&flow=main";

async fn voice(Form(form): Form<HashMap<String, String>>) -> impl IntoResponse {
    say_hello(form.get("From").map_or("a stranger", String::as_str))
}

async fn voice_plain(body: Bytes) -> impl IntoResponse {
    let params = FormParams::parse(&body);
    say_hello(params.get("From").unwrap_or("a stranger"))
}

async fn voice_params(params: TwilioParams) -> impl IntoResponse {
    say_hello(params.from_number().unwrap_or("a stranger"))
}

fn say_hello(from: &str) -> impl IntoResponse {
    let twiml = format!("<Response><Say>Hello {from}</Say></Response>");
    ([(CONTENT_TYPE, "text/xml")], twiml)
}

/// A Lua string literal holding `s`.
fn lua_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_ascii_graphic() || c == ' ' => out.push(c),
            c => {
                let mut buf = [0; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\{b:03}");
                }
            }
        }
    }
    out.push('"');
    out
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let (Some("serve"), Some(out_dir)) = (args.next().as_deref(), args.next()) else {
        println!("http_server: run scripts/bench/http.sh (usage: http_server serve OUT_DIR)");
        return Ok(());
    };
    let out_dir = PathBuf::from(out_dir);
    let webhook = Webhook::voice();

    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            let pairs: Vec<(String, String)> = form_urlencoded::parse(webhook.body.as_bytes())
                .into_owned()
                .collect();
            // One wrk script per route: the signature covers the route's URL.
            for route in ["open", "plain", "twilio", "params"] {
                let url = format!("http://{addr}/{route}/voice{QUERY}");
                let signature = sign(
                    &webhook.auth_token,
                    &url,
                    pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                    Algorithm::HmacSha1,
                );
                let lua = format!(
                    "wrk.method = \"POST\"\n\
                     wrk.body = {}\n\
                     wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n\
                     wrk.headers[\"X-Twilio-Signature\"] = {}\n",
                    lua_string(&webhook.body),
                    lua_string(&signature),
                );
                std::fs::write(out_dir.join(format!("{route}.lua")), lua)?;
            }

            let protected = Router::new()
                .route("/twilio/voice", post(voice))
                .route("/params/voice", post(voice_params))
                .route_layer(TwilioWebhookLayer::new(&webhook.auth_token)?);
            let app = Router::new()
                .route("/open/voice", post(voice))
                .route("/plain/voice", post(voice_plain))
                .merge(protected);
            // Written last: the script starts wrk once this file exists.
            std::fs::write(out_dir.join("addr"), addr.to_string())?;
            println!("http_server: listening on http://{addr}");
            axum::serve(listener, app).await?;
            Ok(())
        })
}
