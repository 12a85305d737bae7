//! `RedisStore` against real `redis-server`s on loopback ports: the store's semantics, the
//! TTLs and layout Redis holds, races between instances, outages, round trips counted by
//! Redis, and a three-node Redis Cluster.
#![cfg(feature = "redis")]

#[path = "common/redis.rs"]
mod redis_server;
#[path = "common/replay.rs"]
mod replay_support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode};
use axum::Router;
use bytes::Bytes;
use tower_twilio::keys::BoxFuture;
use tower_twilio::replay::{
    Begin, Claim, OnStoreFailure, RedisStore, ReplayGuardLayer, ReplayKey, ReplayStore, StoreError,
    StoredResponse,
};
use tower_twilio::testing;

use redis_server::{RedisCluster, RedisServer};
use replay_support::{replayed, send};

const TOKEN: &str = "fake_redis_replay_token";
const URL: &str = "http://hooks.test/sms";
const LONG: Duration = Duration::from_secs(60);
/// Generous for the guard in tests, so that a busy machine never makes it fail open.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

fn sms(message_sid: &str) -> Request<Body> {
    testing::form_request(
        TOKEN,
        URL,
        &[("MessageSid", message_sid), ("Body", "hello")],
    )
    .map(Body::from)
}

fn app(guard: ReplayGuardLayer, runs: Arc<AtomicUsize>) -> Router {
    replay_support::counting_app(guard.store_timeout(STORE_TIMEOUT), runs, TOKEN)
}

/// Records the keys the guard asks about, answering "in progress" without storing anything.
#[derive(Clone, Default)]
struct KeyRecorder(Arc<Mutex<Vec<ReplayKey>>>);

impl ReplayStore for KeyRecorder {
    fn begin(
        &self,
        key: &ReplayKey,
        _: Claim,
        _: Duration,
    ) -> BoxFuture<Result<Begin, StoreError>> {
        self.0.lock().unwrap().push(key.clone());
        Box::pin(async { Ok(Begin::InProgress) })
    }

    fn complete(
        &self,
        _: &ReplayKey,
        _: Claim,
        _: StoredResponse,
        _: Duration,
    ) -> BoxFuture<Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }

    fn release(&self, _: &ReplayKey, _: Claim) -> BoxFuture<Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The key the guard (default namespace) gives the webhook `sms(message_sid)`.
async fn key_of(message_sid: &str) -> ReplayKey {
    let recorder = KeyRecorder::default();
    let app = app(ReplayGuardLayer::new(recorder.clone()), Arc::default());
    let (response, _) = send(&app, sms(message_sid)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let key = recorder.0.lock().unwrap().pop();
    key.expect("the guard asked the store")
}

fn response(status: u16, content_type: Option<&'static str>, body: Bytes) -> StoredResponse {
    StoredResponse::new(
        StatusCode::from_u16(status).unwrap(),
        content_type.map(HeaderValue::from_static),
        body,
    )
}

#[tokio::test]
async fn a_new_key_is_claimed_then_completed_then_replayed_byte_for_byte() {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url()).unwrap();
    let key = key_of("SM-roundtrip").await;
    let first = Claim::new();
    assert_eq!(
        store.begin(&key, first, LONG).await.unwrap(),
        Begin::Started
    );
    assert_eq!(
        store.begin(&key, Claim::new(), LONG).await.unwrap(),
        Begin::InProgress
    );
    // Every byte value, including the ones no text has.
    let body: Bytes = (0..=255u8)
        .chain((0..=255u8).rev())
        .collect::<Vec<_>>()
        .into();
    let stored = response(201, Some("application/octet-stream"), body);
    store
        .complete(&key, first, stored.clone(), LONG)
        .await
        .unwrap();
    for _ in 0..2 {
        assert_eq!(
            store.begin(&key, Claim::new(), LONG).await.unwrap(),
            Begin::Completed(stored.clone())
        );
    }

    // A response without a Content-Type comes back without one.
    let bare_key = key_of("SM-bare").await;
    let claim = Claim::new();
    assert_eq!(
        store.begin(&bare_key, claim, LONG).await.unwrap(),
        Begin::Started
    );
    let bare = response(204, None, Bytes::new());
    store
        .complete(&bare_key, claim, bare.clone(), LONG)
        .await
        .unwrap();
    assert_eq!(
        store.begin(&bare_key, Claim::new(), LONG).await.unwrap(),
        Begin::Completed(bare)
    );
}

