//! The chat domain, free of I/O so that every rule can be unit-tested on its own.
//!
//! * [`error`]: the error codes of the wire contract (§2).
//! * [`role`] and [`identity`]: who is talking.
//! * [`model`]: the objects that travel on the wire (messages, conversations…).
//! * [`validate`]: turning untrusted payload text into content we store.
//! * [`policy`]: who may start a conversation with whom, and who may enter which room (§5).
//! * [`rights`]: who may write, edit, delete, end and rate once a conversation exists.
//! * [`directory`]: the users, courses and support agents the policy consults.
//! * [`support`]: departments and the least-loaded agent choice (§6).
//! * [`clock`]: timestamps and time-ordered message ids.

pub mod clock;
pub mod directory;
pub mod error;
pub mod identity;
pub mod ids;
pub mod model;
pub mod policy;
pub mod rights;
pub mod role;
pub mod support;
pub mod validate;

pub use error::{ChatError, ErrorCode};
pub use identity::Identity;
pub use ids::{ConversationId, ConversationIdKind, UserId};
pub use role::Role;
