//! The Redis store: one Redis (or Valkey, or a Redis Cluster) shared by every instance.

use std::fmt;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, StatusCode};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Client, ConnectionInfo, FromRedisValue, IntoConnectionInfo, Script, ScriptInvocation};
use tokio::sync::OnceCell;

use super::store::{Begin, Claim, ReplayKey, ReplayStore, StoreError, StoredResponse};
use crate::error::ConfigError;
use crate::keys::BoxFuture;

/// `begin`: claims `KEYS[1]` for claim `ARGV[1]` during `ARGV[2]` ms unless it exists, and
/// answers `{state, status, content_type, body}` (the last three only once completed).
static BEGIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local found = redis.call('HMGET', KEYS[1], 'state', 'status', 'content_type', 'body')
if not found[1] then
  redis.call('HSET', KEYS[1], 'state', 'in_progress', 'claim', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {'started', false, false, false}
end
return found
",
    )
});

/// `complete`: while claim `ARGV[1]` holds `KEYS[1]`, stores status `ARGV[3]`, body `ARGV[4]`
/// and, if given, content type `ARGV[5]`, kept for `ARGV[2]` ms. Answers 1 if it did.
static COMPLETE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = redis.call('HMGET', KEYS[1], 'state', 'claim')
if held[1] ~= 'in_progress' or held[2] ~= ARGV[1] then
  return 0
end
redis.call('HSET', KEYS[1], 'state', 'completed', 'status', ARGV[3], 'body', ARGV[4])
if ARGV[5] then
  redis.call('HSET', KEYS[1], 'content_type', ARGV[5])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
",
    )
});

/// `release`: while claim `ARGV[1]` holds `KEYS[1]`, deletes it. Answers 1 if it did.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = redis.call('HMGET', KEYS[1], 'state', 'claim')
if held[1] ~= 'in_progress' or held[2] ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
",
    )
});

/// How long connecting to a Redis node may take. The guard bounds each operation itself
/// ([`store_timeout`](super::ReplayGuardLayer::store_timeout)); this only gives up on a dead
/// server so that the next operation tries again.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one command may wait for its answer before its connection counts as broken.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);
/// Reconnection attempts within one operation: few, so that a stopped Redis fails fast.
const RECONNECT_RETRIES: usize = 1;

/// A [`ReplayStore`] in Redis, shared by every instance of the application: Redis, Valkey,
/// or a Redis Cluster (cargo feature `redis`).
///
/// Each webhook is one hash, named by its [`ReplayKey`], with the fields `state`
/// (`in_progress` or `completed`), `claim`, and once completed `status`, `content_type` and
/// `body`; every key carries its TTL in Redis. Each operation is one Lua script, run with
/// `EVALSHA` on one key (so it works in a cluster): a new webhook costs two round trips, a
/// duplicate one.
///
/// It connects on first use, in that operation's Tokio runtime, and reconnects by itself: an
/// unreachable Redis is not an error when the store is built, only its operations fail until
/// Redis is back (see [`OnStoreFailure`](super::OnStoreFailure)). This build speaks plain
/// TCP (`redis://`) or a Unix socket (`unix://`); for TLS, enable a TLS feature of the
/// `redis` crate in your application and pass a client to [`RedisStore::new`].
///
/// ```
/// use tower_twilio::replay::{RedisStore, ReplayGuardLayer};
///
/// // Nothing is connected yet: the first webhook connects.
/// let store = RedisStore::open("redis://127.0.0.1:6379/")?;
/// let guard = ReplayGuardLayer::new(store);
/// # let _ = guard;
/// # Ok::<_, tower_twilio::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

// One per store, behind an `Arc`: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Inner {
    Standalone {
        client: Client,
        manager: OnceCell<ConnectionManager>,
    },
    Cluster {
        client: ClusterClient,
        /// The nodes' addresses (`host:port`, no credentials), for `Debug`.
        nodes: Vec<String>,
        connection: OnceCell<ClusterConnection>,
    },
}

impl RedisStore {
    /// A store on the Redis at `url`, e.g. `redis://:password@redis.internal:6379/0`.
    ///
    /// Nothing is connected yet. A malformed URL is an error that names the problem, never
    /// the password.
    pub fn open(url: &str) -> Result<Self, ConfigError> {
        let client =
            Client::open(url).map_err(|err| ConfigError::invalid("Redis URL", err.to_string()))?;
        Ok(Self::new(client))
    }

    /// A store on the Redis that `client` connects to, for settings that a URL cannot carry.
    pub fn new(client: Client) -> Self {
        Self {
            inner: Arc::new(Inner::Standalone {
                client,
                manager: OnceCell::new(),
            }),
        }
    }

