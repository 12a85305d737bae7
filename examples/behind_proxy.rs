//! The smallest complete server behind a reverse proxy (nginx, a load balancer, ngrok):
//! the URL Twilio called comes from `PUBLIC_URL` or from the proxies in `TRUSTED_PROXIES`.
//!
//! ```text
//! TWILIO_AUTH_TOKEN=... PUBLIC_URL=https://hooks.example.com cargo run --example behind_proxy
//! TWILIO_AUTH_TOKEN=... TRUSTED_PROXIES=127.0.0.1,::1 cargo run --example behind_proxy
//! ```
//!
//! Set one of them: `PUBLIC_URL` when you know the public URL (the host this server sees is
//! then ignored), `TRUSTED_PROXIES` when your own proxy sets `X-Forwarded-Proto` and `Host`
//! (or `Forwarded`). The server listens on `BIND_ADDR` (default `127.0.0.1:3000`).

use std::net::SocketAddr;

use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use tower_twilio::{PublicUrl, TwilioParams, TwilioWebhookLayer};

async fn voice(params: TwilioParams) -> impl IntoResponse {
    tracing::info!(call = params.call_sid(), "verified call");
    (
        [("content-type", "text/xml")],
        "<Response><Say>Hello from behind the proxy.</Say></Response>",
    )
}

/// The public URL from the environment: a fixed one, or the trusted proxies' word.
fn public_url() -> Result<PublicUrl, Box<dyn std::error::Error>> {
    match (
        std::env::var("PUBLIC_URL"),
        std::env::var("TRUSTED_PROXIES"),
    ) {
        (Ok(url), Err(_)) => Ok(PublicUrl::fixed(&url)?),
        (Err(_), Ok(proxies)) => Ok(PublicUrl::trusted_proxies(proxies.split(','))?),
        _ => Err("set PUBLIC_URL or TRUSTED_PROXIES (one of them)".into()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Rejections are logged at `warn` with the reason: this makes them visible.
    tracing_subscriber::fmt().init();
    let layer = TwilioWebhookLayer::from_env()?.public_url(public_url()?);
    let app = Router::new().route("/voice", post(voice)).layer(layer);
    let bind = std::env::var("BIND_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&bind).await?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    // With the TCP peer in each request: trusted proxies are recognised by it.
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await?;
    Ok(())
}
