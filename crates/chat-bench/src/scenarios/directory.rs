//! `directory`: writes the directory file (protocol §10) the servers load for the scenarios.

use super::*;

#[derive(clap::Args, Debug)]
pub struct DirectoryArgs {
    /// Students u0 … u{N-1}.
    #[arg(long, default_value_t = 10000)]
    pub members: usize,
    /// Support agents agent0 … (department "support").
    #[arg(long, default_value_t = 20)]
    pub agents: usize,
    #[arg(long, default_value_t = 5)]
    pub max_chats: u32,
    #[arg(long)]
    pub out: PathBuf,
}

/// The directory file (protocol §10) both servers load, so user ids exist
/// before they are named as participants.
pub fn directory(a: &DirectoryArgs) -> Result<()> {
    let mut users = vec![json!({ "id": "bench-admin", "name": "Bench Admin", "role": "admin" })];
    for i in 0..a.members {
        users
            .push(json!({ "id": format!("u{i}"), "name": format!("User {i}"), "role": "student" }));
    }
    let mut agents = vec![];
    for i in 0..a.agents {
        users.push(json!({ "id": format!("agent{i}"), "name": format!("Agent {i}"), "role": "support-agent" }));
        agents.push(
            json!({ "userId": format!("agent{i}"), "department": "support",
            "maxConcurrentChats": a.max_chats, "available": true,
            "awayMessage": "We are away." }),
        );
    }
    let dir = json!({ "users": users, "courses": [], "agents": agents });
    std::fs::write(&a.out, serde_json::to_vec(&dir)?)?;
    Ok(())
}
