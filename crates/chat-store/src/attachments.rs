//! Attachment metadata (protocol §8): what was uploaded, by whom, whether a
//! message uses it, and the rooms it was sent in, which is what lets a room's
//! participants download it. The bytes are not here: they are files named by
//! their SHA-256 in a directory every node mounts (`chat_media::Blobs`), and
//! a record names its bytes by that hash.

use crate::StoreResult;
use async_trait::async_trait;
use chat_core::clock::Millis;

/// One upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRecord {
    pub id: String,
    /// The blob holding the bytes (hex SHA-256): the same bytes uploaded
    /// twice are two records and one blob.
    pub sha256: String,
    pub name: String,
    pub mime: String,
    pub size: u64,
    pub uploader: String,
    pub created_at: Millis,
    /// When a message first used it; `None`: unattached, swept when old.
    pub attached_at: Option<Millis>,
    pub has_thumbnail: bool,
}

/// What one sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweptAttachments {
    /// How many records were removed.
    pub removed: usize,
    /// The blobs of removed records that no record referred to when the sweep
    /// committed. An upload of the same bytes may take one up again at any
    /// moment, so their files are removed only after
    /// [`AttachmentStore::blob_in_use`] says no (`chat_media::Blobs::sweep`).
    pub orphaned_blobs: Vec<String>,
}

#[async_trait]
pub trait AttachmentStore: Send + Sync {
    /// Records a new, unattached upload. Its blob is written after this
    /// commits, so a concurrent sweep of the same bytes sees the record.
    async fn add_attachment(&self, record: AttachmentRecord) -> StoreResult<()>;
    async fn attachment(&self, id: &str) -> StoreResult<Option<AttachmentRecord>>;
    /// The records of `ids` for a message by `uploader`: each must exist and
    /// be that user's upload, or nothing changes and the answer is
    /// [`StoreError::NotFound`](crate::StoreError::NotFound) (saying nothing
    /// about other users' uploads). Marks them attached at `at` (the first
    /// claim's time stays), so the sweeper leaves them alone from then on.
    async fn claim_attachments(
        &self,
        ids: &[String],
        uploader: &str,
        at: Millis,
    ) -> StoreResult<Vec<AttachmentRecord>>;
    /// Records that the attachments were sent in `conversation_id` (again: no-op).
    async fn link_attachments(&self, ids: &[String], conversation_id: &str) -> StoreResult<()>;
    /// The conversations an attachment was sent in.
    async fn attachment_rooms(&self, id: &str) -> StoreResult<Vec<String>>;
    /// How many uploads `uploader` made since `since` that are still stored,
    /// and their bytes (upload quotas).
    async fn attachment_usage_since(
        &self,
        uploader: &str,
        since: Millis,
    ) -> StoreResult<(u64, u64)>;
    /// Removes at most `limit` uploads created before `cutoff` that no
    /// message uses (with their room links).
    async fn sweep_attachments(
        &self,
        cutoff: Millis,
        limit: usize,
    ) -> StoreResult<SweptAttachments>;
    /// Does any record refer to these bytes?
    async fn blob_in_use(&self, sha256: &str) -> StoreResult<bool>;
}
