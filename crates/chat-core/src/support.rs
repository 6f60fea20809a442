//! The support desk's pure decisions (§6): which department a query goes to,
//! and which agent takes a chat. The gateway holds the state and calls these
//! under one lock, which is what makes choice + count update one atomic step.

use crate::clock::Millis;

pub const QUERY_TYPES: [&str; 4] = ["course_inquiry", "technical_support", "billing", "other"];
pub const FALLBACK_DEPARTMENT: &str = "general";

/// The department a pre-chat query type is routed to, or `None` for an unknown type.
pub fn department_for(query_type: &str) -> Option<&'static str> {
    match query_type {
        "course_inquiry" => Some("sales"),
        "technical_support" => Some("support"),
        "billing" => Some("billing"),
        "other" => Some("general"),
        _ => None,
    }
}

/// An agent as the assignment sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLoad<'a> {
    pub id: &'a str,
    pub department: &'a str,
    /// Online for the desk: connected, or disconnected within its grace
    /// period (it keeps its chats until the period ends).
    pub online: bool,
    /// Has an open socket now. An agent in its grace period has none: it
    /// keeps the chats it has but takes no new ones, since nobody would
    /// answer them.
    pub connected: bool,
    pub available: bool,
    pub active_chats: u32,
    pub max_chats: u32,
    /// When the agent last took or finished a chat; idle longest = smallest.
    pub last_activity: Millis,
}

impl AgentLoad<'_> {
    pub fn has_capacity(&self) -> bool {
        self.online && self.connected && self.available && self.active_chats < self.max_chats
    }
}

/// Picks the agent for a chat of `department`: among agents with capacity in
/// that department (then in `general`), the one with the fewest open chats,
/// ties to the one idle longest, then by id so the choice is deterministic.
pub fn choose_agent<'a>(agents: &[AgentLoad<'a>], department: &str) -> Option<&'a str> {
    let pick = |dept: &str| {
        agents
            .iter()
            .filter(|a| a.department == dept && a.has_capacity())
            .min_by(|a, b| {
                (a.active_chats, a.last_activity, a.id).cmp(&(
                    b.active_chats,
                    b.last_activity,
                    b.id,
                ))
            })
            .map(|a| a.id)
    };
    pick(department).or_else(|| {
        if department == FALLBACK_DEPARTMENT {
            None
        } else {
            pick(FALLBACK_DEPARTMENT)
        }
    })
}

/// Can an agent of `agent_department` serve a chat queued for `department`?
/// Agents of `general` also take other departments' overflow.
pub fn serves(agent_department: &str, department: &str) -> bool {
    agent_department == department || agent_department == FALLBACK_DEPARTMENT
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent<'a>(id: &'a str, dept: &'a str, active: u32, idle_since: Millis) -> AgentLoad<'a> {
        AgentLoad {
            id,
            department: dept,
            online: true,
            connected: true,
            available: true,
            active_chats: active,
            max_chats: 2,
            last_activity: idle_since,
        }
    }

    #[test]
    fn query_types_map_to_departments() {
        assert_eq!(department_for("course_inquiry"), Some("sales"));
        assert_eq!(department_for("technical_support"), Some("support"));
        assert_eq!(department_for("billing"), Some("billing"));
        assert_eq!(department_for("other"), Some("general"));
        assert_eq!(department_for("spam"), None);
    }

    #[test]
    fn least_loaded_agent_of_the_department_wins() {
        let agents = [
            agent("a", "support", 1, 0),
            agent("b", "support", 0, 50),
            agent("c", "sales", 0, 0),
        ];
        assert_eq!(choose_agent(&agents, "support"), Some("b"));
        assert_eq!(choose_agent(&agents, "sales"), Some("c"));
    }

    #[test]
    fn ties_go_to_the_agent_idle_longest() {
        let agents = [agent("a", "support", 1, 200), agent("b", "support", 1, 100)];
        assert_eq!(choose_agent(&agents, "support"), Some("b"));
    }

    #[test]
    fn full_offline_or_unavailable_agents_are_skipped_then_general_helps() {
        let mut full = agent("a", "support", 2, 0);
        let mut away = agent("b", "support", 0, 0);
        away.available = false;
        let mut gone = agent("c", "support", 0, 0);
        gone.online = false;
        let general = agent("g", "general", 1, 0);
        assert_eq!(
            choose_agent(&[full.clone(), away.clone(), gone.clone()], "support"),
            None
        );
        assert_eq!(
            choose_agent(&[full.clone(), away, gone, general], "support"),
            Some("g")
        );
        full.max_chats = 3;
        assert_eq!(choose_agent(&[full], "support"), Some("a"));
    }

    #[test]
    fn an_agent_in_its_grace_period_takes_no_new_chat() {
        let mut away = agent("a", "support", 0, 0);
        away.connected = false; // online for its grace period, no socket
        assert_eq!(choose_agent(std::slice::from_ref(&away), "support"), None);
        let other = agent("b", "support", 1, 0);
        assert_eq!(choose_agent(&[away, other], "support"), Some("b"));
    }

    #[test]
    fn general_agents_serve_every_department_queue() {
        assert!(serves("general", "billing"));
        assert!(serves("billing", "billing"));
        assert!(!serves("sales", "billing"));
    }
}