#[tokio::test]
async fn a_foreign_claim_can_neither_complete_nor_release_a_key() {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url()).unwrap();
    let key = key_of("SM-claims").await;
    let holder = Claim::new();
    let stranger = Claim::new();
    assert_eq!(
        store.begin(&key, holder, LONG).await.unwrap(),
        Begin::Started
    );

    store.release(&key, stranger).await.unwrap();
    let late = response(
        200,
        Some("text/xml"),
        Bytes::from_static(b"<Response>late</Response>"),
    );
    store.complete(&key, stranger, late, LONG).await.unwrap();
    assert_eq!(
        store.begin(&key, Claim::new(), LONG).await.unwrap(),
        Begin::InProgress
    );

    // The holder releases it: the next request runs again.
    store.release(&key, holder).await.unwrap();
    let second = Claim::new();
    assert_eq!(
        store.begin(&key, second, LONG).await.unwrap(),
        Begin::Started
    );
    // The first holder's claim is gone: it can no longer complete (nor release) the key.
    let stale = response(200, None, Bytes::from_static(b"stale"));
    store.complete(&key, holder, stale, LONG).await.unwrap();
    store.release(&key, holder).await.unwrap();
    assert_eq!(
        store.begin(&key, Claim::new(), LONG).await.unwrap(),
        Begin::InProgress
    );

    // Once completed, nobody releases it, not even the claim that completed it.
    let answer = response(200, Some("text/xml"), Bytes::from_static(b"<Response/>"));
    store
        .complete(&key, second, answer.clone(), LONG)
        .await
        .unwrap();
    store.release(&key, second).await.unwrap();
    store
        .complete(&key, second, response(200, None, Bytes::new()), LONG)
        .await
        .unwrap();
    assert_eq!(
        store.begin(&key, Claim::new(), LONG).await.unwrap(),
        Begin::Completed(answer)
    );
}

#[tokio::test]
async fn every_key_is_a_hash_that_carries_its_ttl_in_redis() {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url()).unwrap();
    let key = key_of("SM-ttl").await;
    let claim = Claim::new();
    store
        .begin(&key, claim, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(server.cli(&["TYPE", key.as_str()]), "hash");
    assert_eq!(server.cli(&["HGET", key.as_str(), "state"]), "in_progress");
    assert_eq!(server.cli(&["HGET", key.as_str(), "claim"]), claim.to_hex());
    let pttl: i64 = server.cli(&["PTTL", key.as_str()]).parse().unwrap();
    assert!(
        (20_000..=30_000).contains(&pttl),
        "in progress: PTTL {pttl}"
    );

    let answer = response(200, Some("text/xml"), Bytes::from_static(b"<Response/>"));
    store
        .complete(&key, claim, answer, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(server.cli(&["HGET", key.as_str(), "state"]), "completed");
    assert_eq!(server.cli(&["HGET", key.as_str(), "status"]), "200");
    assert_eq!(
        server.cli(&["HGET", key.as_str(), "content_type"]),
        "text/xml"
    );
    assert_eq!(server.cli(&["HGET", key.as_str(), "body"]), "<Response/>");
    let pttl: i64 = server.cli(&["PTTL", key.as_str()]).parse().unwrap();
    assert!(
        (3_590_000..=3_600_000).contains(&pttl),
        "completed: PTTL {pttl}"
    );

    // An expired claim frees the key.
    let brief = key_of("SM-brief").await;
    store
        .begin(&brief, Claim::new(), Duration::from_millis(50))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.cli(&["EXISTS", brief.as_str()]), "0");
    assert_eq!(
        store.begin(&brief, Claim::new(), LONG).await.unwrap(),
        Begin::Started
    );
}