    /// A store on the Redis Cluster that `nodes` belong to (URLs of some of its primaries;
    /// the others are discovered).
    ///
    /// Nothing is connected yet. A malformed URL is an error that names the problem, never
    /// the password.
    ///
    /// ```
    /// use tower_twilio::replay::RedisStore;
    ///
    /// let store = RedisStore::cluster(["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"])?;
    /// # let _ = store;
    /// # Ok::<_, tower_twilio::ConfigError>(())
    /// ```
    pub fn cluster<I, S>(nodes: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let infos = nodes
            .into_iter()
            .enumerate()
            .map(|(index, url)| {
                url.as_ref().into_connection_info().map_err(|err| {
                    ConfigError::invalid("Redis Cluster node URL", format!("node {index}: {err}"))
                })
            })
            .collect::<Result<Vec<ConnectionInfo>, _>>()?;
        let addresses = infos.iter().map(|info| info.addr().to_string()).collect();
        let client = ClusterClient::builder(infos)
            .connection_timeout(CONNECTION_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .build()
            .map_err(|err| ConfigError::invalid("Redis Cluster nodes", err.to_string()))?;
        Ok(Self {
            inner: Arc::new(Inner::Cluster {
                client,
                nodes: addresses,
                connection: OnceCell::new(),
            }),
        })
    }

    /// Runs one script on the connection, connecting on first use.
    async fn run<T: FromRedisValue>(
        &self,
        invocation: &ScriptInvocation<'static>,
    ) -> Result<T, StoreError> {
        let reply = match &*self.inner {
            Inner::Standalone { client, manager } => {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(CONNECTION_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(RECONNECT_RETRIES);
                // Built here, not in `open`, because it needs the runtime it will run in.
                let init =
                    || async { ConnectionManager::new_lazy_with_config(client.clone(), config) };
                let mut manager = manager
                    .get_or_try_init(init)
                    .await
                    .map_err(StoreError::new)?
                    .clone();
                invocation.invoke_async(&mut manager).await
            }
            Inner::Cluster {
                client, connection, ..
            } => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(CONNECTION_TIMEOUT)
                    .set_response_timeout(RESPONSE_TIMEOUT);
                // Pending: it connects in the background, so a slow start is never cancelled.
                let init = || async { client.get_pending_async_connection_with_config(config) };
                let mut connection = connection.get_or_init(init).await.clone();
                invocation.invoke_async(&mut connection).await
            }
        };
        reply.map_err(StoreError::new)
    }
}

/// A TTL in whole milliseconds, at least 1: `PEXPIRE` with 0 would delete the key at once.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

/// What `BEGIN` answers: the state, then the stored status, content type and body.
type BeginReply = (String, Option<u16>, Option<Bytes>, Option<Bytes>);

fn begin_found(reply: BeginReply) -> Result<Begin, StoreError> {
    match reply {
        (state, ..) if state == "started" => Ok(Begin::Started),
        (state, ..) if state == "in_progress" => Ok(Begin::InProgress),
        (state, Some(status), content_type, Some(body)) if state == "completed" => {
            let status = StatusCode::from_u16(status).map_err(StoreError::new)?;
            let content_type = content_type
                .map(HeaderValue::from_maybe_shared)
                .transpose()
                .map_err(StoreError::new)?;
            Ok(Begin::Completed(StoredResponse::new(
                status,
                content_type,
                body,
            )))
        }
        (state, ..) => Err(StoreError::new(format!(
            "unexpected replay record in Redis (state {state:?})"
        ))),
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Addresses only: the connection info also holds the password.
        match &*self.inner {
            Inner::Standalone { client, .. } => {
                let info = client.get_connection_info();
                f.debug_struct("RedisStore")
                    .field("server", &info.addr().to_string())
                    .field("db", &info.redis_settings().db())
                    .finish_non_exhaustive()
            }
            Inner::Cluster { nodes, .. } => f
                .debug_struct("RedisStore")
                .field("cluster", nodes)
                .finish_non_exhaustive(),
        }
    }
}

impl ReplayStore for RedisStore {
    fn begin(
        &self,
        key: &ReplayKey,
        claim: Claim,
        in_progress_ttl: Duration,
    ) -> BoxFuture<Result<Begin, StoreError>> {
        let store = self.clone();
        let mut invocation = BEGIN.key(key.as_str());
        invocation.arg(claim.to_hex()).arg(millis(in_progress_ttl));
        Box::pin(async move { begin_found(store.run(&invocation).await?) })
    }

