//! Support desk events (§6): the visitor's pre-chat form, agents' status,
//! assignment and queue notifications, end, rating and transcript.
//! The decisions are [`crate::support::SupportDesk`]'s; this module persists
//! them and tells the people concerned.

use super::rooms::join_user_sockets;
use super::{conversation_for, payload, role_room, store_error, to_json, user_room, Ctx, Outcome};
use crate::mail::{transcript as render_transcript, Email};
use crate::metrics as m;
use crate::state::App;
use crate::support::{Changes, Placement};
use chat_core::clock::{new_id, now_millis};
use chat_core::model::{Conversation, ConversationType, MessageType};
use chat_core::support::department_for;
use chat_core::{validate, ChatError, ErrorCode, Identity, Role};
use chat_store::{
    ConversationRecord, NewConversation, NewMessage, SupportRecord, SupportStatus, SupportUpdate,
    UserRecord,
};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::sync::Arc;

const TRANSCRIPTS_PER_HOUR: u32 = 3;
const DEFAULT_AWAY: &str = "All our agents are offline right now. Leave your message and we will answer as soon as we can.";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Start {
    name: Option<Value>,
    email: Option<Value>,
    query_type: Option<Value>,
    message: Option<Value>,
    /// The page the widget was opened on (optional; shown to the agent).
    page_url: Option<Value>,
}

/// A required string field, named in the error.
fn field<'a>(name: &str, v: &'a Option<Value>) -> Result<&'a str, ChatError> {
    match v {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(ChatError::invalid(format!("{name}: is required"))),
        Some(_) => Err(ChatError::invalid(format!("{name}: must be a string"))),
    }
}

fn prefixed(name: &str, e: ChatError) -> ChatError {
    ChatError::new(e.code, format!("{name}: {}", e.message))
}

pub async fn start(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let form: Start = payload::parse(data)?;
    let name = validate::name("name", field("name", &form.name)?, &app.limits)
        .map_err(|e| prefixed("name", e))?;
    if ctx.me.is_guest && crate::auth::staff_like_name(&name) {
        return Err(ChatError::invalid(
            "name: may not name staff (support, admin, agent, Seitech, …); use your own name",
        ));
    }
    let email = validate::email(field("email", &form.email)?).map_err(|e| prefixed("email", e))?;
    let page_url = match &form.page_url {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => Some(validate::page_url(u)?),
        Some(_) => return Err(ChatError::invalid("pageUrl: must be a string")),
    };
    let query_type = field("queryType", &form.query_type)?;
    let department = department_for(query_type).ok_or_else(|| {
        ChatError::invalid(
            "queryType: must be one of course_inquiry, technical_support, billing, other",
        )
    })?;
    let first = match &form.message {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(validate::content(s, &app.limits).map_err(|e| prefixed("message", e))?)
                .filter(|c| !c.is_empty())
        }
        Some(_) => return Err(ChatError::invalid("message: must be a string")),
    };
    if ctx.me.role == Role::SupportAgent {
        return Err(ChatError::forbidden(
            "support agents do not open support chats",
        ));
    }
    let visitor = ctx.me.user_id.clone();
    let _starting = app.support.start_lock(&visitor).await;

    // A double submit (or a second tab) gets the chat that is already open.
    if let Some(open) = app.support.open_chat_of(&visitor) {
        return placement_answer(app, &open, &visitor).await;
    }
    if ctx.me.is_guest {
        app.abuse
            .guest_support_chat(ctx.sid, |room| app.support.position(room).is_some())
            .map_err(|why| ChatError::new(ErrorCode::RateLimited, why))?;
    }

    // The form names the visitor; a signed-in user keeps its own name.
    let shown_name = if ctx.me.is_guest {
        name.clone()
    } else {
        ctx.me.name.clone()
    };
    if ctx.me.is_guest {
        let record = UserRecord {
            id: visitor.clone(),
            name: name.clone(),
            role: Role::Public,
            email: Some(email.clone()),
        };
        app.people.remember(record.clone());
        app.store.upsert_user(record).await.map_err(store_error)?;
    }
    let now = now_millis();
    let (record, _) = app
        .store
        .create_conversation(NewConversation {
            id: new_id(),
            kind: ConversationType::Support,
            name: Some(format!("Support: {shown_name}")),
            created_by: visitor.clone(),
            participants: vec![visitor.clone()],
            support: Some(SupportRecord {
                visitor_id: visitor.clone(),
                visitor_name: name,
                visitor_email: email,
                query_type: query_type.to_owned(),
                department: department.to_owned(),
                agent_id: None,
                status: SupportStatus::Queued,
                started_at: now,
                ended_at: None,
                rating: None,
                rating_comment: None,
                page_url,
            }),
            at: now,
        })
        .await
        .map_err(store_error)?;
    let room = app.rooms.put(record);
    m::support_started(&room.id, department);
    join_user_sockets(app, &visitor, &room.id).await;
    if let Some(content) = first {
        app.store
            .append_message(NewMessage::plain(
                MessageType::Text,
                &room.id,
                &visitor,
                &shown_name,
                content,
            ))
            .await
            .map_err(store_error)?;
        metrics::counter!(m::MESSAGES_TOTAL, "type" => "text").increment(1);
    }

    let (placement, changes) = app.support.request(&room.id, &visitor, department);
    match placement {
        Placement::Assigned(agent) => assign(app, &room.id, &agent).await,
        Placement::Queued { agents_online, .. } => {
            if ctx.me.is_guest {
                app.abuse.guest_queued(ctx.sid, &room.id);
            }
            apply(app, changes).await;
            if !agents_online {
                let away = app
                    .support
                    .away_message(department)
                    .unwrap_or_else(|| DEFAULT_AWAY.into());
                system_message(app, &room.id, away).await;
            }
        }
    }
    publish_gauges(app);
    placement_answer(app, &room.id, &visitor).await
}

