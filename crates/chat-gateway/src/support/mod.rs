//! The support desk as the gateway holds it (§6). The desk's state machine
//! is the `chat_desk` crate: in process for one node, or in Redis when
//! `REDIS_URL` is set, so that several nodes share one desk and each
//! decision (choose an agent and count the chat, take the head of the queue,
//! requeue after a grace period) is one atomic step across them
//! (docs/cluster-desk.md). Its operations return the [`Changes`] they
//! decided; [`apply`] persists them and tells people, [`upkeep`] keeps the
//! gauges, the availability and the timers. The socket handlers
//! (`events/support/`, `events/console.rs`) and Odoo's pushes (`odoo/`)
//! call these; this module calls neither. The desk handle the app holds
//! (with this node's start locks) is [`crate::desk::SupportDesk`].

mod apply;
mod upkeep;

pub(crate) use apply::{apply, assign, end_chat, reassign, record_waits, system_message};
pub use chat_desk::{
    Changes, Claim, ConsoleError, Desk, DeskError, Placement, QueuedView, Status, TransferTo,
};
use std::sync::Arc;
use std::time::Duration;
pub(crate) use upkeep::{
    announce_availability, availability, desk_changed, publish_gauges, schedule_grace,
};

/// The desk for this configuration: in Redis when `REDIS_URL` is set, else
/// in process.
pub async fn open(config: &crate::config::Config) -> anyhow::Result<Arc<dyn Desk>> {
    use anyhow::Context;
    let grace = Duration::from_secs(config.agent_grace_secs);
    match config.redis_url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => {
            if config.redis_desk_prefix.is_empty() {
                anyhow::bail!("REDIS_DESK_PREFIX must not be empty (the default is {{desk}})");
            }
            let node_ttl = Duration::from_secs(config.desk_node_ttl_secs.max(3));
            let options = chat_desk::RedisDeskOptions {
                // The server resolved the node's id (node.rs) before this.
                node_id: config
                    .node_id
                    .clone()
                    .unwrap_or_else(|| format!("node-{}", chat_core::clock::new_id())),
                prefix: config.redis_desk_prefix.clone(),
                grace,
                maintenance_interval: node_ttl / 3,
                node_ttl,
            };
            let node = options.node_id.clone();
            let desk = chat_desk::RedisDesk::connect(url, options)
                .await
                .context("cannot open the support desk in Redis (REDIS_URL)")?;
            tracing::info!(node, "support desk: Redis");
            Ok(Arc::new(desk))
        }
        None => Ok(Arc::new(chat_desk::LocalDesk::new(grace))),
    }
}

/// Rebuilds the desk from the store at start-up, then starts the desk's
/// upkeep (which rebuilds it again if a shared desk's state is lost).
pub async fn restore(app: &crate::state::App) -> anyhow::Result<()> {
    rebuild(app).await?;
    publish_gauges(app).await;
    upkeep::spawn_maintenance(app);
    Ok(())
}

/// Agents from the directory, then (on the first node of a shared desk, or
/// always in process) active chats on their agents and queued chats in
/// order, from the store; agents with chats get a grace period to come back
/// before their chats are requeued.
pub async fn rebuild(app: &crate::state::App) -> anyhow::Result<()> {
    use chat_store::SupportStatus;
    for config in app.people.agent_configs() {
        app.support
            .register_agent(&config.user_id, Some(config))
            .await?;
    }
    if app.support.begin_restore().await? {
        for c in app
            .store
            .support_conversations(SupportStatus::Active)
            .await?
        {
            if let Some(s) = &c.support {
                if let Some(agent) = &s.agent_id {
                    app.support
                        .restore_active(&c.id, &s.visitor_id, &s.department, agent)
                        .await?;
                    app.people.note_assignment(agent, &s.visitor_id);
                }
            }
        }
        for c in app
            .store
            .support_conversations(SupportStatus::Queued)
            .await?
        {
            if let Some(s) = &c.support {
                app.support
                    .restore_queued(&c.id, &s.visitor_id, &s.department, s.started_at)
                    .await?;
            }
        }
        for (agent, generation) in app.support.awaiting_agents().await? {
            schedule_grace(app, agent, generation);
        }
    }
    Ok(())
}

/// This node drains: its agents' sockets are handed back to the desk at
/// once, so they start their grace period and can reconnect to another node
/// (a shared desk; the in-process desk has nothing to hand back).
pub async fn node_leaving(app: &crate::state::App) {
    let node = app.support.node_id().to_owned();
    if let Err(e) = app.support.node_leaving(&node).await {
        tracing::warn!(error = %e, node, "could not hand this node's agents back to the desk");
    }
}
