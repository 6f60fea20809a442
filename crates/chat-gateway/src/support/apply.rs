//! What the desk decided, carried out: the store records it, the room
//! cache follows, and the people concerned are told (assignments, requeues,
//! queue positions, the end of a chat, the desk's `system` lines).
//!
//! This module knows no socket and no push: the socket handlers (`events/`)
//! and Odoo's pushes (`odoo/`) both call it, so neither has to reach into
//! the other to carry out a desk decision.

use super::upkeep::publish_gauges;
use super::Changes;
use crate::deliver::{self, user_room};
use crate::metrics as m;
use crate::post::{post, Source};
use crate::state::App;
use crate::views::conversation_of;
use chat_core::clock::now_millis;
use chat_core::model::MessageType;
use chat_store::{NewMessage, StoreError, SupportStatus, SupportUpdate};
use serde_json::json;

/// The queue-wait histogram's samples of what the desk decided.
pub(crate) fn record_waits(changes: &Changes) {
    for (department, waited) in &changes.waited {
        m::support_waited(department, *waited);
    }
}

/// Carries out an assignment: records it, brings the agent in, tells both
/// sides. Fails when the assignment could not be recorded (see [`hand_over`]).
pub(crate) async fn assign(app: &App, room_id: &str, agent: &str) -> Result<(), StoreError> {
    hand_over(app, room_id, agent, None).await
}

/// A manager gave an open support chat to `agent` (an Odoo push), taking it
/// from `previous` when it had an agent. Everyone is told as for an
/// assignment; the previous agent stops being a participant, its sockets
/// leave the room, and it gets `conversation:updated` with the chat as it
/// now stands (the Odoo addon likewise drops the previous agent's Discuss
/// membership: a chat has one agent). Fails when the new agent could not be
/// recorded: nothing was told then, and the same request can be made again.
pub(crate) async fn reassign(
    app: &App,
    room_id: &str,
    agent: &str,
    previous: Option<&str>,
) -> Result<(), StoreError> {
    let handed = hand_over(app, room_id, agent, previous.filter(|p| *p != agent)).await;
    publish_gauges(app).await;
    handed
}

/// Records `agent` as the chat's, then brings it in and tells everyone.
/// Only the record is required: if it fails nothing else is done and the
/// error is returned. A later step that fails (participants, the cache) is
/// logged and the rest still done, since the chat is the agent's by then
/// and the people concerned must hear of it.
async fn hand_over(
    app: &App,
    room_id: &str,
    agent: &str,
    previous: Option<&str>,
) -> Result<(), StoreError> {
    let update = SupportUpdate {
        agent_id: Some(Some(agent.to_owned())),
        status: Some(SupportStatus::Active),
        ..Default::default()
    };
    let record = match app.store.update_support(room_id, update).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, room_id, agent, "could not record an assignment");
            return Err(e);
        }
    };
    if let Some(s) = &record.support {
        app.people.note_assignment(agent, &s.visitor_id);
    }
    if let Err(e) = app.store.add_participant(room_id, agent).await {
        tracing::error!(error = %e, "could not add the agent to its chat");
    }
    if let Some(previous) = previous {
        if let Err(e) = app.store.remove_participant(room_id, previous).await {
            tracing::error!(error = %e, "could not remove the previous agent from its chat");
        }
    }
    refresh_room(app, room_id).await;
    deliver::join_user(app, agent, room_id).await;
    let agent_name = app.people.name_of(agent);
    // The previous agent's sockets are still in the room: they hear it too.
    deliver::to(app, room_id.to_owned()).emit(
        "support:assigned",
        &json!({ "roomId": room_id, "agent": { "id": agent, "name": agent_name } }),
    );
    if let Some(previous) = previous {
        deliver::to(app, user_room(previous))
            .leave(room_id.to_owned())
            .await;
        if let Ok(Some(view)) = conversation_of(app, room_id, previous).await {
            deliver::to(app, user_room(previous)).emit("conversation:updated", &view);
        }
    }
    system_message(app, room_id, format!("{agent_name} joined the chat")).await;
    if let Ok(Some(view)) = conversation_of(app, room_id, agent).await {
        deliver::to(app, user_room(agent)).emit("conversation:new", &view);
    }
    Ok(())
}

