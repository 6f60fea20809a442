//! The desk seen from outside: its gauges, the consoles' nudge when it
//! changed, the agents' availability as visitors see it, and the timers
//! that keep it going (agents' grace periods, a shared desk's upkeep).
//! Like [`super::apply`], it knows no socket and no push.

use super::apply::apply;
use crate::deliver::{self, role_room};
use crate::metrics as m;
use crate::state::App;
use chat_core::Role;
use serde_json::{json, Value};

/// The desk's gauges (queue length, active chats) as the desk says now.
pub(crate) async fn publish_gauges(app: &App) {
    match app.support.snapshot().await {
        Ok(desk) => {
            metrics::gauge!(m::SUPPORT_QUEUE_LENGTH).set(desk.queue_length() as f64);
            metrics::gauge!(m::AGENT_ACTIVE_CHATS).set(desk.active_chats() as f64);
        }
        Err(e) => tracing::warn!(error = %e, "desk gauges not updated"),
    }
    // Every desk change passes here: the consoles' live views follow it.
    desk_changed(app);
}

/// Tells every agent's and admin's sockets that the desk changed (queue,
/// loads, availability); they fetch their own view, which differs per agent.
pub(crate) fn desk_changed(app: &App) {
    // Socket by socket, and no panic at start-up, when the desk is rebuilt
    // before the namespace exists (crate::deliver).
    deliver::to_any(
        app,
        vec![
            role_room(Role::SupportAgent).to_owned(),
            role_room(Role::Admin).to_owned(),
        ],
    )
    .emit("support:desk:changed", &json!({}));
}

/// The `agent:availability` payload: `online` (every available agent) and
/// `departments` (per department, the agents who could answer it, general
/// ones included), so the widget can speak for the visitor's topic.
pub(crate) async fn availability(app: &App) -> Option<Value> {
    match app.support.snapshot().await {
        Ok(desk) => Some(json!({
            "online": desk.agents_available(),
            "departments": desk.agents_available_by_department(),
        })),
        Err(e) => {
            tracing::warn!(error = %e, "no agent availability: the desk did not answer");
            None
        }
    }
}

/// Tells visitors how many agents are there to answer.
pub(crate) async fn announce_availability(app: &App) {
    if let Some(availability) = availability(app).await {
        deliver::to(app, role_room(Role::Public).to_owned())
            .emit("agent:availability", &availability);
    }
    desk_changed(app);
}

/// An agent's last socket closed: when its grace period is over (and it has
/// not come back), the desk requeues its chats.
pub(crate) fn schedule_grace(app: &App, agent: String, generation: u64) {
    let app = app.clone();
    tokio::spawn(async move {
        tokio::time::sleep(app.support.grace()).await;
        match app.support.grace_expired(&agent, generation).await {
            Ok(changes) => apply(&app, changes).await,
            // A shared desk keeps the deadline: a later sweep ends it.
            Err(e) => tracing::error!(error = %e, agent, "the desk did not end a grace period"),
        }
        announce_availability(&app).await;
    });
}

/// The upkeep of a shared desk (this node's heartbeat; dead nodes' sockets;
/// grace periods whose node died): every few seconds, carrying out what it
/// decided. Visitors and consoles here are told when the availability the
/// desk shows changed, whichever node changed it.
pub(crate) fn spawn_maintenance(app: &App) {
    let Some(every) = app.support.maintenance_interval() else {
        return;
    };
    let app = app.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut shown: Option<Value> = None;
        loop {
            tick.tick().await;
            match app.support.maintain().await {
                Ok(upkeep) => {
                    apply(&app, upkeep.changes).await;
                    if upkeep.lost {
                        tracing::warn!("the shared desk's state is gone (Redis restarted empty): rebuilding it from the store");
                        if let Err(e) = super::rebuild(&app).await {
                            tracing::error!(error = %e, "could not rebuild the desk");
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "desk upkeep failed; trying again");
                    continue;
                }
            }
            let now = availability(&app).await;
            if now.is_some() && now != shown {
                if let Some(availability) = &now {
                    deliver::to(&app, role_room(Role::Public).to_owned())
                        .emit("agent:availability", availability);
                }
                desk_changed(&app);
                shown = now;
            }
        }
    });
}
