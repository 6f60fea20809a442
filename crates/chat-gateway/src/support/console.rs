//! The agent console's side of the desk: who can answer which department,
//! the queue as agents and admins see it, the supervisor's view of agents,
//! and the two actions an agent takes on the desk — taking a queued chat and
//! transferring an active one. Each action checks and changes the desk in one
//! critical section, like every other desk decision, so two agents taking
//! the same chat at once get it once.

use super::{Changes, SupportDesk};
use chat_core::clock::now_millis;
use chat_core::support::{choose_agent, department_for, serves, AgentLoad, QUERY_TYPES};
use std::collections::BTreeMap;

/// Why a console action was refused; the events layer turns it into a
/// `ChatError` with a message the agent can act on.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConsoleError {
    #[error("this chat is not waiting in the queue (someone took it, or it ended)")]
    NotQueued,
    #[error("this chat is not active with an agent")]
    NotActive,
    #[error("your department does not serve this chat's department")]
    NotServed,
    #[error("you are at your limit of open chats")]
    Full,
    #[error("no such support agent")]
    NoSuchAgent,
    #[error("only the chat's agent or an admin can transfer it")]
    NotYours,
    #[error("that agent has this chat already")]
    SameAgent,
    #[error("that agent cannot take a chat now (offline, unavailable or at the limit)")]
    TargetBusy,
    #[error("nobody in that department can take a chat now")]
    DepartmentBusy,
}

/// One agent as the supervisor view shows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AgentView {
    pub id: String,
    pub department: String,
    pub online: bool,
    pub available: bool,
    pub max_chats: u32,
    pub chats: Vec<String>,
}

/// One queued chat: its department and 1-based position in that department's queue.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct QueuedView {
    pub conversation_id: String,
    pub visitor_id: String,
    pub department: String,
    pub position: usize,
}

