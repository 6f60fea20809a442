//! Offline notifications (§7). Filled in by the notifications work.

use crate::state::App;
use chat_core::model::Message;
use chat_store::ConversationRecord;

pub async fn offline_participants(_app: &App, _room: &ConversationRecord, _message: &Message) {}
