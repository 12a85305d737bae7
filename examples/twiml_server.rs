//! A TwiML server behind the Twilio signature layer.
//!
//! ```text
//! TWILIO_AUTH_TOKEN=your_token cargo run --example twiml_server
//! ```
//!
//! | variable | default | |
//! |---|---|---|
//! | `TWILIO_AUTH_TOKEN` | required | the Auth Token requests are verified with |
//! | `BIND_ADDR` | `127.0.0.1:3000` | where to listen |
//! | `PUBLIC_URL` | unset | the base URL Twilio calls, e.g. `https://hooks.example.com/twilio` |
//! | `TRUSTED_PROXIES` | unset | comma-separated IPs/CIDRs whose `Forwarded`/`X-Forwarded-*` headers are believed |
//! | `RUST_LOG` | `info` | log filter (`tower_twilio=debug` for more) |

use std::net::SocketAddr;

use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use tower_twilio::public_url::TrustedProxies;
use tower_twilio::{PublicUrl, TwilioWebhookLayer, VerifiedWebhook};
use tracing_subscriber::EnvFilter;

async fn voice(webhook: VerifiedWebhook) -> impl IntoResponse {
    tracing::info!(key = %webhook.key_id(), call = webhook.params().get("CallSid"), "verified voice webhook");
    (
        [(CONTENT_TYPE, "text/xml")],
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Say>Hello from tower-twilio.</Say></Response>",
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();

    let layer = TwilioWebhookLayer::from_env()?.public_url(public_url_from_env()?);
    let addr: SocketAddr = std::env::var("BIND_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".to_owned())
        .parse()
        .map_err(|err| format!("BIND_ADDR: {err}"))?;

    let app = Router::new()
        .route("/voice", post(voice).get(voice))
        .layer(layer);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    // The peer address decides whether proxy headers are believed.
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}

/// `PUBLIC_URL` or `TRUSTED_PROXIES` (not both), else the URL as seen over plain http.
fn public_url_from_env() -> Result<PublicUrl, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match (var("PUBLIC_URL"), var("TRUSTED_PROXIES")) {
        (Some(_), Some(_)) => Err("set PUBLIC_URL or TRUSTED_PROXIES, not both".to_owned()),
        (Some(url), None) => PublicUrl::fixed(&url).map_err(|err| format!("PUBLIC_URL: {err}")),
        (None, Some(list)) => TrustedProxies::parse_list(&list)
            .map(PublicUrl::behind)
            .map_err(|err| format!("TRUSTED_PROXIES: {err}")),
        (None, None) => Ok(PublicUrl::as_seen()),
    }
}
