//! The agent console's events (docs/protocol.md, "Agent console"): the queue
//! (`support:queue`) and taking from it (`support:take`), the supervisor view
//! (`support:desk`, admins), transfer (`support:transfer`), the visitor panel
//! (`support:visitor`), and the live nudge `support:desk:changed` that tells
//! agents and admins to fetch their view again. The desk decides (chat_desk:
//! each action checks and changes the desk in one atomic step, so two agents
//! taking the same chat at once get it once); this module checks who may
//! ask, persists through the same paths as an assignment, and answers.

use super::support::desk_error;
use super::{conversation_for, payload, store_error, to_json, Ctx, Outcome};
use crate::state::App;
use crate::support::{
    apply, desk_changed, reassign, system_message, ConsoleError, DeskError, QueuedView, TransferTo,
};
use chat_core::clock::format_millis;
use chat_core::model::MessageType;
use chat_core::support::{department_for, QUERY_TYPES};
use chat_core::{ChatError, Role};
use chat_store::{SupportRecord, SupportStatus};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// At most this many earlier chats in the visitor panel, newest first.
const EARLIER_CHATS: usize = 10;
/// The queue shows the start of the visitor's first message.
const PREVIEW_CHARS: usize = 200;

fn console_error(e: ConsoleError) -> ChatError {
    let message = e.to_string();
    match e {
        ConsoleError::NotQueued | ConsoleError::NotActive => ChatError::conflict(message),
        ConsoleError::NotServed | ConsoleError::NotYours => ChatError::forbidden(message),
        ConsoleError::NoSuchAgent => ChatError::not_found(message),
        ConsoleError::SameAgent => ChatError::invalid(message),
        ConsoleError::Full | ConsoleError::TargetBusy | ConsoleError::DepartmentBusy => {
            ChatError::unavailable(message)
        }
    }
}

fn staff_only(ctx: &Ctx) -> Result<(), ChatError> {
    if ctx.me.is_guest() {
        return Err(ChatError::unauthorized(
            "sign in as a support agent or admin",
        ));
    }
    match ctx.me.role {
        Role::SupportAgent | Role::Admin => Ok(()),
        _ => Err(ChatError::forbidden(
            "only support agents and admins use the console",
        )),
    }
}

/// An admin who set its availability once serves support like a `general`
/// agent (while the desk remembers it): connects and disconnects count for it.
pub async fn serving_admin(app: &App, me: &chat_core::Identity) -> bool {
    if me.role != Role::Admin {
        return false;
    }
    match app.support.snapshot().await {
        Ok(desk) => desk.is_agent(&me.user_id),
        Err(e) => {
            tracing::warn!(error = %e, "the desk did not say whether an admin serves");
            false
        }
    }
}

/// An admin's first `agent:status`: it joins the desk, online with the
/// sockets it has open on this node now (later ones count through the
/// connect hooks).
pub async fn admin_serves(app: &App, admin: &str) -> Result<(), DeskError> {
    let sockets = app.fanout.local_count(super::user_room(admin));
    app.support.admin_joins(admin, sockets).await
}

/// The start of the visitor's first own message, if any.
async fn first_message(app: &App, room_id: &str, visitor: &str) -> Option<String> {
    let messages = app.store.transcript(room_id).await.ok()?;
    messages
        .into_iter()
        .find(|m| m.author_id == visitor && m.kind != MessageType::System)
        .map(|m| m.content.chars().take(PREVIEW_CHARS).collect())
}

async fn queue_items(app: &App, queue: Vec<QueuedView>) -> Vec<Value> {
    let mut out = Vec::with_capacity(queue.len());
    for q in queue {
        let Ok(Some(room)) = app.rooms.get(app.store.as_ref(), &q.conversation_id).await else {
            continue;
        };
        let Some(s) = room.support.as_ref() else {
            continue;
        };
        out.push(json!({
            "roomId": q.conversation_id,
            "visitorName": s.visitor_name,
            "queryType": s.query_type,
            "department": q.department,
            "position": q.position,
            "waitingSince": format_millis(s.started_at),
            "firstMessage": first_message(app, &q.conversation_id, &q.visitor_id).await,
        }));
    }
    out
}

