//! The connection to Redis and the naming of keys.

use crate::{ClusterError, ClusterResult};
use fred::clients::{Client, SubscriberClient};
use fred::interfaces::ClientLike;
use fred::types::config::{Config, ReconnectPolicy};
use fred::types::scripts::Script;
use fred::types::{FromValue, MultipleKeys, MultipleValues};
use std::sync::Arc;
use std::time::Duration;

/// How the cluster state talks to Redis.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Prefix of every key and channel, so that several deployments (or
    /// tests) can share one Redis. Default `chat:`.
    pub prefix: String,
    /// Longest wait for one command. A handler that asks Redis must not hang
    /// while Redis restarts: past this the command fails and the caller
    /// degrades.
    pub command_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            prefix: "chat:".into(),
            command_timeout: Duration::from_secs(2),
        }
    }
}

/// A Redis connection (reconnecting by itself) and this node's identity.
/// Cheap to clone.
#[derive(Clone)]
pub struct Redis {
    client: Client,
    config: Config,
    settings: Arc<Settings>,
    node: Arc<str>,
}

impl Redis {
    /// Connects to `url` (`redis://host:port/db`) as node `node`; fails when
    /// Redis cannot be reached now (a node should not start half-clustered).
    pub async fn connect(url: &str, node: &str, settings: Settings) -> ClusterResult<Self> {
        let config = Config::from_url(url).map_err(|e| ClusterError::BadUrl(e.to_string()))?;
        let client = builder(&config, &settings).build()?;
        client.init().await?;
        Ok(Self {
            client,
            config,
            settings: Arc::new(settings),
            node: node.into(),
        })
    }

    /// This node's id (unique per process start).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// A key under this deployment's prefix.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.settings.prefix)
    }

    pub(crate) fn prefix(&self) -> &str {
        &self.settings.prefix
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The client itself, for tests that arrange a state by hand.
    #[doc(hidden)]
    pub fn client_for_tests(&self) -> &Client {
        &self.client
    }

    /// A second connection for SUBSCRIBE (a subscribed connection can do
    /// nothing else), resubscribing by itself after a reconnect.
    pub(crate) async fn subscriber(&self) -> ClusterResult<SubscriberClient> {
        let sub = builder(&self.config, &self.settings).build_subscriber_client()?;
        sub.init().await?;
        Ok(sub)
    }

    /// Runs a Lua script (loaded on first use, and again after a Redis restart).
    pub(crate) async fn eval<R, K, V>(&self, script: &Script, keys: K, args: V) -> ClusterResult<R>
    where
        R: FromValue,
        K: Into<MultipleKeys> + Send,
        V: TryInto<MultipleValues> + Send,
        V::Error: Into<fred::error::Error> + Send,
    {
        Ok(script.evalsha_with_reload(&self.client, keys, args).await?)
    }

    /// Whether Redis answers now (for `/health` and `chat_backend_up`).
    pub async fn ping(&self) -> bool {
        self.client.ping::<String>(None).await.is_ok()
    }

    /// Closes the connection.
    pub async fn quit(&self) {
        let _ = self.client.quit().await;
    }

    /// Loads a script by its text (so it can be `evalsha`'d).
    pub(crate) fn script(lua: &'static str) -> Script {
        Script::from_lua(lua)
    }
}

fn builder(config: &Config, settings: &Settings) -> fred::types::Builder {
    let mut b = fred::types::Builder::from_config(config.clone());
    b.with_performance_config(|p| p.default_command_timeout = settings.command_timeout)
        .with_connection_config(|c| {
            c.connection_timeout = settings.command_timeout;
            // A command waiting for a reconnect is retried at most once:
            // callers degrade instead of piling up.
            c.max_command_attempts = 2;
        })
        // Reconnect for ever, 100 ms to 2 s apart: Redis restarting is an
        // outage to ride out, not a reason to stop the gateway.
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2000, 2));
    b
}
