//! What the desk tests share: a real redis-server (chat-cluster's test
//! helper: an ephemeral loopback port, nothing persisted, stopped when
//! dropped) and the desks built on it (desk.rs).

// Each test file compiles this module on its own and uses part of it.
#![allow(dead_code)]

pub mod desk;

pub use chat_cluster::testing::RedisServer;

/// A fresh redis-server for one test.
pub fn redis() -> RedisServer {
    RedisServer::start().expect("redis-server starts (apt-get install redis-server)")
}