/// `support:queue`: the queued chats the caller could take (admins: all).
pub async fn queue(ctx: &Ctx, _data: Value) -> Outcome {
    staff_only(ctx)?;
    let app = &ctx.app;
    let desk = app.support.snapshot().await.map_err(desk_error)?;
    let view = match ctx.me.role {
        Role::Admin => desk.queue_view(None),
        _ => desk.queue_view(Some(&ctx.me.user_id)),
    };
    let mut out = Map::new();
    out.insert("queue".into(), Value::Array(queue_items(app, view).await));
    Ok(out)
}

/// `support:desk` (admins): every agent with its load and availability, and the queue.
pub async fn desk(ctx: &Ctx, _data: Value) -> Outcome {
    staff_only(ctx)?;
    if ctx.me.role != Role::Admin {
        return Err(ChatError::forbidden("the supervisor view is for admins"));
    }
    let app = &ctx.app;
    let desk = app.support.snapshot().await.map_err(desk_error)?;
    let mut agents = Vec::new();
    for a in &desk.agents {
        let mut chats = Vec::new();
        for id in &a.chats {
            if let Ok(Some(room)) = app.rooms.get(app.store.as_ref(), id).await {
                if let Some(s) = room.support.as_ref() {
                    chats.push(json!({ "roomId": id, "visitorName": s.visitor_name, "department": s.department }));
                }
            }
        }
        agents.push(json!({
            "id": a.id,
            "name": app.people.name_of(&a.id),
            "department": a.department,
            "online": a.online,
            "available": a.available,
            "maxChats": a.max_chats,
            "activeChats": a.chats.len(),
            "chats": chats,
        }));
    }
    let mut out = Map::new();
    out.insert("agents".into(), Value::Array(agents));
    out.insert(
        "queue".into(),
        Value::Array(queue_items(app, desk.queue_view(None)).await),
    );
    Ok(out)
}