/// The ack of `support:start`: the conversation and where it stands.
async fn placement_answer(app: &App, room_id: &str, visitor: &str) -> Outcome {
    let conversation = conversation_for(app, room_id, visitor).await?;
    let mut out = Map::new();
    let agent = conversation
        .support
        .as_ref()
        .and_then(|s| s.agent_id.clone());
    match (&agent, app.support.position(room_id)) {
        (Some(agent), _) => {
            out.insert("status".into(), json!("assigned"));
            out.insert(
                "agent".into(),
                json!({ "id": agent, "name": app.people.name_of(agent) }),
            );
        }
        (None, position) => {
            out.insert("status".into(), json!("queued"));
            out.insert("position".into(), json!(position.unwrap_or(1)));
        }
    }
    out.insert("conversation".into(), to_json(&conversation)?);
    Ok(out)
}

/// Carries out an assignment: records it, brings the agent in, tells both sides.
async fn assign(app: &App, room_id: &str, agent: &str) {
    hand_over(app, room_id, agent, None).await;
}

/// A manager gave an open support chat to `agent` (an Odoo push), taking it
/// from `previous` when it had an agent. Everyone is told as for an
/// assignment; the previous agent stops being a participant, its sockets
/// leave the room, and it gets `conversation:updated` with the chat as it
/// now stands (the Odoo addon likewise drops the previous agent's Discuss
/// membership: a chat has one agent).
pub async fn reassign(app: &App, room_id: &str, agent: &str, previous: Option<&str>) {
    hand_over(app, room_id, agent, previous.filter(|p| *p != agent)).await;
    publish_gauges(app);
}

async fn hand_over(app: &App, room_id: &str, agent: &str, previous: Option<&str>) {
    let update = SupportUpdate {
        agent_id: Some(Some(agent.to_owned())),
        status: Some(SupportStatus::Active),
        ..Default::default()
    };
    let record = match app.store.update_support(room_id, update).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, room_id, agent, "could not record an assignment");
            return;
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
    let _ = app.rooms.refresh(app.store.as_ref(), room_id).await;
    join_user_sockets(app, agent, room_id).await;
    let agent_name = app.people.name_of(agent);
    // The previous agent's sockets are still in the room: they hear it too.
    crate::deliver::to(app, room_id.to_owned()).emit(
        "support:assigned",
        &json!({ "roomId": room_id, "agent": { "id": agent, "name": agent_name } }),
    );
    if let Some(previous) = previous {
        crate::deliver::to(app, user_room(previous))
            .leave(room_id.to_owned())
            .await;
        if let Ok(view) = conversation_for(app, room_id, previous).await {
            crate::deliver::to(app, user_room(previous)).emit("conversation:updated", &view);
        }
    }
    system_message(app, room_id, format!("{agent_name} joined the chat")).await;
    if let Ok(view) = conversation_for(app, room_id, agent).await {
        crate::deliver::to(app, user_room(agent)).emit("conversation:new", &view);
    }
}

