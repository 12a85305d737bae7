//! Two `twiml_server` example processes sharing one real `redis-server`: a webhook handled by
//! one is answered from Redis by the other, 200 concurrent duplicates over both run the
//! handler once, and deduplication survives Redis going away and coming back. "The handler
//! ran" is counted from what the processes log ("sms webhook"), not taken on trust.
#![cfg(feature = "redis")]

mod common;
#[path = "common/redis.rs"]
mod redis_server;

use std::time::Duration;

use common::ExampleServer as Server;
use redis_server::RedisServer;
use tower_twilio::signature::{sign, Algorithm};

const TOKEN: &str = "fake_instances_token_0123456789abcdef";
/// Both instances verify this URL, as behind a load balancer.
const PUBLIC: &str = "http://hooks.test";

fn instances(redis: &RedisServer, failure: &str) -> (Server, Server) {
    let url = redis.url();
    let env = [
        ("TWILIO_AUTH_TOKEN", TOKEN),
        ("PUBLIC_URL", PUBLIC),
        ("REDIS_URL", url.as_str()),
        ("REPLAY_STORE_FAILURE", failure),
        // A debug build on a busy machine may need more than the default 50 ms for a round
        // trip; this test is about deduplication, not the deadline.
        ("REPLAY_STORE_TIMEOUT_MS", "2000"),
    ];
    (Server::start(&env), Server::start(&env))
}

/// A form POST of `params` to `server`'s `/sms`, signed over the public URL with `token`.
async fn sms(server: &Server, token: &str, params: &[(&str, &str)]) -> (u16, String) {
    let signature = sign(
        token,
        &format!("{PUBLIC}/sms"),
        params.iter().copied(),
        Algorithm::HmacSha1,
    );
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish();
    let request = format!(
        "POST /sms HTTP/1.1\r\nHost: hooks.test\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         X-Twilio-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    common::exchange(server.addr, request.as_bytes()).await
}

fn replayed(response: &str) -> bool {
    response
        .to_ascii_lowercase()
        .contains("idempotent-replayed: true")
}

/// How many times the handler ran for `message`, over both instances.
fn runs(a: &Server, b: &Server, message: &str) -> usize {
    let needle = format!("message_sid=\"{message}\"");
    [a, b]
        .iter()
        .map(|s| {
            s.stdout()
                .lines()
                .filter(|l| l.contains("sms webhook") && l.contains(&needle))
                .count()
        })
        .sum()
}

#[tokio::test]
async fn a_webhook_handled_by_one_instance_is_answered_from_redis_by_the_other() {
    let redis = RedisServer::start();
    let (a, b) = instances(&redis, "open");
    let params = [("MessageSid", "SMone"), ("Body", "hello")];
    let (status, first) = sms(&a, TOKEN, &params).await;
    assert_eq!(status, 200, "{first}");
    assert!(!replayed(&first));
    let (status, second) = sms(&b, TOKEN, &params).await;
    assert_eq!(status, 200, "{second}");
    assert!(replayed(&second), "{second}");
    assert_eq!(
        first.split_once("\r\n\r\n").unwrap().1,
        second.split_once("\r\n\r\n").unwrap().1
    );
    assert_eq!(runs(&a, &b, "SMone"), 1);
    // A forged copy is refused by either, never answered from Redis.
    let (status, forged) = sms(&b, "not_the_token", &params).await;
    assert_eq!(status, 403);
    assert!(!replayed(&forged));
}

#[tokio::test]
async fn concurrent_duplicates_over_both_instances_run_the_handler_once() {
    let redis = RedisServer::start();
    let (a, b) = instances(&redis, "open");
    let params = [("MessageSid", "SMrace"), ("Body", "race")];
    let mut tasks = Vec::new();
    for n in 0..200 {
        let addr = if n % 2 == 0 { a.addr } else { b.addr };
        let signature = sign(TOKEN, &format!("{PUBLIC}/sms"), params, Algorithm::HmacSha1);
        tasks.push(tokio::spawn(async move {
            let body = "MessageSid=SMrace&Body=race";
            let request = format!(
                "POST /sms HTTP/1.1\r\nHost: hooks.test\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 X-Twilio-Signature: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            common::exchange(addr, request.as_bytes()).await
        }));
    }
    let mut fresh = 0;
    for task in tasks {
        let (status, response) = task.await.unwrap();
        match status {
            200 if replayed(&response) => {}
            200 => fresh += 1,
            409 => assert!(response.to_ascii_lowercase().contains("retry-after: 1")),
            other => panic!("unexpected {other}: {response}"),
        }
    }
    assert_eq!(fresh, 1);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(runs(&a, &b, "SMrace"), 1);
}

#[tokio::test]
async fn when_redis_goes_away_signed_webhooks_are_handled_and_deduplication_resumes() {
    let mut redis = RedisServer::start();
    let (mut a, mut b) = instances(&redis, "open");
    redis.stop();
    // Failing open: handled (twice: there is nothing to deduplicate with), forged ones
    // still refused, nothing crashes.
    for server in [&a, &b] {
        let (status, response) = sms(server, TOKEN, &[("MessageSid", "SMdown")]).await;
        assert_eq!(status, 200, "{response}");
        assert!(!replayed(&response));
        assert_eq!(
            sms(server, "not_the_token", &[("MessageSid", "SMdown")])
                .await
                .0,
            403
        );
    }
    assert_eq!(runs(&a, &b, "SMdown"), 2);
    // Redis comes back on the same port: the same processes deduplicate again.
    redis.restart();
    let params = [("MessageSid", "SMback")];
    let mut statuses = Vec::new();
    for _ in 0..50 {
        let (status, response) = sms(&a, TOKEN, &params).await;
        statuses.push((status, replayed(&response)));
        if replayed(&response) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        statuses.last().unwrap().1,
        "never deduplicated again: {statuses:?}"
    );
    let (status, response) = sms(&b, TOKEN, &params).await;
    assert_eq!(status, 200);
    assert!(replayed(&response));
    assert!(a.is_running() && b.is_running());
}

#[tokio::test]
async fn failing_closed_answers_503_while_redis_is_away() {
    let mut redis = RedisServer::start();
    let (a, b) = instances(&redis, "closed");
    redis.stop();
    let (status, response) = sms(&a, TOKEN, &[("MessageSid", "SMclosed")]).await;
    assert_eq!(status, 503, "{response}");
    assert!(response.to_ascii_lowercase().contains("retry-after:"));
    assert_eq!(
        sms(&b, "not_the_token", &[("MessageSid", "SMclosed")])
            .await
            .0,
        403
    );
    assert_eq!(runs(&a, &b, "SMclosed"), 0);
    redis.restart();
    let mut status = 0;
    for _ in 0..50 {
        status = sms(&a, TOKEN, &[("MessageSid", "SMclosed")]).await.0;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200);
}

#[test]
fn an_unreachable_redis_at_start_up_is_a_warning_not_a_crash() {
    let mut redis = RedisServer::start();
    redis.stop();
    let url = redis.url();
    let server = Server::start(&[("TWILIO_AUTH_TOKEN", TOKEN), ("REDIS_URL", url.as_str())]);
    assert!(
        server.stdout().contains("does not answer"),
        "{}",
        server.stdout()
    );
}