/// Where a transfer goes.
pub(crate) enum TransferTo<'a> {
    Agent(&'a str),
    Department(&'a str),
}

/// What a transfer decided: the chat's previous and new agent, and what the
/// freed slot took from the queue.
#[derive(Debug, PartialEq)]
pub(crate) struct Transferred {
    pub from: String,
    pub to: String,
    pub changes: Changes,
}

impl SupportDesk {
    /// Per department a visitor can pick (through its topic), how many
    /// online, available agents could answer it: its own agents and
    /// `general` ones. The widget shows the chosen topic's count, so it never
    /// says "2 agents online" to a visitor whose department has nobody.
    pub(crate) fn agents_available_by_department(&self) -> BTreeMap<String, usize> {
        let d = self.desk.lock();
        QUERY_TYPES
            .iter()
            .filter_map(|q| department_for(q))
            .map(|dept| {
                let n = d
                    .agents
                    .values()
                    .filter(|a| a.online && a.available && serves(&a.department, dept))
                    .count();
                (dept.to_owned(), n)
            })
            .collect()
    }

    /// An admin starts serving support (its first `agent:status`): it joins
    /// the desk as a `general` agent (so it serves every department), online
    /// with the sockets it has now. Nothing when it is on the desk already.
    pub(crate) fn admin_joins(&self, id: &str, sockets: usize) {
        let mut d = self.desk.lock();
        if d.agents.contains_key(id) {
            return;
        }
        d.agents.insert(
            id.to_owned(),
            super::Agent {
                department: chat_core::support::FALLBACK_DEPARTMENT.into(),
                max_chats: 5,
                available: false,
                away_message: None,
                sockets,
                online: sockets > 0,
                generation: 1,
                chats: Default::default(),
                last_activity: now_millis(),
            },
        );
    }

    /// Every agent the desk knows, by id.
    pub(crate) fn agent_views(&self) -> Vec<AgentView> {
        let d = self.desk.lock();
        let mut out: Vec<AgentView> = d
            .agents
            .iter()
            .map(|(id, a)| AgentView {
                id: id.clone(),
                department: a.department.clone(),
                online: a.online,
                available: a.available,
                max_chats: a.max_chats,
                chats: a.chats.iter().cloned().collect(),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    /// The queue in order: everything for `None` (admins), else what the
    /// agent's department serves.
    pub(crate) fn queue_view(&self, agent: Option<&str>) -> Vec<QueuedView> {
        let d = self.desk.lock();
        let dept = agent.map(|id| d.agents.get(id).map(|a| a.department.clone()));
        d.queue
            .iter()
            .filter(|q| match &dept {
                None => true,
                Some(Some(dep)) => serves(dep, &q.department),
                Some(None) => false,
            })
            .map(|q| QueuedView {
                conversation_id: q.conversation_id.clone(),
                visitor_id: q.visitor_id.clone(),
                department: q.department.clone(),
                position: d.position_of(&q.conversation_id).unwrap_or(0),
            })
            .collect()
    }

    /// The agent the desk counts an active chat on.
    #[cfg(test)]
    pub(crate) fn agent_of(&self, conversation_id: &str) -> Option<String> {
        let d = self.desk.lock();
        d.agents
            .iter()
            .find(|(_, a)| a.chats.contains(conversation_id))
            .map(|(id, _)| id.clone())
    }

    /// An agent takes a queued chat itself: it must serve the chat's
    /// department and be under its limit. Being set unavailable only stops
    /// automatic assignment; picking a chat by hand is the agent's choice.
    /// Returns the visitor and the queue positions that moved.
    pub(crate) fn take_queued(
        &self,
        conversation_id: &str,
        agent: &str,
    ) -> Result<(String, Changes), ConsoleError> {
        let mut d = self.desk.lock();
        let idx = d
            .queue
            .iter()
            .position(|q| q.conversation_id == conversation_id)
            .ok_or(ConsoleError::NotQueued)?;
        let a = d.agents.get(agent).ok_or(ConsoleError::NoSuchAgent)?;
        if !serves(&a.department, &d.queue[idx].department) {
            return Err(ConsoleError::NotServed);
        }
        if a.chats.len() as u32 >= a.max_chats {
            return Err(ConsoleError::Full);
        }
        let q = d.queue.remove(idx).ok_or(ConsoleError::NotQueued)?;
        d.take(agent, conversation_id, now_millis());
        d.open_by_visitor
            .insert(q.visitor_id.clone(), conversation_id.to_owned());
        let changes = Changes {
            positions: d.positions(),
            ..Changes::default()
        };
        Ok((q.visitor_id, changes))
    }

    /// Hands an active chat to another agent, named or the best one of a
    /// department (by the same rule as an assignment), who must be able to
    /// take a chat now. The previous agent's freed slot takes from the queue.
    /// `by`: the agent asking, who must be the chat's agent when the desk
    /// decides (`None`: an admin).
    pub(crate) fn transfer(
        &self,
        conversation_id: &str,
        to: TransferTo<'_>,
        by: Option<&str>,
    ) -> Result<Transferred, ConsoleError> {
        let mut d = self.desk.lock();
        let from = d
            .agents
            .iter()
            .find(|(_, a)| a.chats.contains(conversation_id))
            .map(|(id, _)| id.clone())
            .ok_or(ConsoleError::NotActive)?;
        if by.is_some_and(|b| b != from) {
            return Err(ConsoleError::NotYours);
        }
        let target = match to {
            TransferTo::Agent(id) => {
                let a = d.agents.get(id).ok_or(ConsoleError::NoSuchAgent)?;
                if id == from {
                    return Err(ConsoleError::SameAgent);
                }
                if !(a.online && a.available && (a.chats.len() as u32) < a.max_chats) {
                    return Err(ConsoleError::TargetBusy);
                }
                id.to_owned()
            }
            TransferTo::Department(dept) => {
                let loads: Vec<AgentLoad<'_>> = d
                    .loads()
                    .into_iter()
                    .filter(|l| l.id != from.as_str())
                    .collect();
                choose_agent(&loads, dept)
                    .map(str::to_owned)
                    .ok_or(ConsoleError::DepartmentBusy)?
            }
        };
        let now = now_millis();
        if let Some(a) = d.agents.get_mut(&from) {
            a.chats.remove(conversation_id);
            a.last_activity = now;
        }
        d.take(&target, conversation_id, now);
        let changes = d.fill();
        Ok(Transferred {
            from,
            to: target,
            changes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::directory::AgentConfig;
    use std::time::Duration;

    fn desk(agents: &[(&str, &str, u32)]) -> SupportDesk {
        let desk = SupportDesk::new(Duration::from_secs(1));
        for (id, dept, max) in agents {
            desk.register_agent(
                id,
                Some(&AgentConfig {
                    user_id: (*id).into(),
                    department: (*dept).into(),
                    max_concurrent_chats: *max,
                    available: true,
                    away_message: None,
                }),
            );
        }
        desk
    }

    #[test]
    fn availability_per_department_counts_general_agents_for_everyone() {
        let d = desk(&[("s", "sales", 1), ("g", "general", 1), ("b", "billing", 1)]);
        d.agent_connected("s");
        d.agent_connected("g");
        let by = d.agents_available_by_department();
        assert_eq!(by.get("sales"), Some(&2));
        assert_eq!(
            by.get("billing"),
            Some(&1),
            "b is offline; g serves billing"
        );
        assert_eq!(by.get("general"), Some(&1));
        d.set_status("g", false, None, None);
        assert_eq!(d.agents_available_by_department().get("billing"), Some(&0));
    }

    #[test]
    fn an_admin_who_serves_is_a_general_agent_that_starts_unavailable() {
        let d = desk(&[]);
        d.request("c1", "v1", "billing");
        d.admin_joins("root", 1);
        assert_eq!(d.agents_available_by_department().get("billing"), Some(&0));
        let changes = d.set_status("root", true, None, None);
        assert_eq!(changes.assigned, vec![("c1".into(), "root".into())]);
        // Joining again changes nothing (its chat stays counted).
        d.admin_joins("root", 0);
        assert_eq!(d.agent_of("c1").as_deref(), Some("root"));
        assert_eq!(d.agents_available_by_department().get("sales"), Some(&1));
    }

    #[test]
    fn taking_is_once_only_and_within_department_and_limit() {
        let d = desk(&[("s", "sales", 1), ("b", "billing", 1)]);
        // Nobody online: both chats queue.
        d.request("c1", "v1", "sales");
        d.request("c2", "v2", "sales");
        assert_eq!(d.take_queued("c1", "b"), Err(ConsoleError::NotServed));
        let (visitor, changes) = d.take_queued("c1", "s").expect("s takes c1");
        assert_eq!(visitor, "v1");
        assert_eq!(changes.positions, vec![("c2".into(), "v2".into(), 1)]);
        assert_eq!(d.take_queued("c1", "s"), Err(ConsoleError::NotQueued));
        assert_eq!(d.take_queued("c2", "s"), Err(ConsoleError::Full));
        assert_eq!(d.agent_of("c1").as_deref(), Some("s"));
    }

    #[test]
    fn transfer_goes_to_an_able_agent_and_the_freed_slot_takes_from_the_queue() {
        let d = desk(&[
            ("a", "support", 1),
            ("b", "support", 1),
            ("c", "billing", 1),
        ]);
        d.agent_connected("a");
        d.request("c1", "v1", "support");
        assert_eq!(d.agent_of("c1").as_deref(), Some("a"));
        d.request("c2", "v2", "support"); // a is full, b offline: queued
        assert_eq!(
            d.transfer("c1", TransferTo::Agent("b"), None),
            Err(ConsoleError::TargetBusy)
        );
        assert_eq!(
            d.transfer("c1", TransferTo::Agent("b"), Some("b")),
            Err(ConsoleError::NotYours)
        );
        assert_eq!(
            d.transfer("c1", TransferTo::Agent("a"), None),
            Err(ConsoleError::SameAgent)
        );
        assert_eq!(
            d.transfer("c1", TransferTo::Department("billing"), None),
            Err(ConsoleError::DepartmentBusy)
        );
        d.agent_connected("c");
        let t = d
            .transfer("c1", TransferTo::Department("billing"), None)
            .expect("c takes it");
        assert_eq!((t.from.as_str(), t.to.as_str()), ("a", "c"));
        // a's freed slot took the queued chat.
        assert_eq!(t.changes.assigned, vec![("c2".into(), "a".into())]);
        assert_eq!(
            d.transfer("nope", TransferTo::Agent("b"), None),
            Err(ConsoleError::NotActive)
        );
    }
}
