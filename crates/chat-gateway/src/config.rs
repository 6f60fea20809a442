//! Every setting, as a command-line flag and an environment variable (clap).
//! The names the platform already uses (`PORT`, `FRONTEND_URL`, `JWT_SECRET`,
//! `REDIS_URL`, `ODOO_URL`, `ODOO_DB`) keep their names.

use clap::Parser;
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, Clone, Parser)]
#[command(
    name = "seitech-chat",
    version,
    about = "The seitech-chat realtime gateway"
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: IpAddr,
    /// Port to listen on; 0 picks a free one (printed on stdout).
    #[arg(long, env = "PORT", default_value_t = 3001)]
    pub port: u16,
    /// Where the SQLite file and uploads live.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Users, courses and support agents (JSON, or TOML by extension).
    #[arg(long, env = "DIRECTORY_FILE")]
    pub directory_file: Option<PathBuf>,
    /// HS256 secret shared with the Odoo addon that issues JWTs. Required unless --demo.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Demo mode: demo directory and `GET /dev/token?user=<id>`. Never in production.
    #[arg(long, env = "DEMO")]
    pub demo: bool,
    /// Allowed CORS origins, comma separated.
    #[arg(long, env = "FRONTEND_URL", default_value = "http://localhost:3000")]
    pub frontend_url: String,
    /// Messages per user per minute (token bucket refill).
    #[arg(long, env = "MESSAGE_RATE_PER_MINUTE", default_value_t = 100)]
    pub message_rate_per_minute: u32,
    /// Messages a user may send in a burst.
    #[arg(long, env = "MESSAGE_BURST", default_value_t = 20)]
    pub message_burst: u32,
    /// New connections per IP address per minute.
    #[arg(long, env = "CONNECTION_RATE_PER_MINUTE", default_value_t = 300)]
    pub connection_rate_per_minute: u32,
    /// Also apply the connection rate limit to loopback addresses.
    #[arg(long, env = "RATE_LIMIT_LOOPBACK")]
    pub rate_limit_loopback: bool,
    /// Longest message content, in characters after trimming.
    #[arg(long, env = "MAX_CONTENT_CHARS", default_value_t = 4000)]
    pub max_content_chars: usize,
    /// When an acked write counts as on disk: `full` (default) fsyncs the
    /// SQLite WAL at every group commit, so acked messages survive a power loss
    /// or OS crash; `normal` skips that fsync: acked messages still survive a
    /// crash or kill of the gateway (they are in the OS page cache), but the
    /// last ones before a power loss or kernel crash may be lost. `normal`
    /// gives lower ack latency and less CPU; see docs/gateway-cli.md.
    #[arg(long, env = "SQLITE_SYNCHRONOUS", default_value = "full")]
    pub sqlite_synchronous: chat_store::sqlite::Synchronous,
    /// Largest Socket.IO packet (maxHttpBufferSize), bytes.
    #[arg(long, env = "MAX_PACKET_BYTES", default_value_t = 1_000_000)]
    pub max_packet_bytes: u64,
    /// A typing start with no stop expires after this long.
    #[arg(long, env = "TYPING_TIMEOUT_MS", default_value_t = 6000)]
    pub typing_timeout_ms: u64,
    /// How long a disconnected support agent still counts as online.
    #[arg(long, env = "AGENT_GRACE_SECS", default_value_t = 30)]
    pub agent_grace_secs: u64,
    /// SMTP server for transcripts and email notifications, e.g. smtp://127.0.0.1:2525.
    #[arg(long, env = "SMTP_URL")]
    pub smtp_url: Option<String>,
    /// The gateway's public base URL, for links in emails and notifications.
    #[arg(long, env = "PUBLIC_URL", default_value = "http://localhost:3001")]
    pub public_url: String,
    /// Sender address of outgoing mail.
    #[arg(long, env = "MAIL_FROM", default_value = "chat@localhost")]
    pub mail_from: String,
    /// Largest attachment upload, bytes.
    #[arg(long, env = "MAX_UPLOAD_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_upload_bytes: u64,
    /// An upload no message uses is removed after this long.
    #[arg(long, env = "ATTACHMENT_MAX_AGE_SECS", default_value_t = 24 * 3600)]
    pub attachment_max_age_secs: u64,
    /// How often the sweeper of unused uploads runs.
    #[arg(long, env = "ATTACHMENT_SWEEP_INTERVAL_SECS", default_value_t = 600)]
    pub attachment_sweep_interval_secs: u64,
    /// How long a signed attachment URL (in messages and history) stays valid.
    #[arg(long, env = "ATTACHMENT_URL_TTL_SECS", default_value_t = 3600)]
    pub attachment_url_ttl_secs: u64,
    /// VAPID private key for Web Push: base64url raw key or PEM. Unset: no Web Push.
    /// (A base64url key may start with '-', which must not read as a flag.)
    #[arg(
        long,
        env = "VAPID_PRIVATE_KEY",
        hide_env_values = true,
        allow_hyphen_values = true
    )]
    pub vapid_private_key: Option<String>,
    /// The VAPID `sub` claim: a mailto: or https: contact for push services.
    #[arg(long, env = "VAPID_SUBJECT", default_value = "mailto:chat@localhost")]
    pub vapid_subject: String,
    /// At most one offline notification per conversation per user in this window.
    #[arg(long, env = "NOTIFY_INTERVAL_SECS", default_value_t = 300)]
    pub notify_interval_secs: u64,
    /// Accept plain-http push endpoints (local testing only).
    #[arg(long, env = "PUSH_ALLOW_HTTP")]
    pub push_allow_http: bool,

    /// Redis for scale-out (not used by this build yet; see docs/protocol.md).
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Odoo base URL (the Odoo bridge; see docs/protocol.md).
    #[arg(long, env = "ODOO_URL")]
    pub odoo_url: Option<String>,
    /// Odoo database name.
    #[arg(long, env = "ODOO_DB")]
    pub odoo_db: Option<String>,
    /// Login of Odoo's technical user (group Chat Gateway).
    #[arg(long, env = "ODOO_USER")]
    pub odoo_user: Option<String>,
    /// An API key of that user.
    #[arg(long, env = "ODOO_API_KEY", hide_env_values = true)]
    pub odoo_api_key: Option<String>,
    /// Shared HMAC secret of Odoo → gateway pushes (system parameter seitech_chat.push_secret).
    #[arg(long, env = "ODOO_PUSH_SECRET", hide_env_values = true)]
    pub odoo_push_secret: Option<String>,
    /// Outbox items per `ingest` call.
    #[arg(long, env = "ODOO_BATCH_SIZE", default_value_t = 500)]
    pub odoo_batch_size: usize,
    /// Timeout of one call to Odoo.
    #[arg(long, env = "ODOO_TIMEOUT_MS", default_value_t = 10_000)]
    pub odoo_timeout_ms: u64,
    /// Longest wait between retries while Odoo is down.
    #[arg(long, env = "ODOO_RETRY_MAX_MS", default_value_t = 30_000)]
    pub odoo_retry_max_ms: u64,
    /// How long an event waits for Odoo to say who a user is (role, courses)
    /// before routing goes by what is cached. The lookup itself goes on and
    /// fills the cache for the next event.
    #[arg(long, env = "ODOO_LOOKUP_WAIT_MS", default_value_t = 2_000)]
    pub odoo_lookup_wait_ms: u64,
    /// Log as JSON lines (LOG_FORMAT=json).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// PostgreSQL store shared by every gateway node, e.g.
    /// postgres://chat@db.internal:5432/chat. Unset: the embedded SQLite
    /// store in DATA_DIR. See docs/gateway-cli.md.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

impl Config {
    pub fn cors_origins(&self) -> Vec<String> {
        self.frontend_url
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    pub fn limits(&self) -> chat_core::validate::Limits {
        chat_core::validate::Limits {
            max_content_chars: self.max_content_chars,
            ..Default::default()
        }
    }
}
