//! The routing policy (§5): who may start a conversation with whom, and who may
//! enter, read and write which room. Pure functions over the facts they need,
//! so the whole table is unit-tested here and the gateway only asks.

use crate::error::{ChatError, ChatResult};
use crate::model::ConversationType;
use crate::{ConversationId, Role};

/// A party as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Party<'a> {
    pub id: &'a str,
    pub role: Role,
}

/// The facts about people the policy needs, supplied by the directory and store.
pub trait Relations {
    /// `instructor` teaches a course `student` is enrolled in.
    fn teaches(&self, instructor: &str, student: &str) -> bool;
    /// `agent` is (or was) the assigned agent of a support chat with `user`.
    fn assigned_to(&self, agent: &str, user: &str) -> bool;
}

/// May `caller` start a direct conversation with `target`?
pub fn may_start_direct(caller: Party, target: Party, rel: &dyn Relations) -> bool {
    if caller.id == target.id {
        return false;
    }
    match caller.role {
        Role::Admin => true,
        Role::Public => false,
        Role::Student => match target.role {
            Role::SupportAgent => true,
            Role::Instructor => rel.teaches(target.id, caller.id),
            _ => false,
        },
        Role::Instructor => matches!(target.role, Role::Admin | Role::SupportAgent),
        Role::SupportAgent => target.role == Role::Admin || rel.assigned_to(caller.id, target.id),
    }
}

/// May `caller` create a conversation of `kind` with `others` (caller excluded)?
pub fn may_create(
    caller: Party,
    kind: ConversationType,
    others: &[Party],
    rel: &dyn Relations,
) -> ChatResult<()> {
    if others.is_empty() {
        return Err(ChatError::invalid("participantIds must name someone else"));
    }
    if kind == ConversationType::Direct && others.len() != 1 {
        return Err(ChatError::invalid(
            "a direct conversation has exactly one other participant",
        ));
    }
    let allowed = match kind {
        ConversationType::Support => false, // only through support:start
        ConversationType::Channel => caller.role == Role::Admin,
        ConversationType::Direct => others.len() == 1 && may_start_direct(caller, others[0], rel),
        ConversationType::Group => match caller.role {
            Role::Admin => true,
            Role::Public => false,
            // An instructor may gather the students it teaches (and anyone it may
            // start a direct conversation with) in a group.
            Role::Instructor => others.iter().all(|p| {
                (p.role == Role::Student && rel.teaches(caller.id, p.id))
                    || may_start_direct(caller, *p, rel)
            }),
            _ => others.iter().all(|p| may_start_direct(caller, *p, rel)),
        },
    };
    if allowed {
        Ok(())
    } else {
        Err(ChatError::forbidden(
            "routing policy does not allow this conversation",
        ))
    }
}

/// What a user may do with an existing room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomAccess {
    /// A participant: read and write.
    Member,
    /// Not a participant but may enter (an admin; an agent assigned to a support
    /// room); entering makes it a participant.
    MayEnter,
    None,
}

/// The access `user` has to a room whose facts are given.
pub fn room_access(
    user: Party,
    is_participant: bool,
    kind: ConversationType,
    assigned_agent: Option<&str>,
) -> RoomAccess {
    if is_participant {
        RoomAccess::Member
    } else if user.role == Role::Admin
        || (kind == ConversationType::Support && assigned_agent == Some(user.id))
    {
        RoomAccess::MayEnter
    } else {
        RoomAccess::None
    }
}

/// Who may write into a broadcast channel: admins only; members only read.
pub fn may_post(user: Party, kind: ConversationType) -> bool {
    kind != ConversationType::Channel || user.role == Role::Admin
}

/// Channels are read-only for non-admins: besides posting, they may not
/// type, react, or announce themselves (joined, left, read receipts) to the
/// whole audience. They still read, and mark read for their own unread count.
pub fn may_act(user: Party, kind: ConversationType) -> bool {
    may_post(user, kind)
}

/// The broadcast channel of an audience (`None`: every signed-in user).
pub fn broadcast_channel_id(audience: Option<Role>) -> String {
    ConversationId::broadcast(audience).into_string()
}

/// Is `user` a member of a channel? A broadcast channel's members are its
/// audience as the user's role is *now* (a demoted admin is no longer in
/// `broadcast-admin`, whatever the stored participant list says); any other
/// channel's are its participants.
pub fn channel_member(channel_id: &str, role: Role, is_guest: bool, is_participant: bool) -> bool {
    if ConversationId::is_broadcast_id(channel_id) {
        !is_guest
            && (channel_id == broadcast_channel_id(None)
                || channel_id == broadcast_channel_id(Some(role)))
    } else {
        is_participant
    }
}

/// People the policy and rights tests talk about.
#[cfg(test)]
pub(crate) mod test_parties {
    use super::Party;
    use crate::Role;

    pub(crate) const ADA: Party = Party {
        id: "ada",
        role: Role::Student,
    };

    pub(crate) const BOB: Party = Party {
        id: "bob",
        role: Role::Student,
    };

