//! Real `redis-server`s for the integration tests: each on a free loopback port in a
//! temporary directory, persistence off, stopped by PID when dropped. Declare it with
//! `#[path = "common/redis.rs"] mod redis_server;`.
#![allow(dead_code)]

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const INSTALL: &str = "install it with `apt-get install -y redis-server` (Debian's package, which \
                       also brings redis-cli)";

/// How long a server may take to answer `PING`, or a cluster to agree on its slots.
const STARTUP: Duration = Duration::from_secs(20);

/// Runs `program`, panicking with the install hint when it is not there.
fn run(program: &str, args: &[&str]) -> Output {
    match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(output) => output,
        Err(err) if err.kind() == ErrorKind::NotFound => {
            panic!("{program} is missing: these tests need a real Redis; {INSTALL}")
        }
        Err(err) => panic!("cannot run {program}: {err}"),
    }
}

/// A loopback port that is free now, and so is the port 10000 above it (a cluster node's
/// bus port).
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        if port <= u16::MAX - 10_000 && TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
}

/// One `redis-server` on `127.0.0.1`.
pub struct RedisServer {
    port: u16,
    dir: TempDir,
    extra_args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server and waits until it answers `PING`.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts a server with more arguments for `redis-server`.
    pub fn start_with(extra_args: &[&str]) -> Self {
        let mut server = Self {
            port: free_port(),
            dir: tempfile::tempdir().expect("a temporary directory"),
            extra_args: extra_args.iter().map(|arg| arg.to_string()).collect(),
            child: None,
        };
        server.spawn();
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Kills the server (by its PID) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server and starts a new, empty one on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Runs `redis-cli` against this server and returns what it printed, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let port = self.port.to_string();
        let mut all = vec!["-h", "127.0.0.1", "-p", &port];
        all.extend_from_slice(args);
        let output = run("redis-cli", &all);
        assert!(
            output.status.success(),
            "redis-cli {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .expect("redis-cli prints UTF-8")
            .trim()
            .to_owned()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    fn spawn(&mut self) {
        let dir = self
            .dir
            .path()
            .to_str()
            .expect("a UTF-8 temp path")
            .to_owned();
        let log = self.log_path().to_str().unwrap().to_owned();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", &dir, "--logfile", &log])
            .args(&self.extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        self.child = Some(match child {
            Ok(child) => child,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                panic!("redis-server is missing: these tests need a real Redis; {INSTALL}")
            }
            Err(err) => panic!("cannot start redis-server: {err}"),
        });
        let started = Instant::now();
        loop {
            let exited = self.child.as_mut().unwrap().try_wait().unwrap();
            if let Some(status) = exited {
                panic!(
                    "redis-server on port {} exited with {status}; its log:\n{}",
                    self.port,
                    std::fs::read_to_string(self.log_path()).unwrap_or_default()
                );
            }
            let port = self.port.to_string();
            let ping = run("redis-cli", &["-h", "127.0.0.1", "-p", &port, "PING"]);
            if String::from_utf8_lossy(&ping.stdout).trim() == "PONG" {
                return;
            }
            assert!(
                started.elapsed() < STARTUP,
                "redis-server on port {} does not answer PING",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Redis Cluster of three primaries, no replicas, each a [`RedisServer`].
pub struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three nodes, joins them with `redis-cli --cluster create`, and waits until
    /// every node reports `cluster_state:ok`.
    pub fn start() -> Self {
        let cluster_args = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ];
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| RedisServer::start_with(&cluster_args))
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port()))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        let created = run("redis-cli", &args);
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        let cluster = Self { nodes };
        cluster.wait_until_ok();
        cluster
    }

    /// Stops every node.
    pub fn stop(&mut self) {
        self.nodes.iter_mut().for_each(RedisServer::stop);
    }

    /// Starts every node again on its port, with the cluster configuration it kept, and
    /// waits until every node reports `cluster_state:ok`.
    pub fn restart(&mut self) {
        self.nodes.iter_mut().for_each(RedisServer::restart);
        self.wait_until_ok();
    }

    fn wait_until_ok(&self) {
        let started = Instant::now();
        while !self
            .nodes
            .iter()
            .all(|node| node.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok"))
        {
            assert!(
                started.elapsed() < STARTUP,
                "the cluster did not reach cluster_state:ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn nodes(&self) -> &[RedisServer] {
        &self.nodes
    }

    /// Each node's `redis://` URL.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}
