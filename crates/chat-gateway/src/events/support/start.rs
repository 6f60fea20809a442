//! `support:start`: the visitor's pre-chat form. It checks the form, finds
//! the chat the visitor has open already (a double submit, a second tab, a
//! submit on another node), or opens one and asks the desk to place it, and
//! answers where it stands (assigned, or queued at a position).

use super::desk_error;
use crate::events::{conversation_for, payload, store_error, to_json, Ctx, Outcome};
use crate::metrics as m;
use crate::state::App;
use crate::support::{
    apply, assign, publish_gauges, record_waits, system_message, Claim, Placement,
};
use chat_core::clock::{new_id, now_millis};
use chat_core::model::{ConversationType, MessageType};
use chat_core::support::department_for;
use chat_core::{validate, ChatError, ErrorCode, Role};
use chat_store::{NewConversation, NewMessage, SupportRecord, SupportStatus, UserRecord};
use serde::Deserialize;
use serde_json::{json, Map, Value};

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
    if ctx.me.is_guest() && crate::auth::staff_like_name(&name) {
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
    if let Some(open) = app
        .support
        .open_chat_of(&visitor)
        .await
        .map_err(desk_error)?
    {
        return placement_answer(app, &open, &visitor).await;
    }
    if ctx.me.is_guest() {
        let desk = app.support.snapshot().await.map_err(desk_error)?;
        app.abuse
            .guest_support_chat(ctx.ip, |room| desk.position(room).is_some())
            .await
            .map_err(|why| ChatError::new(ErrorCode::RateLimited, why))?;
    }
    // The chat is the visitor's open one before it exists: a submit on
    // another node at the same moment finds it (and opens nothing).
    let conversation_id = new_id();
    if let Claim::Open(open) = app
        .support
        .claim(&visitor, &conversation_id, department)
        .await
        .map_err(desk_error)?
    {
        return placement_answer(app, &open, &visitor).await;
    }

    // The form names the visitor; a signed-in user keeps its own name.
    let shown_name = if ctx.me.is_guest() {
        name.clone()
    } else {
        ctx.me.name.clone()
    };
    let created = async {
        if ctx.me.is_guest() {
            let record = UserRecord {
                id: visitor.clone(),
                name: name.clone(),
                role: Role::Public,
                email: Some(email.clone()),
            };
            app.people.remember(record.clone());
            app.store.upsert_user(record).await?;
        }
        let now = now_millis();
        app.store
            .create_conversation(NewConversation {
                id: conversation_id.clone(),
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
    }
    .await;
    let record = match created {
        Ok((record, _)) => record,
        Err(e) => {
            if let Err(e) = app.support.release_claim(&visitor, &conversation_id).await {
                tracing::warn!(error = %e, "could not release a support claim");
            }
            return Err(store_error(e));
        }
    };
    let room = app.rooms.put(record).await;
    m::support_started(&room.id, department);
    crate::deliver::join_user(app, &visitor, &room.id).await;
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
        m::message_stored(chat_core::model::MessageType::Text);
    }

    let (placement, changes) = app
        .support
        .request(&room.id, &visitor, department)
        .await
        .map_err(desk_error)?;
    match placement {
        Placement::Assigned(agent) => {
            record_waits(&changes);
            if let Err(e) = assign(app, &room.id, &agent).await {
                // The desk counts the chat on the agent, the store does not
                // say so: the visitor is told, and its retry finds the chat
                // (support:start answers the open one).
                publish_gauges(app).await;
                return Err(store_error(e));
            }
        }
        Placement::Queued { agents_online, .. } => {
            if ctx.me.is_guest() {
                app.abuse.guest_queued(ctx.ip, &room.id).await;
            }
            apply(app, changes).await;
            if !agents_online {
                let away = match app.support.snapshot().await {
                    Ok(desk) => desk.away_message(department),
                    Err(e) => {
                        tracing::warn!(error = %e, "no away message: the desk did not answer");
                        None
                    }
                }
                .unwrap_or_else(|| DEFAULT_AWAY.into());
                system_message(app, &room.id, away).await;
            }
        }
    }
    publish_gauges(app).await;
    placement_answer(app, &room.id, &visitor).await
}

/// A queued chat's position now (`None`: not queued, or the desk did not answer).
async fn position(app: &App, room_id: &str) -> Option<usize> {
    match app.support.snapshot().await {
        Ok(desk) => desk.position(room_id),
        Err(e) => {
            tracing::warn!(error = %e, "no queue position: the desk did not answer");
            None
        }
    }
}

/// The ack of `support:start`: the conversation and where it stands.
async fn placement_answer(app: &App, room_id: &str, visitor: &str) -> Outcome {
    let conversation = conversation_for(app, room_id, visitor).await?;
    let mut out = Map::new();
    let agent = conversation
        .support
        .as_ref()
        .and_then(|s| s.agent_id.clone());
    match (&agent, position(app, room_id).await) {
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