    pub(crate) const IAN: Party = Party {
        id: "ian",
        role: Role::Instructor,
    };

    pub(crate) const SAM: Party = Party {
        id: "sam",
        role: Role::SupportAgent,
    };

    pub(crate) const ROOT: Party = Party {
        id: "root",
        role: Role::Admin,
    };

    pub(crate) const GUEST: Party = Party {
        id: "guest_1",
        role: Role::Public,
    };

    pub(crate) const SUE: Party = Party {
        id: "sue",
        role: Role::SupportAgent,
    };
}

#[cfg(test)]
mod tests {
    use super::test_parties::*;
    use super::*;

    #[test]
    fn broadcast_channels_follow_the_role_of_now_other_channels_their_list() {
        let admin_channel = broadcast_channel_id(Some(Role::Admin));
        assert!(channel_member(&admin_channel, Role::Admin, false, false));
        assert!(
            !channel_member(&admin_channel, Role::Student, false, true),
            "a demoted admin still listed as a participant is out"
        );
        assert!(channel_member("broadcast-all", Role::Student, false, false));
        assert!(!channel_member("broadcast-all", Role::Public, true, false));
        assert!(channel_member("staff-room", Role::Student, false, true));
        assert!(!channel_member("staff-room", Role::Admin, false, false));
    }

    #[test]
    fn channels_are_read_only_for_non_admins() {
        let student = Party {
            id: "s",
            role: Role::Student,
        };
        let admin = Party {
            id: "a",
            role: Role::Admin,
        };
        assert!(!may_act(student, ConversationType::Channel));
        assert!(may_act(admin, ConversationType::Channel));
        assert!(may_act(student, ConversationType::Group));
    }
    use std::collections::HashSet;

    struct Facts {
        teaches: HashSet<(&'static str, &'static str)>,
        assigned: HashSet<(&'static str, &'static str)>,
    }
    impl Relations for Facts {
        fn teaches(&self, i: &str, s: &str) -> bool {
            self.teaches.iter().any(|(a, b)| *a == i && *b == s)
        }
        fn assigned_to(&self, agent: &str, user: &str) -> bool {
            self.assigned.iter().any(|(a, b)| *a == agent && *b == user)
        }
    }

    fn facts() -> Facts {
        Facts {
            teaches: [("ian", "ada")].into(),
            assigned: [("sam", "guest_1")].into(),
        }
    }

    fn p(id: &'static str, role: Role) -> Party<'static> {
        Party { id, role }
    }

    // The table of who may start a direct conversation with whom is shared with
    // the frontend and the addon: tests/routing_table.rs reads
    // tests/fixtures/routing-cases.json.

    #[test]
    fn groups_follow_the_policy_and_instructors_gather_their_students() {
        let f = facts();
        assert!(may_create(IAN, ConversationType::Group, &[ADA], &f).is_ok());
        assert!(may_create(IAN, ConversationType::Group, &[ADA, BOB], &f).is_err());
        assert!(may_create(ADA, ConversationType::Group, &[IAN, SAM], &f).is_ok());
        assert!(may_create(ADA, ConversationType::Group, &[IAN, BOB], &f).is_err());
        assert!(may_create(ROOT, ConversationType::Group, &[ADA, BOB, GUEST], &f).is_ok());
        assert!(may_create(GUEST, ConversationType::Group, &[SAM], &f).is_err());
        assert!(may_create(ROOT, ConversationType::Channel, &[ADA], &f).is_ok());
        assert!(may_create(IAN, ConversationType::Channel, &[ADA], &f).is_err());
        assert!(may_create(ROOT, ConversationType::Support, &[ADA], &f).is_err());
        let err = may_create(ADA, ConversationType::Direct, &[IAN, SAM], &f).unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::Invalid);
        let err = may_create(ADA, ConversationType::Direct, &[], &f).unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::Invalid);
        let err = may_create(ADA, ConversationType::Direct, &[BOB], &f).unwrap_err();
        assert_eq!(err.code, crate::ErrorCode::Forbidden);
    }

    #[test]
    fn rooms_admit_members_admins_and_the_assigned_agent() {
        use ConversationType::*;
        assert_eq!(room_access(ADA, true, Direct, None), RoomAccess::Member);
        assert_eq!(room_access(BOB, false, Direct, None), RoomAccess::None);
        assert_eq!(room_access(ROOT, false, Group, None), RoomAccess::MayEnter);
        assert_eq!(
            room_access(SAM, false, Support, Some("sam")),
            RoomAccess::MayEnter
        );
        assert_eq!(
            room_access(SAM, false, Support, Some("other")),
            RoomAccess::None
        );
        assert_eq!(
            room_access(SAM, false, Group, Some("sam")),
            RoomAccess::None
        );
        assert_eq!(
            room_access(p("x", Role::Public), false, Support, None),
            RoomAccess::None
        );
    }

    #[test]
    fn only_admins_post_to_channels() {
        assert!(may_post(ROOT, ConversationType::Channel));
        assert!(!may_post(ADA, ConversationType::Channel));
        assert!(may_post(ADA, ConversationType::Group));
    }
}
