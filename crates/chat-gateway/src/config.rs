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
    /// Address to listen on. Default 0.0.0.0, but 127.0.0.1 in demo mode:
    /// demo mode hands out tokens for anyone (`/dev/token`), so it is only
    /// reachable from other machines when asked for with --host.
    #[arg(long, env = "HOST")]
    pub host: Option<IpAddr>,
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
    /// With REDIS_URL (the support desk shared by several nodes): a node that
    /// stops beating (killed, cut off) has its agents' sockets dropped by the
    /// others within this long, then their grace periods run. It beats every
    /// third of it. See docs/cluster-desk.md.
    #[arg(long, env = "DESK_NODE_TTL_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub desk_node_ttl_secs: u64,
    /// With REDIS_URL: the start of every key of the shared support desk, to
    /// keep several deployments apart on one Redis. Keep the {braces}: they
    /// hold the desk's keys in one Redis Cluster slot.
    #[arg(long, env = "REDIS_DESK_PREFIX", default_value = "{desk}")]
    pub redis_desk_prefix: String,
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
    /// Accept plain-http and loopback push endpoints (local testing only).
    #[arg(long, env = "PUSH_ALLOW_HTTP")]
    pub push_allow_http: bool,

    /// Redis, to run several gateway nodes as one (redis://host:6379, Redis
    /// 7 or newer): room emits reach every node through the Socket.IO Redis
    /// adapter, and presence, typing, rate limits, the support desk and cache
    /// invalidation are shared (docs/cluster.md). Use it with DATABASE_URL
    /// (one store for all nodes). Unset: a single node, all in this process.
    /// See README "Several nodes".
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// This node's id, in /health, in chat_node_info (and with REDIS_URL
    /// the `node` label of every metric), and on every log line: 1 to 64 letters, digits, '.', '_' or '-'. Default
    /// `<hostname>-<pid>`.
    #[arg(long, env = "NODE_ID")]
    pub node_id: Option<String>,
    /// With REDIS_URL: a node that stops without a goodbye (killed, cut off)
    /// has its users counted out by the others within this long (nodes beat
    /// every third of it and reap every sixth; see docs/cluster.md).
    #[arg(long, env = "PRESENCE_TTL_SECS", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub presence_ttl_secs: u64,
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
    /// Outgoing packets queued per socket before it counts as too slow: a
    /// socket whose queue is full is disconnected (its client reconnects and
    /// runs `sync`) and counted in chat_socket_buffer_overflows_total.
    /// Slots cost memory only while used.
    #[arg(long, env = "SOCKET_BUFFER_PACKETS", default_value_t = 1024,
          value_parser = clap::value_parser!(u32).range(16..=1_000_000))]
    pub socket_buffer_packets: u32,

    // ---- abuse limits (issue 11) ----
    /// Largest image decoded for a thumbnail, in pixels (width × height, read
    /// from the header before decoding); 4 bytes a pixel decoded at most.
    #[arg(long, env = "MAX_IMAGE_PIXELS", default_value_t = 25_000_000)]
    pub max_image_pixels: u64,
    /// Images decoded at once (each may take 4 × MAX_IMAGE_PIXELS bytes).
    #[arg(long, env = "MAX_CONCURRENT_DECODES", default_value_t = 2)]
    pub max_concurrent_decodes: usize,
    /// Uploads a signed-in user may make per upload window.
    #[arg(long, env = "UPLOAD_QUOTA_COUNT", default_value_t = 200)]
    pub upload_quota_count: u64,
    /// Bytes a signed-in user may upload per upload window.
    #[arg(long, env = "UPLOAD_QUOTA_BYTES", default_value_t = 500 * 1024 * 1024)]
    pub upload_quota_bytes: u64,
    /// Uploads a guest may make per upload window.
    #[arg(long, env = "GUEST_UPLOAD_QUOTA_COUNT", default_value_t = 10)]
    pub guest_upload_quota_count: u64,
    /// Bytes a guest may upload per upload window.
    #[arg(long, env = "GUEST_UPLOAD_QUOTA_BYTES", default_value_t = 20 * 1024 * 1024)]
    pub guest_upload_quota_bytes: u64,
    /// Bytes all guests from one client address may upload per upload window.
    #[arg(long, env = "GUEST_UPLOAD_QUOTA_BYTES_PER_IP", default_value_t = 50 * 1024 * 1024)]
    pub guest_upload_quota_bytes_per_ip: u64,
    /// The upload quotas' window.
    #[arg(long, env = "UPLOAD_QUOTA_WINDOW_SECS", default_value_t = 24 * 3600)]
    pub upload_quota_window_secs: u64,
    /// Free space on the data volume kept for messages: uploads are refused
    /// (507) when less than this would be left.
    #[arg(long, env = "UPLOAD_DISK_RESERVE_BYTES", default_value_t = 512 * 1024 * 1024)]
    pub upload_disk_reserve_bytes: u64,
    /// Cap on the message database's size, bytes (0: none). Past it writes
    /// are refused as on a full disk.
    #[arg(long, env = "STORE_MAX_BYTES", default_value_t = 0)]
    pub store_max_bytes: u64,
    /// Peers (CIDRs, comma separated) whose X-Forwarded-For / X-Real-IP is
    /// believed: the reverse proxies. From any other peer those headers are
    /// ignored and the TCP peer is the client address.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "", value_parser = parse_cidrs)]
    pub trusted_proxies: TrustedProxies,
    /// A connection that has not sent a complete request head within this
    /// long is closed (slowloris); also bounds a keep-alive connection's wait
    /// for its next request.
    #[arg(long, env = "HTTP_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub http_header_timeout_secs: u64,
    /// An HTTP connection on which nothing was read for this long is closed
    /// (a websocket, once upgraded, is left to the Engine.IO heartbeat).
    #[arg(long, env = "HTTP_IDLE_TIMEOUT_SECS", default_value_t = 120)]
    pub http_idle_timeout_secs: u64,
    /// Guest connections open at once from one client address.
    #[arg(long, env = "GUEST_CONNECTIONS_PER_IP", default_value_t = 20)]
    pub guest_connections_per_ip: u32,
    /// Support chats guests from one client address may open per hour.
    #[arg(
        long,
        env = "GUEST_SUPPORT_CHATS_PER_IP_PER_HOUR",
        default_value_t = 10
    )]
    pub guest_support_chats_per_ip_per_hour: u32,
    /// Queued support chats guests from one client address may hold at once.
    #[arg(long, env = "GUEST_QUEUE_PER_IP", default_value_t = 3)]
    pub guest_queue_per_ip: u32,
    /// Messages guests from one client address may send per minute, all together.
    #[arg(long, env = "GUEST_MESSAGES_PER_IP_PER_MINUTE", default_value_t = 60)]
    pub guest_messages_per_ip_per_minute: u32,
    /// Longest an upload may take, body included (a trickled body is cut off: 408).
    #[arg(long, env = "UPLOAD_TIMEOUT_SECS", default_value_t = 600)]
    pub upload_timeout_secs: u64,
    /// Transcript emails per visitor, and per client address, per hour.
    #[arg(long, env = "TRANSCRIPTS_PER_HOUR", default_value_t = 5)]
    pub transcripts_per_hour: u32,
    /// PostgreSQL store shared by every gateway node, e.g.
    /// postgres://chat@db.internal:5432/chat. Unset: the embedded SQLite
    /// store in DATA_DIR. See docs/gateway-cli.md.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Where attachment bytes live (`<dir>/attachments`, files named by
    /// their SHA-256). With several nodes, a directory every node mounts.
    /// Unset: DATA_DIR. See docs/protocol.md, "Attachments across nodes".
    #[arg(long, env = "MEDIA_DIR")]
    pub media_dir: Option<PathBuf>,
}

