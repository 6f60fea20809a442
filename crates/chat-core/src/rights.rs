//! Who may change what once a conversation exists: write into a room, edit or
//! delete a message, end or rate a support chat. Pure functions over the facts
//! they need, so every edge is unit-tested here and the handlers only ask.
//! (Who may start a conversation and enter a room is [`crate::policy`].)

use crate::error::{ChatError, ChatResult};
use crate::model::ConversationType;
use crate::policy::{may_post, Party};
use crate::Role;

/// What the rules need to know of a support chat.
#[derive(Debug, Clone, Copy)]
pub struct SupportFacts<'a> {
    pub visitor: &'a str,
    pub agent: Option<&'a str>,
    pub ended: bool,
    pub rated: bool,
}

/// May `actor` write (a message, an edit) into a room of `kind`? Broadcast
/// channels are read-only for everyone but admins, and nobody writes into a
/// support chat that has ended (`support_ended`).
pub fn may_write(actor: Party, kind: ConversationType, support_ended: bool) -> ChatResult<()> {
    if !may_post(actor, kind) {
        return Err(ChatError::forbidden(
            "only admins post to broadcast channels",
        ));
    }
    if support_ended {
        return Err(ChatError::conflict("this support chat has ended"));
    }
    Ok(())
}

/// Only its author edits a message; not even an admin rewrites someone's words.
pub fn may_edit_message(actor: &str, author: &str) -> ChatResult<()> {
    if actor == author {
        Ok(())
    } else {
        Err(ChatError::forbidden("only the author may edit a message"))
    }
}

/// Its author or an admin (moderation) deletes a message.
pub fn may_delete_message(actor: Party, author: &str) -> ChatResult<()> {
    if actor.id == author || actor.role == Role::Admin {
        Ok(())
    } else {
        Err(ChatError::forbidden(
            "only the author or an admin may delete a message",
        ))
    }
}

/// The visitor, its assigned agent or an admin ends a support chat, once.
pub fn may_end_support(actor: Party, chat: &SupportFacts) -> ChatResult<()> {
    let is_staff = actor.role == Role::Admin || chat.agent == Some(actor.id);
    if actor.id != chat.visitor && !is_staff {
        return Err(ChatError::forbidden(
            "only the visitor, its agent or an admin may end this chat",
        ));
    }
    if chat.ended {
        return Err(ChatError::conflict("this chat has already ended"));
    }
    Ok(())
}

/// The visitor alone rates a support chat, after it ended, once.
pub fn may_rate_support(actor: &str, chat: &SupportFacts) -> ChatResult<()> {
    if actor != chat.visitor {
        return Err(ChatError::forbidden("only the visitor rates a chat"));
    }
    if !chat.ended {
        return Err(ChatError::conflict("a chat is rated after it ends"));
    }
    if chat.rated {
        return Err(ChatError::conflict("this chat is already rated"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::test_parties::*;
    use crate::ErrorCode;

    fn code<T>(r: ChatResult<T>) -> Option<ErrorCode> {
        r.err().map(|e| e.code)
    }

    fn chat(ended: bool, rated: bool) -> SupportFacts<'static> {
        SupportFacts {
            visitor: "guest_1",
            agent: Some("sam"),
            ended,
            rated,
        }
    }

    #[test]
    fn channels_are_read_only_but_for_admins_and_ended_chats_for_everyone() {
        use ConversationType::*;
        assert!(may_write(ADA, Group, false).is_ok());
        assert!(may_write(ADA, Direct, false).is_ok());
        assert_eq!(
            code(may_write(ADA, Channel, false)),
            Some(ErrorCode::Forbidden)
        );
        assert!(may_write(ROOT, Channel, false).is_ok());
        assert!(may_write(GUEST, Support, false).is_ok());
        assert_eq!(
            code(may_write(GUEST, Support, true)),
            Some(ErrorCode::Conflict)
        );
        assert_eq!(
            code(may_write(ROOT, Support, true)),
            Some(ErrorCode::Conflict)
        );
    }

    #[test]
    fn only_the_author_edits_and_the_author_or_an_admin_deletes() {
        assert!(may_edit_message("ada", "ada").is_ok());
        assert_eq!(
            code(may_edit_message("root", "ada")),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(
            code(may_edit_message("sam", "ada")),
            Some(ErrorCode::Forbidden)
        );
        assert!(may_delete_message(ADA, "ada").is_ok());
        assert!(may_delete_message(ROOT, "ada").is_ok());
        assert_eq!(
            code(may_delete_message(SAM, "ada")),
            Some(ErrorCode::Forbidden)
        );
    }

    #[test]
    fn the_visitor_its_agent_or_an_admin_ends_a_support_chat_once() {
        let open = chat(false, false);
        assert!(may_end_support(GUEST, &open).is_ok());
        assert!(may_end_support(SAM, &open).is_ok());
        assert!(may_end_support(ROOT, &open).is_ok());
        assert_eq!(
            code(may_end_support(SUE, &open)),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(
            code(may_end_support(ADA, &open)),
            Some(ErrorCode::Forbidden)
        );
        let queued = SupportFacts {
            agent: None,
            ..open
        };
        assert_eq!(
            code(may_end_support(SAM, &queued)),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(
            code(may_end_support(GUEST, &chat(true, false))),
            Some(ErrorCode::Conflict)
        );
    }

    #[test]
    fn the_visitor_alone_rates_once_after_the_end() {
        assert!(may_rate_support("guest_1", &chat(true, false)).is_ok());
        assert_eq!(
            code(may_rate_support("sam", &chat(true, false))),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(
            code(may_rate_support("guest_1", &chat(false, false))),
            Some(ErrorCode::Conflict)
        );
        assert_eq!(
            code(may_rate_support("guest_1", &chat(true, true))),
            Some(ErrorCode::Conflict)
        );
    }
}