/// Persists and announces what the desk decided.
pub async fn apply(app: &App, changes: Changes) {
    if changes.is_empty() {
        return;
    }
    for (room_id, agent) in &changes.requeued {
        let update = SupportUpdate {
            agent_id: Some(None),
            status: Some(SupportStatus::Queued),
            ..Default::default()
        };
        if let Err(e) = app.store.update_support(room_id, update).await {
            tracing::error!(error = %e, "could not requeue a chat");
        }
        let _ = app.store.remove_participant(room_id, agent).await;
        crate::deliver::to(app, user_room(agent))
            .leave(room_id.clone())
            .await;
        let _ = app.rooms.refresh(app.store.as_ref(), room_id).await;
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
        assign(app, room_id, agent).await;
    }
    for (room_id, visitor, position) in &changes.positions {
        crate::deliver::to(app, user_room(visitor)).emit(
            "support:queued",
            &json!({ "roomId": room_id, "position": position }),
        );
    }
    publish_gauges(app);
}

/// A `system` message in a room, stored and delivered to everyone in it.
pub(crate) async fn system_message(app: &App, room_id: &str, content: String) {
    let stored = app
        .store
        .append_message(NewMessage::plain(
            MessageType::System,
            room_id,
            "system",
            "Seitech",
            content,
        ))
        .await;
    match stored {
        Ok(appended) => {
            metrics::counter!(m::MESSAGES_TOTAL, "type" => "system").increment(1);
            crate::deliver::to(app, room_id.to_owned()).emit("message", appended.message());
        }
        Err(e) => tracing::error!(error = %e, "could not store a system message"),
    }
}

pub fn publish_gauges(app: &App) {
    metrics::gauge!(m::SUPPORT_QUEUE_LENGTH).set(app.support.queue_length() as f64);
    metrics::gauge!(m::AGENT_ACTIVE_CHATS).set(app.support.active_chats() as f64);
    // Every desk change passes here: the consoles' live views follow it.
    super::console::desk_changed(app);
}

/// A support room and the caller's part in it.
pub(crate) async fn support_room(
    ctx: &Ctx,
    data: &Value,
) -> Result<(Arc<ConversationRecord>, SupportRecord), ChatError> {
    let app = &ctx.app;
    let room_id = payload::room_id(data, &app.limits)?;
    let room = app
        .rooms
        .get(app.store.as_ref(), &room_id)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ChatError::not_found("no such support chat"))?;
    let support = room
        .support
        .clone()
        .ok_or_else(|| ChatError::invalid("not a support chat"))?;
    Ok((room, support))
}

/// What the rules of chat_core::rights need to know of a support chat.
fn facts(s: &SupportRecord) -> chat_core::rights::SupportFacts<'_> {
    chat_core::rights::SupportFacts {
        visitor: &s.visitor_id,
        agent: s.agent_id.as_deref(),
        ended: s.status == SupportStatus::Ended,
        rated: s.rating.is_some(),
    }
}

fn me(ctx: &Ctx) -> chat_core::policy::Party<'_> {
    chat_core::policy::Party {
        id: &ctx.me.user_id,
        role: ctx.me.role,
    }
}

fn is_visitor(ctx: &Ctx, s: &SupportRecord) -> bool {
    s.visitor_id == ctx.me.user_id
}

fn is_staff(ctx: &Ctx, s: &SupportRecord) -> bool {
    ctx.me.role == Role::Admin || s.agent_id.as_deref() == Some(ctx.me.user_id.as_str())
}

pub async fn end(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let (room, support) = support_room(ctx, &data).await?;
    chat_core::rights::may_end_support(me(ctx), &facts(&support))?;
    end_chat(app, &room.id, &support.visitor_id)
        .await
        .map_err(store_error)?;
    Ok(Map::new())
}

/// Ends a support chat, whoever asked (either side, or Odoo's back office):
/// records the end, frees the agent's slot (which takes from the queue),
/// tells the room and refreshes the desk's gauges.
pub async fn end_chat(
    app: &App,
    room_id: &str,
    visitor_id: &str,
) -> Result<(), chat_store::StoreError> {
    let update = SupportUpdate {
        status: Some(SupportStatus::Ended),
        ended_at: Some(now_millis()),
        ..Default::default()
    };
    let record = app.store.update_support(room_id, update).await?;
    m::support_ended(app, &record).await;
    app.rooms.put(record);
    let changes = app.support.ended(room_id);
    app.support.release_start_lock(visitor_id);
    crate::deliver::to(app, room_id.to_owned())
        .emit("support:ended", &json!({ "roomId": room_id }));
    apply(app, changes).await;
    publish_gauges(app);
    Ok(())
}

