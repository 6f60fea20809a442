//! Prometheus metrics (§8). Names are constants so handlers and tests agree.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const ACTIVE_CONNECTIONS: &str = "chat_active_connections";
pub const MESSAGES_TOTAL: &str = "chat_messages_total";
pub const CONNECTIONS_TOTAL: &str = "chat_connections_total";
pub const DELIVERY_SECONDS: &str = "chat_message_delivery_seconds";
pub const ATTACHMENT_UPLOADS_TOTAL: &str = "chat_attachment_uploads_total";
pub const SUPPORT_QUEUE_LENGTH: &str = "chat_support_queue_length";
pub const AGENT_ACTIVE_CHATS: &str = "chat_agent_active_chats";
pub const EVENTS_REJECTED_TOTAL: &str = "chat_events_rejected_total";
pub const ONLINE_USERS: &str = "chat_online_users";
/// Requests refused by an abuse limit (issue 11), by `limit`.
pub const ABUSE_REFUSED_TOTAL: &str = "chat_abuse_refused_total";

pub fn install() -> anyhow::Result<PrometheusHandle> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(DELIVERY_SECONDS.into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            ],
        )?
        .install_recorder()?;
    // Series that must exist from the start, even at zero.
    metrics::gauge!(ACTIVE_CONNECTIONS).set(0.0);
    metrics::gauge!(SUPPORT_QUEUE_LENGTH).set(0.0);
    metrics::gauge!(AGENT_ACTIVE_CHATS).set(0.0);
    for t in ["text", "file", "system"] {
        metrics::counter!(MESSAGES_TOTAL, "type" => t).absolute(0);
    }
    for r in ["accepted", "rejected"] {
        metrics::counter!(CONNECTIONS_TOTAL, "result" => r).absolute(0);
    }
    for r in ["stored", "refused"] {
        metrics::counter!(ATTACHMENT_UPLOADS_TOTAL, "result" => r).absolute(0);
    }
    Ok(handle)
}
