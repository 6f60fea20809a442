//! The addon's gateway API (`seitech.chat.gateway`, version 1): the whole
//! interface the gateway calls. Keep this in step with docs/odoo-gateway-api.md.

use crate::{OdooClient, OdooError};
use serde::Deserialize;
use serde_json::{json, Value};

pub const MODEL: &str = "seitech.chat.gateway";
/// The API version this client speaks.
pub const API_VERSION: i64 = 1;

#[derive(Debug, Clone, Deserialize)]
pub struct ApiVersion {
    pub version: i64,
    pub min_compatible: i64,
    #[serde(default)]
    pub max_batch: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CourseRef {
    pub id: String,
    #[serde(rename = "as")]
    pub as_role: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OdooUser {
    pub id: String,
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub courses: Vec<CourseRef>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Whois {
    pub users: Vec<OdooUser>,
    #[serde(default)]
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DirectoryEntry {
    pub id: String,
    pub name: String,
    pub role: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct OdooAgent {
    pub user_id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub department: String,
    pub max_concurrent_chats: u32,
    pub is_available: bool,
    #[serde(default)]
    pub away_message: Option<String>,
}

/// One item's fate in an `ingest` call.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct IngestResult {
    pub uuid: Option<String>,
    pub status: String,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

impl IngestResult {
    /// `ok` and `duplicate` both mean Odoo has it.
    pub fn delivered(&self) -> bool {
        self.status == "ok" || self.status == "duplicate"
    }
}

impl OdooClient {
    pub async fn api_version(&self) -> Result<ApiVersion, OdooError> {
        self.execute_kw(MODEL, "api_version", json!([]), json!({}))
            .await
    }

    pub async fn whois(&self, user_ids: &[String]) -> Result<Whois, OdooError> {
        self.execute_kw(MODEL, "whois", json!([user_ids]), json!({}))
            .await
    }

    pub async fn directory_search(
        &self,
        user_id: &str,
        query: &str,
        role: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DirectoryEntry>, OdooError> {
        #[derive(Deserialize)]
        struct Found {
            users: Vec<DirectoryEntry>,
        }
        let found: Found = self
            .execute_kw(
                MODEL,
                "directory_search",
                json!([user_id]),
                json!({ "query": query, "role": role, "limit": limit }),
            )
            .await?;
        Ok(found.users)
    }

    pub async fn agents(&self) -> Result<Vec<OdooAgent>, OdooError> {
        #[derive(Deserialize)]
        struct Agents {
            agents: Vec<OdooAgent>,
        }
        let a: Agents = self
            .execute_kw(MODEL, "agents", json!([]), json!({}))
            .await?;
        Ok(a.agents)
    }

    /// Sends a batch of writes; one result per item, in order.
    pub async fn ingest(&self, batch: &[Value]) -> Result<Vec<IngestResult>, OdooError> {
        #[derive(Deserialize)]
        struct Results {
            results: Vec<IngestResult>,
        }
        let r: Results = self
            .execute_kw(MODEL, "ingest", json!([batch]), json!({}))
            .await?;
        if r.results.len() != batch.len() {
            return Err(OdooError::Decode(format!(
                "ingest answered {} results for {} items",
                r.results.len(),
                batch.len()
            )));
        }
        Ok(r.results)
    }

    pub async fn send_transcript(
        &self,
        conversation_id: &str,
        email: Option<&str>,
    ) -> Result<Value, OdooError> {
        self.execute_kw(
            MODEL,
            "send_transcript",
            json!([conversation_id, email]),
            json!({}),
        )
        .await
    }

    pub async fn notify_offline(
        &self,
        user_id: &str,
        conversation_id: &str,
        preview: &str,
    ) -> Result<Value, OdooError> {
        self.execute_kw(
            MODEL,
            "notify_offline",
            json!([user_id, conversation_id, preview]),
            json!({}),
        )
        .await
    }
}