/// `--trusted-proxies`: the networks of reverse proxies.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<ipnet::IpNet>);

impl TrustedProxies {
    pub(crate) fn contains(&self, ip: &IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }
}

/// Comma-separated CIDRs; a bare address is a /32 (or /128).
fn parse_cidrs(s: &str) -> Result<TrustedProxies, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let net = match part.parse::<ipnet::IpNet>() {
            Ok(n) => n,
            Err(_) => part
                .parse::<IpAddr>()
                .map(ipnet::IpNet::from)
                .map_err(|_| format!("{part:?} is not an IP address or CIDR"))?,
        };
        out.push(net);
    }
    Ok(TrustedProxies(out))
}

impl Config {
    /// The address to bind: `--host`, else loopback in demo mode, else all.
    pub(crate) fn bind_host(&self) -> IpAddr {
        self.host.unwrap_or(if self.demo {
            IpAddr::from([127, 0, 0, 1])
        } else {
            IpAddr::from([0, 0, 0, 0])
        })
    }

    pub(crate) fn cors_origins(&self) -> Vec<String> {
        self.frontend_url
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    }

    pub(crate) fn limits(&self) -> chat_core::validate::Limits {
        chat_core::validate::Limits {
            max_content_chars: self.max_content_chars,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod bind_host_tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        // Only flags on the command line: no HOST/DEMO from the environment
        // of whoever runs the tests.
        Config::try_parse_from(std::iter::once("seitech-chat").chain(args.iter().copied()))
            .expect("valid flags")
    }

    #[test]
    fn demo_mode_listens_on_loopback_unless_a_host_is_given() {
        if std::env::var_os("HOST").is_some() || std::env::var_os("DEMO").is_some() {
            return; // the environment decides; nothing to check here
        }
        assert_eq!(parse(&["--demo"]).bind_host().to_string(), "127.0.0.1");
        assert_eq!(parse(&[]).bind_host().to_string(), "0.0.0.0");
        assert_eq!(
            parse(&["--demo", "--host", "0.0.0.0"])
                .bind_host()
                .to_string(),
            "0.0.0.0"
        );
    }
}
