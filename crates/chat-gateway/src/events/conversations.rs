//! Conversations: list, create, user search, and admin broadcasts.

use super::{
    ack_data, conversation_for, conversation_view, payload, store_error, user_room, Ctx, Outcome,
};
use crate::post::{post, Posted, Source};
use crate::state::App;
use chat_core::clock::{new_id, now_millis};
use chat_core::model::{ConversationType, MessageType};
use chat_core::policy::{may_create, may_start_direct, Party};
use chat_core::{validate, ChatError, Identity, Role};
use chat_store::{ConversationRecord, NewConversation, NewMessage};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

const MAX_PARTICIPANTS: usize = 500;
const MAX_SEARCH_RESULTS: usize = 20;

#[derive(Deserialize, Default)]
struct List {
    #[serde(rename = "type")]
    kind: Option<String>,
    search: Option<String>,
}

pub async fn list(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let req: List = if data.is_null() {
        List::default()
    } else {
        payload::parse(data)?
    };
    let kind = match req.kind.as_deref() {
        None | Some("") | Some("all") => None,
        Some(k) => Some(
            k.parse::<ConversationType>()
                .map_err(|_| ChatError::invalid("unknown conversation type"))?,
        ),
    };
    let search = req
        .search
        .map(|s| validate::clean_text(&s).to_lowercase())
        .unwrap_or_default();
    if search.chars().count() > 100 {
        return Err(ChatError::invalid("search is longer than 100 characters"));
    }
    let summaries = app
        .store
        .conversations_of(&ctx.me.user_id, kind)
        .await
        .map_err(store_error)?;
    let online = super::online_in(app, summaries.iter().map(|s| &s.record)).await;
    let mut conversations: Vec<_> = summaries
        .into_iter()
        .map(|s| conversation_view(app, s, &online))
        .collect();
    if kind == Some(ConversationType::Support) {
        conversations.extend(super::support::console_extra(ctx, kind).await?);
    }
    if !search.is_empty() {
        conversations.retain(|c| {
            c.name
                .as_deref()
                .is_some_and(|n| n.to_lowercase().contains(&search))
                || c.participants
                    .iter()
                    .any(|p| p.id != ctx.me.user_id && p.name.to_lowercase().contains(&search))
        });
    }
    ack_data("conversations", &conversations)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Create {
    #[serde(rename = "type")]
    kind: String,
    participant_ids: Vec<String>,
    name: Option<String>,
}

pub async fn create(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let req: Create = payload::parse(data)?;
    let kind: ConversationType = req
        .kind
        .parse()
        .map_err(|_| ChatError::invalid("type must be direct, group or channel"))?;
    if kind == ConversationType::Support {
        return Err(ChatError::invalid("support chats start with support:start"));
    }
    if req.participant_ids.len() > MAX_PARTICIPANTS {
        return Err(ChatError::too_large(format!(
            "at most {MAX_PARTICIPANTS} participants"
        )));
    }
    let mut ids: Vec<String> = Vec::with_capacity(req.participant_ids.len());
    for id in &req.participant_ids {
        let id = payload::id("participantIds", id, &app.limits)?;
        if id != ctx.me.user_id && !ids.contains(&id) {
            ids.push(id);
        }
    }
    let name = match &req.name {
        Some(n) if !n.trim().is_empty() => Some(validate::name("name", n, &app.limits)?),
        _ => None,
    };
    // The caller too: its own courses may still be on their way from the
    // lookup its connect started (routing needs both sides).
    let mut everyone = ids.clone();
    everyone.push(ctx.me.user_id.clone());
    crate::odoo::learn(app, &everyone).await;
    let mut others = Vec::with_capacity(ids.len());
    for id in &ids {
        others.push(
            app.people
                .party(id)
                .ok_or_else(|| ChatError::not_found(format!("no such user: {id}")))?,
        );
    }
    let me = Party {
        id: &ctx.me.user_id,
        role: ctx.me.role,
    };
    may_create(me, kind, &others, &app.people)?;
    let mut participants = vec![ctx.me.user_id.clone()];
    participants.extend(ids.iter().cloned());
    let record = open_conversation(ctx, kind, name, participants).await?;
    let view = conversation_for(app, &record.id, &ctx.me.user_id).await?;
    ack_data("conversation", &view)
}

/// Creates a conversation of the caller with `participants` (the caller
/// first), as `conversation:create` and a first message to a `recipientId`
/// both do once routing allowed it. A direct conversation the two already
/// have is not made again: the store answers that one. A new conversation
/// is cached, every participant's sockets join it, and each is sent
/// `conversation:new`.
pub(crate) async fn open_conversation(
    ctx: &Ctx,
    kind: ConversationType,
    name: Option<String>,
    participants: Vec<String>,
) -> Result<Arc<ConversationRecord>, ChatError> {
    let app = &ctx.app;
    let (record, created) = app
        .store
        .create_conversation(NewConversation {
            id: new_id(),
            kind,
            name,
            created_by: ctx.me.user_id.clone(),
            participants,
            support: None,
            at: now_millis(),
        })
        .await
        .map_err(store_error)?;
    let record = app.rooms.put(record).await;
    if created {
        for p in &record.participants {
            crate::deliver::join_user(app, p, &record.id).await;
            if let Ok(view) = conversation_for(app, &record.id, p).await {
                crate::deliver::to(app, user_room(p)).emit("conversation:new", &view);
            }
        }
    }
    Ok(record)
}

#[derive(Deserialize)]
struct Search {
    query: String,
    role: Option<String>,
}

pub async fn search_users(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let req: Search = payload::parse(data)?;
    let query = validate::clean_text(&req.query);
    if query.chars().count() > 100 {
        return Err(ChatError::invalid("query is longer than 100 characters"));
    }
    let role = match req.role.as_deref() {
        None | Some("") => None,
        Some(r) => Some(
            r.parse::<Role>()
                .map_err(|_| ChatError::invalid("unknown role"))?,
        ),
    };
    if let Some(odoo) = &app.odoo {
        // Odoo applies the routing policy to its whole directory.
        let asked = odoo.client.directory_search(
            &ctx.me.user_id,
            &query,
            role.map(|r| r.as_str()),
            MAX_SEARCH_RESULTS,
        );
        if let Ok(Ok(found)) = tokio::time::timeout(std::time::Duration::from_secs(3), asked).await
        {
            let ids: Vec<String> = found.iter().map(|u| u.id.clone()).collect();
            let online = app.presence.online_among(&ids).await;
            let users: Vec<Value> = found
                .into_iter()
                .map(|u| json!({ "id": u.id, "name": u.name, "role": u.role, "online": online.contains(&u.id) }))
                .collect();
            return ack_data("users", &users);
        }
    }
    let me = Party {
        id: &ctx.me.user_id,
        role: ctx.me.role,
    };
    let found: Vec<_> = app
        .people
        .search(&query, role)
        .into_iter()
        .filter(|u| {
            may_start_direct(
                me,
                Party {
                    id: &u.id,
                    role: u.role,
                },
                &app.people,
            )
        })
        .take(MAX_SEARCH_RESULTS)
        .collect();
    let ids: Vec<String> = found.iter().map(|u| u.id.clone()).collect();
    let online = app.presence.online_among(&ids).await;
    let users: Vec<Value> = found
        .into_iter()
        .map(|u| json!({ "id": u.id, "name": u.name, "role": u.role, "online": online.contains(&u.id) }))
        .collect();
    ack_data("users", &users)
}

/// The id of the broadcast channel of an audience (`None`: every signed-in user).
pub fn channel_id(audience: Option<Role>) -> String {
    chat_core::ConversationId::broadcast(audience).into_string()
}

/// Creates the broadcast channels if they do not exist yet (at start-up).
pub async fn ensure_channels(app: &App) -> anyhow::Result<()> {
    let audiences = std::iter::once(None).chain(
        [
            Role::Student,
            Role::Instructor,
            Role::Admin,
            Role::SupportAgent,
        ]
        .map(Some),
    );
    for audience in audiences {
        let id = channel_id(audience);
        if app.store.conversation(&id).await?.is_none() {
            let name = match audience {
                None => "Announcements".to_string(),
                Some(r) => format!("Announcements for {}", channel_audience(r)),
            };
            app.store
                .create_conversation(NewConversation {
                    id,
                    kind: ConversationType::Channel,
                    name: Some(name),
                    created_by: "system".into(),
                    participants: Vec::new(),
                    support: None,
                    at: now_millis(),
                })
                .await?;
        }
    }
    Ok(())
}

/// Records a signed-in user as a member of the channels of its audience, so
/// that its conversation list, unread counts and `sync` include them. (Access
/// itself goes by role: see `rooms::is_member`.)
pub async fn ensure_channel_membership(app: &App, who: &Identity) {
    for channel in [channel_id(None), channel_id(Some(who.role))] {
        if let Err(e) = app
            .store
            .add_participants(&channel, std::slice::from_ref(&who.user_id))
            .await
        {
            tracing::error!(error = %e, "could not add a user to a channel");
        }
    }
}

#[derive(Deserialize)]
struct Broadcast {
    content: String,
    audience: Option<String>,
}

pub async fn broadcast(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    let req: Broadcast = payload::parse(data)?;
    if ctx.me.role != Role::Admin {
        return Err(ChatError::forbidden("only admins broadcast"));
    }
    let audience = match req.audience.as_deref() {
        None | Some("") | Some("all") => None,
        Some(r) => match r.parse::<Role>() {
            Ok(Role::Public) => {
                return Err(ChatError::invalid("guests cannot be a broadcast audience"))
            }
            Ok(role) => Some(role),
            Err(_) => return Err(ChatError::invalid("unknown audience")),
        },
    };
    let content = validate::message_body(&req.content, &[], &app.limits)?;
    if !app.message_limiter.check(&ctx.me.user_id, 1).await {
        return Err(ChatError::rate_limited());
    }
    let channel = channel_id(audience);
    let room = app
        .rooms
        .get(app.store.as_ref(), &channel)
        .await
        .map_err(store_error)?
        .ok_or_else(|| ChatError::unavailable("broadcast channel missing"))?;
    let new = NewMessage::plain(
        MessageType::Text,
        &channel,
        &ctx.me.user_id,
        &ctx.me.name,
        content,
    );
    // A fresh id and no client id: the store cannot take it for a resend.
    match post(app, &room, new, Source::Gateway)
        .await
        .map_err(store_error)?
    {
        Posted::New(message, _) => ack_data("message", &message),
        Posted::Repeat(_) => Err(ChatError::conflict("duplicate broadcast")),
    }
}

/// A channel's audience in words ("support agents"), for its human name.
fn channel_audience(role: Role) -> &'static str {
    match role {
        Role::Student => "students",
        Role::Instructor => "instructors",
        Role::Admin => "admins",
        Role::SupportAgent => "support agents",
        Role::Public => "visitors",
    }
}