#[derive(Deserialize)]
struct Rate {
    rating: Option<Value>,
    comment: Option<Value>,
}

pub async fn rate(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let req: Rate = payload::parse(data.clone())?;
    let rating = match req.rating.as_ref().and_then(Value::as_i64) {
        Some(r @ 1..=5) => r as u8,
        _ => {
            return Err(ChatError::invalid(
                "rating: must be a whole number from 1 to 5",
            ))
        }
    };
    let comment = match &req.comment {
        None | Some(Value::Null) => None,
        Some(Value::String(c)) => {
            let c = validate::clean_text(c);
            if c.chars().count() > 1000 {
                return Err(ChatError::too_large("comment: at most 1000 characters"));
            }
            Some(c).filter(|c| !c.is_empty())
        }
        Some(_) => return Err(ChatError::invalid("comment: must be a string")),
    };
    let (room, support) = support_room(ctx, &data).await?;
    chat_core::rights::may_rate_support(&ctx.me.user_id, &facts(&support))?;
    let update = SupportUpdate {
        rating: Some((rating, comment)),
        ..Default::default()
    };
    let record = app
        .store
        .update_support(&room.id, update)
        .await
        .map_err(store_error)?;
    app.rooms.put(record);
    m::support_rated(&support.department, rating);
    Ok(Map::new())
}

#[derive(Deserialize)]
struct Transcript {
    email: Option<Value>,
}

pub async fn transcript(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let req: Transcript = payload::parse(data.clone())?;
    let explicit = match &req.email {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) => Some(validate::email(e)?),
        Some(_) => return Err(ChatError::invalid("email: must be a string")),
    };
    let (room, support) = support_room(ctx, &data).await?;
    if !is_visitor(ctx, &support) && !is_staff(ctx, &support) {
        return Err(ChatError::forbidden(
            "only the visitor, its agent or an admin may ask for the transcript",
        ));
    }
    let Some(mailer) = &app.mailer else {
        return Err(ChatError::unavailable(
            "email is not configured on this server",
        ));
    };
    // Never an open relay: the transcript goes to the email of the pre-chat
    // form, or to the signed-in caller's own address, nowhere else.
    let to = match explicit {
        None => support.visitor_email.clone(),
        Some(e) if e.eq_ignore_ascii_case(&support.visitor_email) => e,
        Some(e) if own_email(ctx).is_some_and(|own| own.eq_ignore_ascii_case(&e)) => e,
        Some(_) => {
            return Err(ChatError::forbidden(
                "email: a transcript goes only to the pre-chat form's email or to your own account's address",
            ))
        }
    };
    if !app.abuse.transcript(ctx.sid, &ctx.me.user_id) {
        return Err(ChatError::rate_limited());
    }
    if !app
        .store
        .record_transcript(&room.id, now_millis(), 3_600_000, TRANSCRIPTS_PER_HOUR)
        .await
        .map_err(store_error)?
    {
        return Err(ChatError::rate_limited());
    }
    let mut messages = app.store.transcript(&room.id).await.map_err(store_error)?;
    crate::attachments::refresh_urls(app, &mut messages);
    let title = format!("Your chat with Seitech support ({})", support.visitor_name);
    let (text, html) = render_transcript(&title, &messages, &app.config.public_url);
    mailer
        .send(Email {
            to,
            subject: "Transcript of your Seitech support chat".into(),
            text,
            html,
        })
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "transcript not sent");
            ChatError::unavailable("the email could not be sent; try again later")
        })?;
    Ok(Map::new())
}

/// A signed-in caller's own email address (its token's, or the directory's).
fn own_email(ctx: &Ctx) -> Option<String> {
    if ctx.me.is_guest {
        return None;
    }
    ctx.me
        .email
        .clone()
        .or_else(|| ctx.app.people.get(&ctx.me.user_id).and_then(|u| u.email))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    available: Value,
    away_message: Option<Value>,
    max_concurrent_chats: Option<Value>,
}