/// `support:take { roomId }`: an agent takes a queued chat itself.
pub async fn take(ctx: &Ctx, data: Value) -> Outcome {
    staff_only(ctx)?;
    if ctx.me.role != Role::SupportAgent && !serving_admin(&ctx.app, &ctx.me).await {
        return Err(ChatError::forbidden(
            "only support agents (and admins who serve) take chats",
        ));
    }
    let app = &ctx.app;
    let room_id = payload::room_id(&data, &app.limits)?;
    app.support
        .register_agent(&ctx.me.user_id, app.people.agent_config(&ctx.me.user_id))
        .await
        .map_err(desk_error)?;
    let (_visitor, changes) = app
        .support
        .take_queued(&room_id, &ctx.me.user_id)
        .await
        .map_err(desk_error)?
        .map_err(console_error)?;
    let recorded = reassign(app, &room_id, &ctx.me.user_id, None).await;
    // The desk decided: what it freed is carried out whether or not the
    // store took the new agent, and the caller hears if it did not.
    apply(app, changes).await;
    desk_changed(app);
    recorded.map_err(store_error)?;
    let mut out = Map::new();
    out.insert(
        "conversation".into(),
        to_json(&conversation_for(app, &room_id, &ctx.me.user_id).await?)?,
    );
    Ok(out)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Transfer {
    agent_id: Option<Value>,
    department: Option<Value>,
}

/// `support:transfer { roomId, agentId | department }`: the chat's agent (or
/// an admin) hands an active chat to another agent who can take it now.
pub async fn transfer(ctx: &Ctx, data: Value) -> Outcome {
    staff_only(ctx)?;
    let app = &ctx.app;
    let room_id = payload::room_id(&data, &app.limits)?;
    let req: Transfer = payload::parse(data)?;
    let to = match (&req.agent_id, &req.department) {
        (Some(Value::String(a)), None) => Target::Agent(payload::id("agentId", a, &app.limits)?),
        (None, Some(Value::String(d))) => {
            let known = QUERY_TYPES
                .iter()
                .filter_map(|q| department_for(q))
                .any(|k| k == d);
            if !known {
                return Err(ChatError::invalid(
                    "department: must be one of sales, support, billing, general",
                ));
            }
            Target::Department(d.clone())
        }
        (Some(_), None) => return Err(ChatError::invalid("agentId: must be a string")),
        (None, Some(_)) => return Err(ChatError::invalid("department: must be a string")),
        _ => {
            return Err(ChatError::invalid(
                "give exactly one of agentId and department",
            ))
        }
    };
    let by = (ctx.me.role != Role::Admin).then_some(ctx.me.user_id.as_str());
    let to = match &to {
        Target::Agent(a) => TransferTo::Agent(a),
        Target::Department(d) => TransferTo::Department(d),
    };
    let moved = app
        .support
        .transfer(&room_id, to, by)
        .await
        .map_err(desk_error)?
        .map_err(console_error)?;
    let to_name = app.people.name_of(&moved.to);
    system_message(
        app,
        &room_id,
        format!(
            "{} transferred the chat to {to_name}",
            app.people.name_of(&ctx.me.user_id)
        ),
    )
    .await;
    let recorded = reassign(app, &room_id, &moved.to, Some(&moved.from)).await;
    apply(app, moved.changes).await;
    desk_changed(app);
    recorded.map_err(store_error)?;
    let mut out = Map::new();
    out.insert("agent".into(), json!({ "id": moved.to, "name": to_name }));
    Ok(out)
}

enum Target {
    Agent(String),
    Department(String),
}

/// `support:visitor { roomId }`: the visitor panel — who, what about, how
/// long they waited, and their earlier chats. For admins, the chat's agent,
/// and agents who could take it from the queue.
pub async fn visitor(ctx: &Ctx, data: Value) -> Outcome {
    staff_only(ctx)?;
    let app = &ctx.app;
    let (room, s) = super::support::support_room(ctx, &data).await?;
    let room_id = room.id.clone();
    let mine = s.agent_id.as_deref() == Some(ctx.me.user_id.as_str());
    let desk = app.support.snapshot().await.map_err(desk_error)?;
    let can_take = desk
        .queue_view(Some(&ctx.me.user_id))
        .iter()
        .any(|q| q.conversation_id == room_id);
    if !(ctx.me.role == Role::Admin || mine || can_take) {
        // Same answer as for a chat that does not exist: no probing.
        return Err(ChatError::not_found("no such support chat"));
    }
    let mut earlier: Vec<SupportRecord> = Vec::new();
    let mut ids: Vec<String> = Vec::new();
    for status in [
        SupportStatus::Ended,
        SupportStatus::Active,
        SupportStatus::Queued,
    ] {
        for c in app
            .store
            .support_conversations(status)
            .await
            .map_err(store_error)?
        {
            if c.id == room_id {
                continue;
            }
            if let Some(other) = c.support.filter(|o| o.visitor_id == s.visitor_id) {
                ids.push(c.id);
                earlier.push(other);
            }
        }
    }
    let mut rows: Vec<(SupportRecord, String)> = earlier.into_iter().zip(ids).collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.0.started_at));
    rows.truncate(EARLIER_CHATS);
    let earlier: Vec<Value> = rows
        .into_iter()
        .map(|(o, id)| {
            json!({
                "roomId": id,
                "queryType": o.query_type,
                "department": o.department,
                "status": o.status.as_str(),
                "startedAt": format_millis(o.started_at),
                "endedAt": o.ended_at.map(format_millis),
                "rating": o.rating,
                "agentName": o.agent_id.as_deref().map(|a| app.people.name_of(a)),
            })
        })
        .collect();
    let mut out = Map::new();
    out.insert(
        "visitor".into(),
        json!({ "id": s.visitor_id, "name": s.visitor_name, "email": s.visitor_email }),
    );
    out.insert("queryType".into(), json!(s.query_type));
    out.insert("department".into(), json!(s.department));
    out.insert("pageUrl".into(), json!(s.page_url));
    out.insert("status".into(), json!(s.status.as_str()));
    out.insert("startedAt".into(), json!(format_millis(s.started_at)));
    out.insert("endedAt".into(), json!(s.ended_at.map(format_millis)));
    out.insert(
        "agent".into(),
        json!(s
            .agent_id
            .as_deref()
            .map(|a| json!({ "id": a, "name": app.people.name_of(a) }))),
    );
    out.insert("position".into(), json!(desk.position(&room_id)));
    out.insert("earlier".into(), Value::Array(earlier));
    // Whom the chat could be transferred to right now (online, available,
    // under the limit, not its agent): the console's transfer menu.
    let targets: Vec<Value> = desk
        .agents
        .iter()
        .filter(|a| {
            a.online
                && a.available
                && (a.chats.len() as u32) < a.max_chats
                && s.agent_id.as_deref() != Some(a.id.as_str())
        })
        .map(|a| json!({ "id": a.id, "name": app.people.name_of(&a.id), "department": a.department }))
        .collect();
    out.insert("transferTargets".into(), Value::Array(targets));
    Ok(out)
}
