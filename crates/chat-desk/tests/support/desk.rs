//! The desks the tests build: agents' configurations, a Redis desk per
//! "node" (its own id, short heartbeats), and statuses.

use super::RedisServer;
use chat_core::directory::AgentConfig;
use chat_desk::{Desk, RedisDesk, RedisDeskOptions, Status};
use std::sync::Arc;
use std::time::Duration;

pub fn config(id: &str, dept: &str, max: u32) -> AgentConfig {
    AgentConfig {
        user_id: id.into(),
        department: dept.into(),
        max_concurrent_chats: max,
        available: true,
        away_message: None,
    }
}

fn options(node: &str, grace: Duration) -> RedisDeskOptions {
    RedisDeskOptions {
        node_id: node.into(),
        prefix: "{desk}".into(),
        grace,
        maintenance_interval: Duration::from_millis(100),
        node_ttl: Duration::from_millis(400),
    }
}

pub async fn node(redis: &RedisServer, name: &str, grace: Duration) -> Arc<dyn Desk> {
    Arc::new(
        RedisDesk::connect(&redis.url(), options(name, grace))
            .await
            .expect("the desk connects to the test's redis-server"),
    )
}

pub fn status(available: bool) -> Status {
    Status {
        available,
        away_message: None,
        max_chats: None,
    }
}