/// Re-reads a room's cached record after a change. If the store does not
/// answer, the stale entry is gone all the same (the next read asks the
/// store again), so this is logged and not an error of the change.
async fn refresh_room(app: &App, room_id: &str) {
    if let Err(e) = app.rooms.refresh(app.store.as_ref(), room_id).await {
        tracing::warn!(error = %e, room_id, "could not re-read a changed room; the next read will");
    }
}

/// Persists and announces what the desk decided.
pub(crate) async fn apply(app: &App, changes: Changes) {
    if changes.is_empty() {
        return;
    }
    record_waits(&changes);
    for (room_id, agent) in &changes.requeued {
        let update = SupportUpdate {
            agent_id: Some(None),
            status: Some(SupportStatus::Queued),
            ..Default::default()
        };
        if let Err(e) = app.store.update_support(room_id, update).await {
            tracing::error!(error = %e, "could not requeue a chat");
        }
        if let Err(e) = app.store.remove_participant(room_id, agent).await {
            tracing::error!(error = %e, room_id, agent, "could not remove a requeued chat's agent");
        }
        deliver::to(app, user_room(agent))
            .leave(room_id.clone())
            .await;
        refresh_room(app, room_id).await;
        system_message(
            app,
            room_id,
            format!(
                "{} left the chat; you are back in the queue",
                app.people.name_of(agent)
            ),
        )
        .await;
    }
    for (room_id, agent) in &changes.assigned {
        // Logged by hand_over; the desk decided, the other changes still hold.
        let _unrecorded = assign(app, room_id, agent).await;
    }
    for (room_id, visitor, position) in &changes.positions {
        deliver::to(app, user_room(visitor)).emit(
            "support:queued",
            &json!({ "roomId": room_id, "position": position }),
        );
    }
    publish_gauges(app).await;
}

/// A `system` message in a room, stored and delivered to everyone in it.
/// Nobody asked for it and nobody can retry it: a failure is logged.
pub(crate) async fn system_message(app: &App, room_id: &str, content: String) {
    let room = match app.rooms.get(app.store.as_ref(), room_id).await {
        Ok(Some(room)) => room,
        Ok(None) => {
            tracing::error!(room_id, "no system message: the room is gone");
            return;
        }
        Err(e) => {
            tracing::error!(error = %e, room_id, "no system message: the room could not be read");
            return;
        }
    };
    let new = NewMessage::plain(MessageType::System, room_id, "system", "Seitech", content);
    if let Err(e) = post(app, &room, new, Source::Gateway).await {
        tracing::error!(error = %e, room_id, "could not store a system message");
    }
}

/// Ends a support chat, whoever asked (either side, or Odoo's back office):
/// records the end, frees the agent's slot (which takes from the queue),
/// tells the room and refreshes the desk's gauges.
pub(crate) async fn end_chat(app: &App, room_id: &str, visitor_id: &str) -> Result<(), StoreError> {
    let update = SupportUpdate {
        status: Some(SupportStatus::Ended),
        ended_at: Some(now_millis()),
        ..Default::default()
    };
    let record = app.store.update_support(room_id, update).await?;
    m::support_ended(app.store.as_ref(), &record).await;
    app.rooms.put(record).await;
    // The store says ended; a desk that does not answer keeps counting the
    // chat until its agent's grace period or a restart (logged).
    let changes = app.support.ended(room_id).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, room_id, "the desk did not record the end of a chat");
        Changes::default()
    });
    app.support.release_start_lock(visitor_id);
    deliver::to(app, room_id.to_owned()).emit("support:ended", &json!({ "roomId": room_id }));
    apply(app, changes).await;
    publish_gauges(app).await;
    Ok(())
}