#[tokio::test]
async fn keys_are_the_namespaced_keys_the_guard_passes() {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url()).unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let a = app(
        ReplayGuardLayer::new(store.clone()).namespace("app-a:replay"),
        Arc::clone(&runs),
    );
    let b = app(
        ReplayGuardLayer::new(store).namespace("app-b:replay"),
        Arc::clone(&runs),
    );
    send(&a, sms("SM-ns")).await;
    let keys = server.cli(&["--scan"]);
    let (namespace, mac) = keys.rsplit_once(':').expect("one namespaced key");
    assert_eq!(namespace, "app-a:replay", "{keys}");
    // The hex of the HMAC-SHA1 the request's signature matched.
    assert_eq!(mac.trim().len(), 40, "{keys}");
    assert!(mac.trim().bytes().all(|b| b.is_ascii_hexdigit()), "{keys}");

    // Another namespace is another application: its handler runs too.
    let (response, _) = send(&b, sms("SM-ns")).await;
    assert!(!replayed(&response));
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    let mut keys: Vec<String> = server.cli(&["--scan"]).lines().map(str::to_owned).collect();
    keys.sort();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert_eq!(keys[1], format!("app-b:replay:{}", mac.trim()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_racing_for_one_key_start_it_exactly_once() {
    let server = RedisServer::start();
    let instances = [
        RedisStore::open(&server.url()).unwrap(),
        RedisStore::open(&server.url()).unwrap(),
    ];
    // Connected beforehand, so that the race is between the scripts.
    let warm_up = key_of("SM-warm-up").await;
    for store in &instances {
        store.begin(&warm_up, Claim::new(), LONG).await.unwrap();
    }
    let key = key_of("SM-race").await;
    let start = Arc::new(tokio::sync::Barrier::new(64));
    let tasks: Vec<_> = (0..64)
        .map(|n| {
            let store = instances[n % 2].clone();
            let key = key.clone();
            let start = Arc::clone(&start);
            tokio::spawn(async move {
                start.wait().await;
                store.begin(&key, Claim::new(), LONG).await.unwrap()
            })
        })
        .collect();
    let mut started = 0;
    for task in tasks {
        match task.await.unwrap() {
            Begin::Started => started += 1,
            Begin::InProgress => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(started, 1);
}

#[tokio::test]
async fn a_stopped_redis_fails_operations_and_the_same_store_recovers_after_a_restart() {
    let mut server = RedisServer::start();
    server.stop();
    // Building it while Redis is down is fine: it connects on first use.
    let store = RedisStore::open(&server.url()).unwrap();
    let key = key_of("SM-outage").await;
    let answer = response(200, None, Bytes::from_static(b"ok"));
    for _ in 0..3 {
        let started = Instant::now();
        let begin = tokio::time::timeout(
            Duration::from_secs(5),
            store.begin(&key, Claim::new(), LONG),
        );
        assert!(begin.await.expect("no hang").is_err());
        let complete = store.complete(&key, Claim::new(), answer.clone(), LONG);
        assert!(tokio::time::timeout(Duration::from_secs(5), complete)
            .await
            .expect("no hang")
            .is_err());
        let release = store.release(&key, Claim::new());
        assert!(tokio::time::timeout(Duration::from_secs(5), release)
            .await
            .expect("no hang")
            .is_err());
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    // The guard fails closed when told to, and the handler does not run.
    let runs = Arc::new(AtomicUsize::new(0));
    let closed = app(
        ReplayGuardLayer::new(store.clone()).on_store_failure(OnStoreFailure::Closed),
        Arc::clone(&runs),
    );
    let (response, _) = send(&closed, sms("SM-outage")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(runs.load(Ordering::SeqCst), 0);

    server.restart();
    let back = wait_until_answered(&store, &key).await;
    assert_eq!(back, Begin::Started, "a restarted Redis holds nothing");
    let (response, _) = send(&closed, sms("SM-after")).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Stopped again while connected, then restarted: the same store recovers again.
    server.restart();
    assert_eq!(wait_until_answered(&store, &key).await, Begin::Started);
    let (first, body) = send(&closed, sms("SM-again")).await;
    assert!(!replayed(&first));
    let (again, replayed_body) = send(&closed, sms("SM-again")).await;
    assert!(replayed(&again));
    assert_eq!(body, replayed_body);
}

/// The first answer to `begin` within five seconds: the store reconnects by itself.
async fn wait_until_answered(store: &RedisStore, key: &ReplayKey) -> Begin {
    let started = Instant::now();
    loop {
        if let Ok(begin) = store.begin(key, Claim::new(), LONG).await {
            return begin;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the store did not reconnect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Calls per command since the server started, from `INFO commandstats`.
fn command_calls(server: &RedisServer) -> HashMap<String, u64> {
    let info = server.cli(&["INFO", "commandstats"]);
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats.split(',').find_map(|s| s.strip_prefix("calls="))?;
            Some((name.to_owned(), calls.parse().unwrap()))
        })
        .collect()
}

/// The commands called between two snapshots, and how often.
fn calls_between(
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
) -> HashMap<String, u64> {
    after
        .iter()
        .map(|(name, calls)| (name.clone(), calls - before.get(name).copied().unwrap_or(0)))
        .filter(|(name, calls)| *calls > 0 && name != "info")
        .collect()
}

/// The client sent `evalsha` `round_trips` times and nothing else; the rest of `calls` are
/// the commands our scripts run inside Redis.
fn assert_only_evalsha(calls: &HashMap<String, u64>, round_trips: u64) {
    assert_eq!(calls.get("evalsha"), Some(&round_trips), "{calls:?}");
    for name in calls.keys() {
        assert!(
            ["evalsha", "hmget", "hset", "pexpire", "del"].contains(&name.as_str()),
            "a command other than the scripts: {calls:?}"
        );
    }
}

#[tokio::test]
async fn a_new_webhook_costs_two_round_trips_and_a_duplicate_one() {
    let server = RedisServer::start();
    let store = RedisStore::open(&server.url()).unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let app = app(ReplayGuardLayer::new(store), Arc::clone(&runs));
    // Connects and loads the scripts into this fresh Redis.
    send(&app, sms("SM-warm-up")).await;
    send(&app, sms("SM-warm-up")).await;

    let before = command_calls(&server);
    let (first, _) = send(&app, sms("SM-counted")).await;
    assert!(!replayed(&first));
    let after_first = command_calls(&server);
    assert_only_evalsha(&calls_between(&before, &after_first), 2);

    let (duplicate, _) = send(&app, sms("SM-counted")).await;
    assert!(replayed(&duplicate));
    let calls = calls_between(&after_first, &command_calls(&server));
    assert_only_evalsha(&calls, 1);
    assert_eq!(runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_deduplicates_across_two_instances_on_every_node() {
    let cluster = RedisCluster::start();
    let runs = Arc::new(AtomicUsize::new(0));
    let one = app(
        ReplayGuardLayer::new(RedisStore::cluster(cluster.urls()).unwrap()),
        Arc::clone(&runs),
    );
    // The second instance knows a single node; it finds the others.
    let two = app(
        ReplayGuardLayer::new(RedisStore::cluster([&cluster.urls()[2]]).unwrap()),
        Arc::clone(&runs),
    );
    let sids: Vec<String> = (0..12).map(|n| format!("SM-cluster-{n}")).collect();
    for sid in &sids {
        let (first, body) = send(&one, sms(sid)).await;
        assert_eq!(first.status(), StatusCode::OK);
        assert!(!replayed(&first), "{sid}");
        let (duplicate, replayed_body) = send(&two, sms(sid)).await;
        assert!(replayed(&duplicate), "{sid}: {:?}", duplicate.headers());
        assert_eq!(body, replayed_body);
    }
    assert_eq!(runs.load(Ordering::SeqCst), sids.len());

    // The keys are spread over the nodes, so the scripts ran on several slots and nodes.
    let keys_per_node: Vec<usize> = cluster
        .nodes()
        .iter()
        .map(|node| node.cli(&["--scan"]).lines().count())
        .collect();
    assert_eq!(keys_per_node.iter().sum::<usize>(), sids.len());
    assert!(
        keys_per_node.iter().filter(|&&n| n > 0).count() >= 2,
        "{keys_per_node:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_that_is_down_at_first_use_is_used_once_it_is_up() {
    let mut cluster = RedisCluster::start();
    cluster.stop();
    let store = RedisStore::cluster(cluster.urls()).unwrap();
    let key = key_of("SM-cluster-outage").await;
    // Built while the cluster is down: it connects in the background, and fails until then.
    let begin = tokio::time::timeout(
        Duration::from_secs(5),
        store.begin(&key, Claim::new(), LONG),
    );
    assert!(begin.await.expect("no hang").is_err());
    cluster.restart();
    assert_eq!(wait_until_answered(&store, &key).await, Begin::Started);
    assert_eq!(
        store.begin(&key, Claim::new(), LONG).await.unwrap(),
        Begin::InProgress
    );
}
