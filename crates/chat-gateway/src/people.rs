//! The people the gateway knows, in memory: users (from the directory file, the
//! store and JWT claims), courses and support agents' configuration. The routing
//! policy asks its questions here, without touching the database.

use chat_core::directory::{AgentConfig, Courses, DirectoryFile};
use chat_core::policy::{Party, Relations};
use chat_core::{Identity, Role};
use chat_store::UserRecord;
use dashmap::{DashMap, DashSet};
use std::collections::HashMap;

pub struct People {
    users: DashMap<String, UserRecord>,
    courses: Courses,
    agents: HashMap<String, AgentConfig>,
    /// (agent, visitor) pairs of support chats, for "an agent may contact whom it is assigned to".
    assignments: DashSet<(String, String)>,
    /// Courses learned from Odoo: user → (course id, "instructor" | "student").
    odoo_courses: DashMap<String, Vec<(String, String)>>,
}

impl People {
    pub fn new(file: &DirectoryFile, stored: Vec<UserRecord>) -> Self {
        let users = DashMap::new();
        for u in stored {
            users.insert(u.id.clone(), u);
        }
        for u in &file.users {
            users.insert(
                u.id.clone(),
                UserRecord {
                    id: u.id.clone(),
                    name: u.name.clone(),
                    role: u.role,
                    email: u.email.clone(),
                },
            );
        }
        Self {
            users,
            courses: Courses::new(&file.courses),
            agents: file
                .agents
                .iter()
                .map(|a| (a.user_id.clone(), a.clone()))
                .collect(),
            assignments: DashSet::new(),
            odoo_courses: DashMap::new(),
        }
    }

    /// Records what a signed token says about its user. Returns the record
    /// when it is new or changed, so the caller persists only real changes.
    pub fn learn(&self, who: &Identity) -> Option<UserRecord> {
        let record = UserRecord {
            id: who.user_id.clone(),
            name: who.name.clone(),
            role: who.role,
            email: who
                .email
                .clone()
                .or_else(|| self.users.get(&who.user_id).and_then(|u| u.email.clone())),
        };
        let changed = self.users.get(&who.user_id).is_none_or(|u| *u != record);
        if changed {
            self.users.insert(record.id.clone(), record.clone());
            Some(record)
        } else {
            None
        }
    }

    /// Records a user the gateway itself learned about (a visitor's pre-chat form).
    pub fn remember(&self, record: UserRecord) {
        self.users.insert(record.id.clone(), record);
    }

    /// Forgets a user learned only in memory (a guest that did nothing).
    pub fn forget(&self, id: &str) {
        self.users.remove(id);
    }

    pub fn get(&self, id: &str) -> Option<UserRecord> {
        self.users.get(id).map(|u| u.clone())
    }

    pub fn name_of(&self, id: &str) -> String {
        self.users
            .get(id)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| id.to_owned())
    }

    pub fn party<'a>(&self, id: &'a str) -> Option<Party<'a>> {
        self.users.get(id).map(|u| Party { id, role: u.role })
    }

    /// Users whose name or id contains `query` (case-insensitive), best first.
    pub fn search(&self, query: &str, role: Option<Role>) -> Vec<UserRecord> {
        let q = query.to_lowercase();
        let mut found: Vec<UserRecord> = self
            .users
            .iter()
            .filter(|u| role.is_none_or(|r| u.role == r))
            .filter(|u| {
                q.is_empty() || u.name.to_lowercase().contains(&q) || u.id.to_lowercase() == q
            })
            .map(|u| u.clone())
            .collect();
        found.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        found
    }

    pub fn agent_config(&self, id: &str) -> Option<&AgentConfig> {
        self.agents.get(id)
    }

    pub fn agent_configs(&self) -> impl Iterator<Item = &AgentConfig> {
        self.agents.values()
    }

    /// Records a user's course memberships as Odoo reports them.
    pub fn set_courses(&self, user: &str, courses: Vec<(String, String)>) {
        self.odoo_courses.insert(user.to_owned(), courses);
    }

    pub fn note_assignment(&self, agent: &str, visitor: &str) {
        self.assignments
            .insert((agent.to_owned(), visitor.to_owned()));
    }
}

impl Relations for People {
    fn teaches(&self, instructor: &str, student: &str) -> bool {
        if self.courses.teaches(instructor, student) {
            return true;
        }
        let (Some(taught), Some(taken)) = (
            self.odoo_courses.get(instructor),
            self.odoo_courses.get(student),
        ) else {
            return false;
        };
        taught
            .iter()
            .filter(|(_, r)| r == "instructor")
            .any(|(c, _)| taken.iter().any(|(d, r)| r == "student" && d == c))
    }
    fn assigned_to(&self, agent: &str, user: &str) -> bool {
        self.assignments
            .contains(&(agent.to_owned(), user.to_owned()))
    }
}
