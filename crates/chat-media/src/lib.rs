//! Attachments for seitech-chat (protocol §8).
//!
//! An upload streams into a [`spool::Spool`] (a temp file, bytes counted and
//! hashed as they arrive, refused past the size cap), then
//! [`blobs::Blobs::prepare`] decides its type from the content ([`sniff`]) and
//! makes a thumbnail for images ([`thumb`]); the caller records the metadata
//! in the store (`chat_store::AttachmentStore`, shared by every node), then
//! [`blobs::Blobs::keep`] moves the bytes to the content-addressed directory
//! `MEDIA_DIR/attachments/<sha256[..2]>/<sha256>` (the same bytes are kept
//! once), which every node mounts. Downloads are authorised by a
//! participant's token or a short-lived signed URL ([`signing`]). Uploads
//! nobody attached are removed by [`blobs::Blobs::sweep`]. An old per-node
//! `media.db` is imported into the store once ([`legacy`]).

pub mod blobs;
pub mod legacy;
pub mod name;
pub mod signing;
pub mod sniff;
pub mod spool;
pub mod thumb;

pub use blobs::{Blobs, Prepared};
pub use chat_store::AttachmentRecord as Record;
pub use signing::UrlSigner;
pub use sniff::Kind;
pub use spool::{Spool, Spooled};
pub use thumb::DecodeLimits;

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("{0}")]
    Unsupported(String),
    #[error("the image is larger than {max_pixels} pixels")]
    ImageTooLarge { max_pixels: u64 },
    #[error("the upload quota is used up: {0}")]
    Quota(String),
    #[error("the disk is too full for uploads")]
    DiskReserve,
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata store: {0}")]
    Store(#[from] chat_store::StoreError),
    #[error("old media.db: {0}")]
    Legacy(#[from] rusqlite::Error),
}

pub type MediaResult<T> = Result<T, MediaError>;

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