pub async fn agent_status(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    if ctx.me.is_guest {
        return Err(ChatError::unauthorized("sign in as a support agent"));
    }
    if !matches!(ctx.me.role, Role::SupportAgent | Role::Admin) {
        return Err(ChatError::forbidden(
            "only support agents (and admins who serve) have a status",
        ));
    }
    let req: Status = payload::parse(data)?;
    let Value::Bool(available) = req.available else {
        return Err(ChatError::invalid("available: must be a boolean"));
    };
    let away = match &req.away_message {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let s = validate::clean_text(s);
            if s.chars().count() > 500 {
                return Err(ChatError::too_large("awayMessage: at most 500 characters"));
            }
            Some(s)
        }
        Some(_) => return Err(ChatError::invalid("awayMessage: must be a string")),
    };
    let max = match &req.max_concurrent_chats {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=50) => Some(n as u32),
            _ => {
                return Err(ChatError::invalid(
                    "maxConcurrentChats: must be from 1 to 50",
                ))
            }
        },
    };
    if ctx.me.role == Role::Admin {
        super::console::admin_serves(app, &ctx.me.user_id);
    }
    app.support
        .register_agent(&ctx.me.user_id, app.people.agent_config(&ctx.me.user_id));
    let changes = app
        .support
        .set_status(&ctx.me.user_id, available, away, max);
    apply(app, changes).await;
    announce_availability(app).await;
    Ok(Map::new())
}

/// The `agent:availability` payload: `online` (every available agent) and
/// `departments` (per department, the agents who could answer it, general
/// ones included), so the widget can speak for the visitor's topic.
fn availability(app: &App) -> Value {
    json!({
        "online": app.support.agents_available(),
        "departments": app.support.agents_available_by_department(),
    })
}

/// Tells visitors how many agents are there to answer.
async fn announce_availability(app: &App) {
    crate::deliver::to(app, role_room(Role::Public)).emit("agent:availability", &availability(app));
    super::console::desk_changed(app);
}

pub async fn on_agent_connect(app: &App, me: &Identity) {
    if me.role != Role::SupportAgent && !super::console::serving_admin(app, me) {
        if me.role == Role::Public {
            crate::deliver::to(app, user_room(&me.user_id))
                .emit("agent:availability", &availability(app));
        }
        return;
    }
    app.support
        .register_agent(&me.user_id, app.people.agent_config(&me.user_id));
    let changes = app.support.agent_connected(&me.user_id);
    apply(app, changes).await;
    announce_availability(app).await;
}

/// Every closed agent socket; the last one starts the grace period (during
/// which the agent keeps its chats but takes no new one, so visitors see one
/// agent fewer).
pub async fn on_agent_disconnect(app: &App, me: &Identity) {
    if me.role != Role::SupportAgent && !super::console::serving_admin(app, me) {
        return;
    }
    if let Some(generation) = app.support.agent_disconnected(&me.user_id) {
        schedule_grace(app, me.user_id.clone(), generation);
        announce_availability(app).await;
    }
}

pub fn schedule_grace(app: &App, agent: String, generation: u64) {
    let app = app.clone();
    tokio::spawn(async move {
        tokio::time::sleep(app.support.grace).await;
        let changes = app.support.grace_expired(&agent, generation);
        apply(&app, changes).await;
        announce_availability(&app).await;
    });
}

/// The agent console's extra rows for `conversations:list { type: "support" }`:
/// the queue an agent can take from; for admins, every support chat.
pub async fn console_extra(
    ctx: &Ctx,
    kind: Option<ConversationType>,
) -> Result<Vec<Conversation>, ChatError> {
    let app = &ctx.app;
    if kind != Some(ConversationType::Support) {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = match ctx.me.role {
        Role::SupportAgent => app
            .support
            .queued_for(Some(&ctx.me.user_id))
            .into_iter()
            .map(|(id, _)| id)
            .collect(),
        Role::Admin => {
            let mut all = Vec::new();
            for status in [
                SupportStatus::Queued,
                SupportStatus::Active,
                SupportStatus::Ended,
            ] {
                all.extend(
                    app.store
                        .support_conversations(status)
                        .await
                        .map_err(store_error)?
                        .into_iter()
                        .map(|c| c.id),
                );
            }
            all
        }
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for id in ids {
        let view = conversation_for(app, &id, &ctx.me.user_id).await?;
        if !view.participants.iter().any(|p| p.id == ctx.me.user_id) {
            out.push(view);
        }
    }
    Ok(out)
}
