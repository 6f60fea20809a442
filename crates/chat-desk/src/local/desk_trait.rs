//! [`Desk`] for the in-process desk: each method wraps the synchronous
//! operation of the same name (nothing awaits; the errors never happen).

use super::*;

#[async_trait::async_trait]
impl Desk for LocalDesk {
    fn grace(&self) -> Duration {
        self.grace
    }

    fn maintenance_interval(&self) -> Option<Duration> {
        None
    }

    async fn maintain(&self) -> DeskResult<Upkeep> {
        Ok(Upkeep::default())
    }

    async fn node_leaving(&self, _node_id: &str) -> DeskResult<()> {
        // One node: its sockets close one by one, each through
        // agent_disconnected, and nothing else holds them.
        Ok(())
    }

    fn node_id(&self) -> &str {
        LOCAL_NODE
    }

    async fn register_agent(&self, id: &str, config: Option<&AgentConfig>) -> DeskResult<()> {
        LocalDesk::register_agent(self, id, config);
        Ok(())
    }

    async fn configure_agent(&self, config: &AgentConfig) -> DeskResult<()> {
        LocalDesk::configure_agent(self, config);
        Ok(())
    }

    async fn admin_joins(&self, id: &str, sockets: usize) -> DeskResult<()> {
        LocalDesk::admin_joins(self, id, sockets);
        Ok(())
    }

    async fn refill(&self) -> DeskResult<Changes> {
        Ok(LocalDesk::refill(self))
    }

    async fn begin_restore(&self) -> DeskResult<bool> {
        Ok(true)
    }

    async fn restore_active(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
        agent_id: &str,
    ) -> DeskResult<()> {
        LocalDesk::restore_active(self, conversation_id, visitor_id, department, agent_id);
        Ok(())
    }

    async fn restore_queued(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
        since: Millis,
    ) -> DeskResult<()> {
        LocalDesk::restore_queued(self, conversation_id, visitor_id, department, since);
        Ok(())
    }

    async fn awaiting_agents(&self) -> DeskResult<Vec<(String, u64)>> {
        Ok(LocalDesk::awaiting_agents(self))
    }

    async fn open_chat_of(&self, visitor_id: &str) -> DeskResult<Option<String>> {
        Ok(LocalDesk::open_chat_of(self, visitor_id))
    }

    async fn claim(
        &self,
        visitor_id: &str,
        conversation_id: &str,
        department: &str,
    ) -> DeskResult<Claim> {
        Ok(LocalDesk::claim(
            self,
            visitor_id,
            conversation_id,
            department,
        ))
    }

    async fn release_claim(&self, visitor_id: &str, conversation_id: &str) -> DeskResult<()> {
        LocalDesk::release_claim(self, visitor_id, conversation_id);
        Ok(())
    }

    async fn request(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        department: &str,
    ) -> DeskResult<(Placement, Changes)> {
        Ok(LocalDesk::request(
            self,
            conversation_id,
            visitor_id,
            department,
        ))
    }

    async fn agent_connected(&self, id: &str) -> DeskResult<Changes> {
        Ok(LocalDesk::agent_connected(self, id))
    }

    async fn agent_disconnected(&self, id: &str) -> DeskResult<Option<u64>> {
        Ok(LocalDesk::agent_disconnected(self, id))
    }

    async fn grace_expired(&self, id: &str, generation: u64) -> DeskResult<Changes> {
        Ok(LocalDesk::grace_expired(self, id, generation))
    }

    async fn ended(&self, conversation_id: &str) -> DeskResult<Changes> {
        Ok(LocalDesk::ended(self, conversation_id))
    }

    async fn reassign(
        &self,
        conversation_id: &str,
        visitor_id: &str,
        to: &str,
    ) -> DeskResult<Option<Moved>> {
        Ok(LocalDesk::reassign(self, conversation_id, visitor_id, to))
    }

    async fn set_status(&self, id: &str, status: Status) -> DeskResult<Changes> {
        Ok(LocalDesk::set_status(self, id, status))
    }

    async fn take_queued(
        &self,
        conversation_id: &str,
        agent: &str,
    ) -> DeskResult<Result<(String, Changes), ConsoleError>> {
        Ok(LocalDesk::take_queued(self, conversation_id, agent))
    }

    async fn transfer(
        &self,
        conversation_id: &str,
        to: TransferTo<'_>,
        by: Option<&str>,
    ) -> DeskResult<Result<Transferred, ConsoleError>> {
        Ok(LocalDesk::transfer(self, conversation_id, to, by))
    }

    async fn snapshot(&self) -> DeskResult<Snapshot> {
        Ok(LocalDesk::snapshot(self))
    }
}
