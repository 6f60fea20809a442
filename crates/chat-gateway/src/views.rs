//! Conversations as one user sees them on the wire: participants with their
//! names, roles and presence, the last message with its attachment URLs
//! signed afresh. The socket handlers (`events/`) answer with these views
//! and the support desk's operations (`support/`) send them to the people a
//! change concerns, so the views live below both.

use crate::state::App;
use chat_core::model::{Conversation, Participant};
use chat_store::{ConversationRecord, ConversationSummary, StoreError};
use std::collections::HashSet;

/// Who of these conversations' participants is online, in one look-up (with
/// several nodes presence is in Redis: one round trip, not one per person).
pub async fn online_in<'a>(
    app: &App,
    records: impl IntoIterator<Item = &'a ConversationRecord>,
) -> HashSet<String> {
    let people: Vec<String> = records
        .into_iter()
        .filter(|r| r.kind != chat_core::model::ConversationType::Channel)
        .flat_map(|r| r.participants.iter().cloned())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    app.presence.online_among(&people).await
}

/// A conversation as one user sees it on the wire. `online`: see [`online_in`].
pub fn conversation_view(
    app: &App,
    summary: ConversationSummary,
    online: &HashSet<String>,
) -> Conversation {
    let ConversationSummary {
        record,
        unread_count,
        mut last_message,
    } = summary;
    // A stored message's attachment URLs were signed when it was sent: sign
    // them again, as history and sync do, so a list read later still works.
    if let Some(m) = last_message.as_mut() {
        crate::attachments::refresh_urls(app, std::slice::from_mut(m));
    }
    let participants = participants_view(app, &record, online);
    let support = record.support.as_ref().map(Into::into);
    Conversation {
        id: record.id,
        kind: record.kind,
        name: record.name,
        participants,
        unread_count,
        last_message,
        status: record
            .support
            .as_ref()
            .map(|s| s.status.as_str().to_owned()),
        support,
        created_at: record.created_at,
        last_activity_at: record.last_activity_at,
    }
}

pub fn participants_view(
    app: &App,
    record: &ConversationRecord,
    online: &HashSet<String>,
) -> Vec<Participant> {
    if record.kind == chat_core::model::ConversationType::Channel {
        // A broadcast channel's audience is a role, not a list worth sending.
        return Vec::new();
    }
    record
        .participants
        .iter()
        .map(|id| {
            let user = app.people.get(id);
            Participant {
                id: id.clone(),
                name: user
                    .as_ref()
                    .map(|u| u.name.clone())
                    .unwrap_or_else(|| id.clone()),
                role: user.map(|u| u.role).unwrap_or(chat_core::Role::Public),
                online: online.contains(id),
            }
        })
        .collect()
}

/// The conversation as `user` sees it, straight from the store (`None`: no
/// such conversation).
pub async fn conversation_of(
    app: &App,
    id: &str,
    user: &str,
) -> Result<Option<Conversation>, StoreError> {
    let Some(summary) = app.store.summary_for(id, user).await? else {
        return Ok(None);
    };
    let online = online_in(app, [&summary.record]).await;
    Ok(Some(conversation_view(app, summary, &online)))
}
