//! Who is who in embedded mode: users, courses (instructors and enrolled
//! students) and support agents, read from the optional directory file (§10,
//! JSON or TOML of the same shape). Users known only from a JWT are added at
//! runtime by the gateway; their claims are authoritative for name and role.

use crate::Role;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryUser {
    pub id: String,
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Course {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub instructors: Vec<String>,
    #[serde(default)]
    pub students: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentConfig {
    pub user_id: String,
    #[serde(default = "default_department")]
    pub department: String,
    #[serde(default = "default_max_chats")]
    pub max_concurrent_chats: u32,
    #[serde(default = "default_true")]
    pub available: bool,
    #[serde(default)]
    pub away_message: Option<String>,
}

fn default_department() -> String {
    "general".into()
}
fn default_max_chats() -> u32 {
    5
}
fn default_true() -> bool {
    true
}

/// The file's shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryFile {
    #[serde(default)]
    pub users: Vec<DirectoryUser>,
    #[serde(default)]
    pub courses: Vec<Course>,
    #[serde(default)]
    pub agents: Vec<AgentConfig>,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("cannot read directory file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("directory file {path} is not valid JSON: {source}")]
    Json {
        path: String,
        source: serde_json::Error,
    },
    #[error("directory file {path} is not valid TOML: {source}")]
    Toml {
        path: String,
        source: toml::de::Error,
    },
    #[error("directory file: {0}")]
    Inconsistent(String),
}

impl DirectoryFile {
    /// Reads JSON, or TOML when the file name ends in `.toml`.
    pub fn load(path: &Path) -> Result<Self, DirectoryError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| DirectoryError::Io {
            path: p.clone(),
            source,
        })?;
        let file: DirectoryFile = if path.extension().is_some_and(|e| e == "toml") {
            toml::from_str(&text).map_err(|source| DirectoryError::Toml { path: p, source })?
        } else {
            serde_json::from_str(&text)
                .map_err(|source| DirectoryError::Json { path: p, source })?
        };
        file.check()?;
        Ok(file)
    }

    /// Refuses files whose references do not resolve, so mistakes show at start-up.
    pub fn check(&self) -> Result<(), DirectoryError> {
        let ids: HashSet<&str> = self.users.iter().map(|u| u.id.as_str()).collect();
        if ids.len() != self.users.len() {
            return Err(DirectoryError::Inconsistent("duplicate user id".into()));
        }
        for c in &self.courses {
            for id in c.instructors.iter().chain(&c.students) {
                if !ids.contains(id.as_str()) {
                    return Err(DirectoryError::Inconsistent(format!(
                        "course {} names unknown user {id}",
                        c.id
                    )));
                }
            }
        }
        for a in &self.agents {
            if !ids.contains(a.user_id.as_str()) {
                return Err(DirectoryError::Inconsistent(format!(
                    "agent entry names unknown user {}",
                    a.user_id
                )));
            }
            if a.max_concurrent_chats == 0 {
                return Err(DirectoryError::Inconsistent(format!(
                    "agent {} has maxConcurrentChats 0",
                    a.user_id
                )));
            }
        }
        Ok(())
    }
}

/// Course relations indexed for the routing policy's questions.
#[derive(Debug, Clone, Default)]
pub struct Courses {
    /// student id → the instructors of the courses the student is enrolled in.
    instructors_of_student: HashMap<String, HashSet<String>>,
}

impl Courses {
    pub fn new(courses: &[Course]) -> Self {
        let mut instructors_of_student: HashMap<String, HashSet<String>> = HashMap::new();
        for c in courses {
            for s in &c.students {
                instructors_of_student
                    .entry(s.clone())
                    .or_default()
                    .extend(c.instructors.iter().cloned());
            }
        }
        Self {
            instructors_of_student,
        }
    }

    /// Does `instructor` teach a course that `student` is enrolled in?
    pub fn teaches(&self, instructor: &str, student: &str) -> bool {
        self.instructors_of_student
            .get(student)
            .is_some_and(|set| set.contains(instructor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"{
      "users": [
        { "id": "1", "name": "Ada Student", "role": "student", "email": "ada@example.org" },
        { "id": "2", "name": "Ian Instructor", "role": "instructor" },
        { "id": "5", "name": "Sam Agent", "role": "support-agent" }
      ],
      "courses": [ { "id": "py101", "name": "Python 101", "instructors": ["2"], "students": ["1"] } ],
      "agents": [ { "userId": "5", "department": "support" } ]
    }"#;

    #[test]
    fn json_and_toml_describe_the_same_directory() {
        let dir = tempdir();
        let json = dir.join("d.json");
        std::fs::write(&json, SAMPLE).unwrap();
        let from_json = DirectoryFile::load(&json).unwrap();
        let toml_path = dir.join("d.toml");
        std::fs::write(&toml_path, toml::to_string(&from_json).unwrap()).unwrap();
        assert_eq!(DirectoryFile::load(&toml_path).unwrap(), from_json);
        assert_eq!(from_json.agents[0].max_concurrent_chats, 5);
        assert!(from_json.agents[0].available);
    }

    #[test]
    fn dangling_references_are_refused() {
        let mut f: DirectoryFile = serde_json::from_str(SAMPLE).unwrap();
        f.courses[0].students.push("404".into());
        assert!(f.check().is_err());
    }

    #[test]
    fn course_relation_answers_who_teaches_whom() {
        let f: DirectoryFile = serde_json::from_str(SAMPLE).unwrap();
        let c = Courses::new(&f.courses);
        assert!(c.teaches("2", "1"));
        assert!(!c.teaches("1", "2"));
        assert!(!c.teaches("5", "1"));
    }

    fn tempdir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("chat-core-dir-{}", crate::clock::new_id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
