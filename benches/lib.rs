//! Empty: the benchmarks are this package's bench targets (`verify.rs`, `allocs.rs`,
//! `http_server.rs`); see `README.md`.
