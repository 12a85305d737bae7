//! WebSocket upgrades over real TCP on loopback: an axum server whose `WebSocketUpgrade`
//! handler sits behind the layer, and a real tokio-tungstenite client. Twilio signs the
//! `ws://`/`wss://` URL of a Media Streams connection, query included.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use futures_util::SinkExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};
use tower_twilio::signature::{sign, Algorithm};
use tower_twilio::{PublicUrl, Scheme, TwilioWebhookLayer};

const TOKEN: &str = "fake_auth_token_for_websocket_tests";
const TIMEOUT: Duration = Duration::from_secs(10);

type Client = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Serves `GET /media` behind the layer on 127.0.0.1, on a free port.
async fn serve(public_url: PublicUrl) -> SocketAddr {
    let app = Router::new()
        .route("/media", get(common::echo_media))
        .layer(
            TwilioWebhookLayer::new(TOKEN)
                .unwrap()
                .public_url(public_url),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Opens `ws://<addr><target>`, with `X-Twilio-Signature` computed over `signed_url` (none
/// when `None`).
async fn connect(
    addr: SocketAddr,
    target: &str,
    signed_url: Option<&str>,
) -> Result<(Client, u16), WsError> {
    let mut request = format!("ws://{addr}{target}")
        .into_client_request()
        .unwrap();
    if let Some(url) = signed_url {
        let signature = sign(TOKEN, url, [], Algorithm::HmacSha1);
        request
            .headers_mut()
            .insert("x-twilio-signature", signature.parse().unwrap());
    }
    let (stream, response) = tokio::time::timeout(TIMEOUT, connect_async(request))
        .await
        .expect("the server answered the handshake in time")?;
    Ok((stream, response.status().as_u16()))
}

/// The handshake must be refused with `status`; returns the response body.
async fn assert_refused(result: Result<(Client, u16), WsError>, status: u16) -> String {
    match result {
        Err(WsError::Http(response)) => {
            let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default())
                .into_owned();
            assert_eq!(response.status().as_u16(), status, "body: {body}");
            body
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok((_, code)) => panic!("expected a refusal, the upgrade was accepted ({code})"),
    }
}

#[tokio::test]
async fn signed_upgrade_is_accepted_and_messages_flow_both_ways() {
    let addr = serve(PublicUrl::as_seen()).await;
    let url = format!("ws://{addr}/media?CallSid=CA1&From=%2B14158675309");
    let (mut client, status) = connect(addr, "/media?CallSid=CA1&From=%2B14158675309", Some(&url))
        .await
        .expect("the signed upgrade is accepted");
    assert_eq!(status, 101);
    assert_eq!(
        common::next_text(&mut client).await,
        format!("verified {url}")
    );

    for text in ["connected", "start", "media: {\"payload\":\"AAA=\"}"] {
        client.send(Message::text(text)).await.unwrap();
        assert_eq!(common::next_text(&mut client).await, format!("ack: {text}"));
    }
    client.close(None).await.unwrap();
}

#[tokio::test]
async fn unsigned_upgrade_gets_403() {
    let addr = serve(PublicUrl::as_seen()).await;
    let body = assert_refused(connect(addr, "/media", None).await, 403).await;
    assert_eq!(body, "Missing X-Twilio-Signature header\n");
}

#[tokio::test]
async fn upgrade_signed_over_the_http_url_is_refused() {
    let addr = serve(PublicUrl::as_seen()).await;
    // The same URL with http:// instead of ws:// is not what Twilio signs for a stream.
    let http = format!("http://{addr}/media?CallSid=CA1");
    let body = assert_refused(connect(addr, "/media?CallSid=CA1", Some(&http)).await, 403).await;
    assert_eq!(body, "Invalid Twilio signature\n");
    // Neither is the secure scheme on a plain listener, nor another query.
    for wrong in [
        format!("wss://{addr}/media?CallSid=CA1"),
        format!("ws://{addr}/media?CallSid=CA2"),
        format!("ws://{addr}/media"),
    ] {
        let result = connect(addr, "/media?CallSid=CA1", Some(&wrong)).await;
        assert_refused(result, 403).await;
    }
    // While the right one still passes on the same server.
    let ws = format!("ws://{addr}/media?CallSid=CA1");
    let (mut client, status) = connect(addr, "/media?CallSid=CA1", Some(&ws))
        .await
        .unwrap();
    assert_eq!(status, 101);
    assert_eq!(
        common::next_text(&mut client).await,
        format!("verified {ws}")
    );
}

#[tokio::test]
async fn listener_configured_as_https_verifies_against_wss() {
    // A plain server told that its listener is https, as when a TLS proxy in front of it
    // forwards the upgrade: Twilio signed wss://.
    let addr = serve(PublicUrl::as_seen().scheme(Scheme::Https)).await;
    let wss = format!("wss://{addr}/media?CallSid=CA1");
    let (mut client, status) = connect(addr, "/media?CallSid=CA1", Some(&wss))
        .await
        .expect("the wss-signed upgrade is accepted");
    assert_eq!(status, 101);
    assert_eq!(
        common::next_text(&mut client).await,
        format!("verified {wss}")
    );
    client.send(Message::text("ping")).await.unwrap();
    assert_eq!(common::next_text(&mut client).await, "ack: ping");

    let ws = format!("ws://{addr}/media?CallSid=CA1");
    assert_refused(connect(addr, "/media?CallSid=CA1", Some(&ws)).await, 403).await;
}
