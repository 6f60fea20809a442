//! Agents at the desk: `agent:status` (available or not, away message,
//! how many chats at once), what an agent's or admin's socket connecting or
//! closing means to the desk, and the console's extra rows in
//! `conversations:list`.

use super::desk_error;
use crate::events::{conversation_for, payload, store_error, user_room, Ctx, Outcome};
use crate::state::App;
use crate::support::{announce_availability, apply, availability, schedule_grace};
use chat_core::model::{Conversation, ConversationType};
use chat_core::{validate, ChatError, Identity, Role};
use chat_store::SupportStatus;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Status {
    available: Value,
    away_message: Option<Value>,
    max_concurrent_chats: Option<Value>,
}

pub async fn agent_status(ctx: &Ctx, data: Value) -> Outcome {
    let app = &ctx.app;
    if ctx.me.is_guest() {
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
        crate::events::console::admin_serves(app, &ctx.me.user_id)
            .await
            .map_err(desk_error)?;
    }
    app.support
        .register_agent(&ctx.me.user_id, app.people.agent_config(&ctx.me.user_id))
        .await
        .map_err(desk_error)?;
    let status = crate::support::Status {
        available,
        away_message: away,
        max_chats: max,
    };
    let changes = app
        .support
        .set_status(&ctx.me.user_id, status)
        .await
        .map_err(desk_error)?;
    apply(app, changes).await;
    announce_availability(app).await;
    Ok(Map::new())
}

pub async fn on_agent_connect(app: &App, me: &Identity) {
    let counted = match me.role {
        Role::SupportAgent => {
            let registered = app
                .support
                .register_agent(&me.user_id, app.people.agent_config(&me.user_id))
                .await;
            match registered {
                Ok(()) => app.support.agent_connected(&me.user_id).await,
                Err(e) => Err(e),
            }
        }
        // Any admin: the desk counts the socket only if the admin serves
        // (it knows it), and counting every admin's sockets keeps the
        // disconnects in step whatever the desk answered in between.
        Role::Admin => app.support.agent_connected(&me.user_id).await,
        Role::Public => {
            if let Some(availability) = availability(app).await {
                crate::deliver::to(app, user_room(&me.user_id))
                    .emit("agent:availability", &availability);
            }
            return;
        }
        _ => return,
    };
    match counted {
        Ok(changes) => apply(app, changes).await,
        Err(e) => {
            tracing::error!(error = %e, agent = %me.user_id, "the desk did not count an agent's socket")
        }
    }
    if me.role == Role::SupportAgent || crate::events::console::serving_admin(app, me).await {
        announce_availability(app).await;
    }
}

/// Every closed agent socket; the last one starts the grace period (during
/// which the agent keeps its chats but takes no new one, so visitors see one
/// agent fewer).
pub async fn on_agent_disconnect(app: &App, me: &Identity) {
    // Any admin, not only one known to serve: a desk that does not know it
    // counts nothing, and a closed socket must never stay counted because
    // the desk could not be asked whether the admin serves.
    if !matches!(me.role, Role::SupportAgent | Role::Admin) {
        return;
    }
    match app.support.agent_disconnected(&me.user_id).await {
        Ok(Some(generation)) => {
            schedule_grace(app, me.user_id.clone(), generation);
            announce_availability(app).await;
        }
        Ok(None) => {}
        // A shared desk's sweep drops this node's sockets if it stays
        // unreachable; its upkeep puts back those still open when it answers.
        Err(e) => {
            tracing::error!(error = %e, agent = %me.user_id, "the desk did not count an agent's closed socket")
        }
    }
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
            .snapshot()
            .await
            .map_err(desk_error)?
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