    fn complete(
        &self,
        key: &ReplayKey,
        claim: Claim,
        response: StoredResponse,
        ttl: Duration,
    ) -> BoxFuture<Result<(), StoreError>> {
        let store = self.clone();
        let key = key.clone();
        let mut invocation = COMPLETE.key(key.as_str());
        invocation
            .arg(claim.to_hex())
            .arg(millis(ttl))
            .arg(response.status().as_u16())
            .arg(response.body().as_ref());
        if let Some(content_type) = response.content_type() {
            invocation.arg(content_type.as_bytes());
        }
        Box::pin(async move {
            let stored: bool = store.run(&invocation).await?;
            if !stored {
                // Not an error: the handler outlived `in_progress_ttl`, and the key moved on.
                tracing::debug!(target: "tower_twilio", %key, "replay claim lost before its response was stored");
            }
            Ok(())
        })
    }

    fn release(&self, key: &ReplayKey, claim: Claim) -> BoxFuture<Result<(), StoreError>> {
        let store = self.clone();
        let mut invocation = RELEASE.key(key.as_str());
        invocation.arg(claim.to_hex());
        Box::pin(async move {
            // 0 when the claim no longer holds the key, which is not an error either.
            let _released: bool = store.run(&invocation).await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(state: &str, status: Option<u16>, content_type: Option<&[u8]>) -> BeginReply {
        (
            state.to_owned(),
            status,
            content_type.map(Bytes::copy_from_slice),
            status.map(|_| Bytes::from_static(b"<Response/>")),
        )
    }

    #[test]
    fn replies_become_begins_and_nonsense_becomes_an_error() {
        assert_eq!(
            begin_found(reply("started", None, None)).unwrap(),
            Begin::Started
        );
        assert_eq!(
            begin_found(reply("in_progress", None, None)).unwrap(),
            Begin::InProgress
        );
        let Begin::Completed(stored) =
            begin_found(reply("completed", Some(200), Some(b"text/xml"))).unwrap()
        else {
            panic!("not completed");
        };
        assert_eq!(stored.status(), StatusCode::OK);
        assert_eq!(stored.content_type().unwrap(), "text/xml");
        assert_eq!(stored.body().as_ref(), b"<Response/>");

        assert!(begin_found(reply("completed", None, None)).is_err());
        assert!(begin_found(reply("completed", Some(42), None)).is_err());
        assert!(begin_found(reply("completed", Some(200), Some(b"bad\nvalue"))).is_err());
        assert!(begin_found(reply("gone", None, None)).is_err());
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        use redis::{from_redis_value, Value};
        let short = Value::Array(vec![Value::SimpleString("started".into())]);
        assert!(from_redis_value::<BeginReply>(short).is_err());
        let status = Value::Array(vec![
            Value::BulkString(b"completed".to_vec()),
            Value::BulkString(b"two hundred".to_vec()),
            Value::Nil,
            Value::BulkString(b"x".to_vec()),
        ]);
        assert!(from_redis_value::<BeginReply>(status).is_err());
    }

    #[test]
    fn ttls_are_whole_milliseconds_never_zero() {
        assert_eq!(millis(Duration::from_secs(30)), 30_000);
        assert_eq!(millis(Duration::from_micros(10)), 1);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }

    #[test]
    fn malformed_urls_are_config_errors_without_the_password() {
        for url in [
            "redis://user:hunter2-fake@host:notaport/",
            "http://user:hunter2-fake@host/",
            "redis://:hunter2-fake@host/not-a-db",
        ] {
            let err = RedisStore::open(url).unwrap_err().to_string();
            assert!(err.starts_with("invalid Redis URL"), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
        let err = RedisStore::cluster(["redis://127.0.0.1:7000", "redis://:hunter2-fake@x:y"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("node 1"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let none: [&str; 0] = [];
        assert!(RedisStore::cluster(none).is_err());
    }

    #[test]
    fn stores_are_built_without_a_runtime_or_a_server() {
        // Port 1 on loopback: nothing listens there, and nothing is connected yet.
        let store = RedisStore::open("redis://:hunter2-fake@127.0.0.1:1/3").unwrap();
        let debug = format!("{store:?}");
        assert!(debug.contains("127.0.0.1:1"), "{debug}");
        assert!(debug.contains("db: 3"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        let cluster = RedisStore::cluster([
            "redis://:hunter2-fake@127.0.0.1:1",
            "redis://:hunter2-fake@127.0.0.1:2",
        ])
        .unwrap();
        let debug = format!("{cluster:?}");
        assert!(debug.contains("127.0.0.1:2"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
