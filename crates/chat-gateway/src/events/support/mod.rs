//! Support desk events (§6): the visitor's pre-chat form ([`start`]),
//! agents' status and their sockets coming and going ([`agents`]), and here
//! the end of a chat, its rating and its transcript.
//! The decisions are [`crate::desk::SupportDesk`]'s, carried out by
//! crate::support (which persists them and tells the people concerned);
//! these handlers check who may ask and what they sent, and answer.

mod agents;
mod start;

pub use agents::{agent_status, console_extra, on_agent_connect, on_agent_disconnect};
pub use start::start;

use super::{payload, store_error, Ctx, Outcome};
use crate::mail::{transcript as render_transcript, Email};
use crate::metrics as m;
use crate::support::{end_chat, DeskError};
use chat_core::clock::now_millis;
use chat_core::{validate, ChatError, Role};
use chat_store::{ConversationRecord, SupportRecord, SupportStatus, SupportUpdate};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::sync::Arc;

const TRANSCRIPTS_PER_HOUR: u32 = 3;

/// The desk did not answer (its Redis is down): nothing was decided.
pub(crate) fn desk_error(e: DeskError) -> ChatError {
    tracing::error!(error = %e, "the support desk failed");
    ChatError::unavailable("the support desk is not available right now; try again shortly")
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
    app.rooms.put(record).await;
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
    if !app.abuse.transcript(ctx.ip, &ctx.me.user_id).await {
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
    if ctx.me.is_guest() {
        return None;
    }
    ctx.me
        .email
        .clone()
        .or_else(|| ctx.app.people.get(&ctx.me.user_id).and_then(|u| u.email))
}
