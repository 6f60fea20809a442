//! Attachments (§8). Filled in by the attachments work.

use crate::state::App;
use chat_core::model::Attachment;
use chat_core::ChatError;

/// The attachment objects for ids a user attaches to a message.
pub async fn resolve(
    _app: &App,
    _user: &str,
    ids: &[String],
) -> Result<Vec<Attachment>, ChatError> {
    if ids.is_empty() {
        Ok(Vec::new())
    } else {
        Err(ChatError::not_found("unknown attachment"))
    }
}
