//! The support desk's live state (§6). Filled in by the support-desk work.

use std::time::Duration;

pub struct SupportDesk {
    pub grace: Duration,
}

impl SupportDesk {
    pub fn new(grace: Duration) -> Self {
        Self { grace }
    }
}

/// Rebuilds the desk from the store at start-up.
pub async fn restore(_app: &crate::state::App) -> anyhow::Result<()> {
    Ok(())
}
