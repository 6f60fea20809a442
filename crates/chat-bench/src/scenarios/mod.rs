//! The load scenarios, one module each. Each one prints a single JSON line;
//! this module holds what they share: the common flags, connecting clients,
//! creating rooms, and writing the result.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::stream::{self, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use tokio::sync::{watch, Semaphore};
use tokio::time::{interval, sleep, timeout, Interval, MissedTickBehavior};

mod ack;
mod connections;
mod directory;
mod fanout;
mod outbox;
mod support;

pub use ack::{ack, AckArgs};
pub use connections::{connections, ConnectionsArgs};
pub use directory::{directory, DirectoryArgs};
pub use fanout::{fanout, FanoutArgs};
pub use outbox::{outbox, OutboxArgs};
pub use support::{support, SupportArgs};

use crate::sio::{self, Conn, ConnOpts, Packet, Target};
use crate::stats::{self, mint, new_hist, now_micros, record, summary_ms};

/// Options every scenario shares.
#[derive(clap::Args, Clone, Debug)]
pub struct Common {
    /// Server base URL (loopback only). `fanout` also takes several nodes of
    /// one cluster, comma-separated, and spreads every room's members over them.
    #[arg(long, default_value = "http://127.0.0.1:3001")]
    pub url: String,
    /// HS256 secret the server verifies tokens with.
    #[arg(long, env = "JWT_SECRET", default_value = "bench-secret")]
    pub jwt_secret: String,
    /// Server PID, for CPU time and RSS from /proc. For a cluster, the PIDs
    /// of every node and of Redis, comma-separated: their CPU time is summed.
    #[arg(long)]
    pub server_pid: Option<String>,
    /// Also count the CPU time of every child of this PID (the PostgreSQL
    /// postmaster: its backends serve the gateway) as server CPU.
    #[arg(long)]
    pub server_children_of: Option<String>,
    /// Name of the server in the results ("gateway", "baseline", …).
    #[arg(long, default_value = "server")]
    pub label: String,
    /// Also append the JSON line to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Parallel connection attempts during setup.
    #[arg(long, default_value_t = 128)]
    pub concurrency: usize,
}

const OP_TIMEOUT: Duration = Duration::from_secs(15);

fn admin_token(c: &Common) -> String {
    mint(&c.jwt_secret, "bench-admin", "Bench Admin", "admin")
}

fn server_cpu(c: &Common) -> Option<f64> {
    let own = c
        .server_pid
        .as_deref()?
        .split(',')
        .map(|p| stats::proc_cpu_secs(p.trim()).ok())
        .sum::<Option<f64>>()?;
    let children = c
        .server_children_of
        .as_deref()
        .map(stats::children_cpu_secs)
        .unwrap_or(0.0);
    Some(own + children)
}

fn self_cpu() -> f64 {
    stats::proc_cpu_secs(&std::process::id().to_string()).unwrap_or(0.0)
}

fn base(c: &Common, scenario: &str) -> Value {
    json!({ "scenario": scenario, "server": c.label, "url": c.url, "ts": unix_secs() })
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Connects `tokens.len()` clients, `concurrency` at a time, in order.
async fn connect_all(
    target: &Target,
    tokens: Vec<Option<String>>,
    concurrency: usize,
) -> Vec<Result<Conn>> {
    connect_spread(std::slice::from_ref(target), tokens, concurrency).await
}

/// Like [`connect_all`], client `k` connecting to `targets[k % targets.len()]`.
async fn connect_spread(
    targets: &[Target],
    tokens: Vec<Option<String>>,
    concurrency: usize,
) -> Vec<Result<Conn>> {
    stream::iter(tokens.into_iter().enumerate())
        .map(|(k, t)| {
            let target = targets[k % targets.len().max(1)].clone();
            async move { Conn::connect(&target, t.as_deref(), ConnOpts::default()).await }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
}

/// The nodes of `--url` (one, or several comma-separated).
async fn parse_targets(urls: &str) -> Result<Vec<Target>> {
    let mut targets = Vec::new();
    for url in urls.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        targets.push(Target::parse(url).await?);
    }
    if targets.is_empty() {
        bail!("--url names no server");
    }
    Ok(targets)
}

/// Creates one group conversation per member list, as the admin.
async fn create_rooms(admin: &mut Conn, rooms: &[Vec<String>], name: &str) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(rooms.len());
    for (i, members) in rooms.iter().enumerate() {
        let ack = admin
            .call(
                "conversation:create",
                &json!({ "type": "group", "participantIds": members, "name": format!("{name} {i}") }),
                OP_TIMEOUT,
            )
            .await?;
        let id = ack["conversation"]["id"]
            .as_str()
            .ok_or_else(|| anyhow!("conversation:create answered {ack}"))?;
        ids.push(id.to_string());
    }
    Ok(ids)
}

async fn tick(t: &mut Option<Interval>) {
    match t {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Waits until `cond` holds, polling every 20 ms, for at most `max`.
async fn wait_until(max: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + max;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(20)).await;
    }
}

pub fn emit_result(c: &Common, v: &Value) -> Result<()> {
    let line = v.to_string();
    println!("{line}");
    if let Some(p) = &c.out {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .with_context(|| format!("opening {}", p.display()))?;
        writeln!(f, "{line}")?;
    }
    Ok(())
}

// ---------------------------------------------------------------- closed loop

/// `clients` students `u<offset>…`, connected, each alone in a room of its
/// own (created by the admin): the setup of the closed-loop scenarios.
async fn solo_rooms(
    c: &Common,
    target: &Target,
    clients: usize,
    offset: usize,
    label: &str,
) -> Result<(Vec<Conn>, Vec<String>)> {
    let users: Vec<String> = (0..clients).map(|i| format!("u{}", offset + i)).collect();
    let tokens = users
        .iter()
        .map(|u| Some(mint(&c.jwt_secret, u, u, "student")))
        .collect();
    let conns = connect_all(target, tokens, c.concurrency).await;
    if let Some(Err(e)) = conns.iter().find(|r| r.is_err()) {
        bail!("a client connection failed: {e:#}");
    }
    let conns: Vec<Conn> = conns.into_iter().map(Result::unwrap).collect();
    let mut admin = Conn::connect(target, Some(&admin_token(c)), ConnOpts::default()).await?;
    let rooms: Vec<Vec<String>> = users.iter().map(|u| vec![u.clone()]).collect();
    let room_ids = create_rooms(&mut admin, &rooms, label).await?;
    admin.close().await;
    Ok((conns, room_ids))
}

fn ack_ok(payload: &str) -> bool {
    serde_json::from_str::<Value>(payload)
        .map(|v| v[0]["ok"] == true)
        .unwrap_or(false)
}
