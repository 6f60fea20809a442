//! `seitech-chat`: the binary's edge. Parses configuration, sets up logging,
//! and hands over to [`chat_gateway::server::run`].

use chat_gateway::cluster::drops::DropDetector;
use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = chat_gateway::config::Config::parse();
    let node_id = chat_gateway::node::resolve(config.node_id.as_deref())?;
    config.node_id = Some(node_id.clone());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Every line names the node (chat_gateway::node::TaggedStderr).
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(chat_gateway::node::TaggedStderr::new(&node_id));
    let logs = if config.log_format == "json" {
        logs.json().with_filter(filter).boxed()
    } else {
        logs.with_filter(filter).boxed()
    };
    // Its own filter, not under RUST_LOG: lost cluster broadcasts are found
    // from the adapter's warnings whatever the log level
    // (chat_gateway::cluster::drops).
    let drops = DropDetector.with_filter(DropDetector::filter());
    tracing_subscriber::registry().with(logs).with(drops).init();
    chat_gateway::server::run(config).await
}
