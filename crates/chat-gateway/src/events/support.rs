//! Support desk events (§6). Filled in by the support-desk work.

use super::{Ctx, Outcome};
use crate::state::App;
use chat_core::model::{Conversation, ConversationType};
use chat_core::{ChatError, Identity};
use serde_json::Value;

fn not_yet() -> Outcome {
    Err(ChatError::unavailable(
        "the support desk is not available yet",
    ))
}

pub async fn start(_ctx: &Ctx, _data: Value) -> Outcome {
    not_yet()
}
pub async fn end(_ctx: &Ctx, _data: Value) -> Outcome {
    not_yet()
}
pub async fn rate(_ctx: &Ctx, _data: Value) -> Outcome {
    not_yet()
}
pub async fn transcript(_ctx: &Ctx, _data: Value) -> Outcome {
    not_yet()
}
pub async fn agent_status(_ctx: &Ctx, _data: Value) -> Outcome {
    not_yet()
}
pub async fn on_agent_connect(_app: &App, _me: &Identity) {}
pub async fn on_agent_offline(_app: &App, _me: &Identity) {}
pub async fn console_extra(
    _ctx: &Ctx,
    _kind: Option<ConversationType>,
) -> Result<Vec<Conversation>, ChatError> {
    Ok(Vec::new())
}
