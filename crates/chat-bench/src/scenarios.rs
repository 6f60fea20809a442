//! The load scenarios. Each one prints a single JSON line.

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

use crate::sio::{self, Conn, ConnOpts, Packet, Target};
use crate::stats::{self, mint, new_hist, now_micros, record, summary_ms};

/// Options every scenario shares.
#[derive(clap::Args, Clone, Debug)]
pub struct Common {
    /// Server base URL (loopback only).
    #[arg(long, default_value = "http://127.0.0.1:3001")]
    pub url: String,
    /// HS256 secret the server verifies tokens with.
    #[arg(long, env = "JWT_SECRET", default_value = "bench-secret")]
    pub jwt_secret: String,
    /// Server PID, for CPU time and RSS from /proc.
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
        .as_deref()
        .and_then(|p| stats::proc_cpu_secs(p).ok())?;
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
    stream::iter(tokens)
        .map(|t| {
            let target = target.clone();
            async move { Conn::connect(&target, t.as_deref(), ConnOpts::default()).await }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await
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

// ---------------------------------------------------------------- directory

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

// ---------------------------------------------------------------- connections

#[derive(clap::Args, Debug)]
pub struct ConnectionsArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = 1000)]
    pub clients: usize,
    /// Connections per source address (127.1.x.y) before moving to the next;
    /// well below the ~28k ephemeral ports, since TIME_WAIT sockets of an
    /// earlier run also hold ports of the same source address.
    #[arg(long, default_value_t = 4000)]
    pub per_ip: usize,
    /// Hold the connections this long after the last connect, then measure RSS.
    #[arg(long, default_value_t = 5.0)]
    pub hold_secs: f64,
    /// Upper bound for the whole connect phase.
    #[arg(long, default_value_t = 120.0)]
    pub timeout_secs: f64,
    /// Connect as guests instead of JWT users.
    #[arg(long)]
    pub guest: bool,
    /// Cycle through the directory users u0 … u{K-1} (several tabs per user)
    /// instead of N distinct users c0 … c{N-1} that are new to the server.
    #[arg(long)]
    pub user_pool: Option<usize>,
}

fn source_ip(i: usize, per_ip: usize) -> IpAddr {
    let k = i / per_ip.max(1);
    IpAddr::V4(Ipv4Addr::new(127, 1, (k / 254) as u8, (k % 254 + 1) as u8))
}

pub async fn connections(a: ConnectionsArgs) -> Result<()> {
    let c = &a.common;
    let target = Target::parse(&c.url).await?;
    let rss_before = c
        .server_pid
        .as_deref()
        .and_then(|p| stats::proc_rss_kb(p).ok());
    let hist = Arc::new(Mutex::new(new_hist()));
    let connected = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicU64::new(0));
    let errors: Arc<Mutex<std::collections::BTreeMap<String, u64>>> = Arc::default();
    let sem = Arc::new(Semaphore::new(c.concurrency.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let gen_cpu0 = self_cpu();
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(a.clients);
    for i in 0..a.clients {
        let user = match a.user_pool {
            Some(k) => format!("u{}", i % k.max(1)),
            None => format!("c{i}"),
        };
        let token = (!a.guest).then(|| mint(&c.jwt_secret, &user, &user, "student"));
        let opts = ConnOpts {
            local_ip: Some(source_ip(i, a.per_ip)),
            read_buffer: 4096,
            timeout: Duration::from_secs(30),
        };
        let (target, hist, connected, finished, errors, sem) = (
            target.clone(),
            hist.clone(),
            connected.clone(),
            finished.clone(),
            errors.clone(),
            sem.clone(),
        );
        let mut stop = stop_rx.clone();
        tasks.push(tokio::spawn(async move {
            let permit = sem.acquire_owned().await;
            let start = Instant::now();
            let res = Conn::connect(&target, token.as_deref(), opts).await;
            drop(permit);
            let mut conn = match res {
                Ok(conn) => {
                    record(
                        &mut hist.lock().unwrap(),
                        start.elapsed().as_micros() as u64,
                    );
                    connected.fetch_add(1, Relaxed);
                    finished.fetch_add(1, Relaxed);
                    conn
                }
                Err(e) => {
                    let key = format!("{e:#}").chars().take(80).collect::<String>();
                    *errors.lock().unwrap().entry(key).or_default() += 1;
                    finished.fetch_add(1, Relaxed);
                    return;
                }
            };
            // hold: answer pings until told to stop
            loop {
                tokio::select! {
                    _ = stop.changed() => break,
                    f = conn.recv() => match f {
                        Ok(Some(_)) => {}
                        _ => break,
                    },
                }
            }
            drop(conn);
        }));
    }
    let n = a.clients as u64;
    let all_done = wait_until(Duration::from_secs_f64(a.timeout_secs), || {
        finished.load(Relaxed) >= n
    })
    .await;
    let connect_secs = t0.elapsed().as_secs_f64();
    sleep(Duration::from_secs_f64(a.hold_secs)).await;
    let still_open = tasks.iter().filter(|t| !t.is_finished()).count();
    let rss_after = c
        .server_pid
        .as_deref()
        .and_then(|p| stats::proc_rss_kb(p).ok());
    let gen_cpu = self_cpu() - gen_cpu0;
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = timeout(Duration::from_secs(10), t).await;
    }
    let ok = connected.load(Relaxed);
    let per_conn = match (rss_before, rss_after) {
        (Some(b), Some(a)) if ok > 0 => Some(((a as f64 - b as f64) * 1024.0 / ok as f64).round()),
        _ => None,
    };
    let mut v = base(c, "connections");
    v["clients"] = json!(a.clients);
    v["users"] = json!(match (a.guest, a.user_pool) {
        (true, _) => "guests".to_string(),
        (false, Some(k)) => format!("{k} directory users, cycled"),
        (false, None) => format!("{} new JWT users", a.clients),
    });
    v["connected"] = json!(ok);
    v["failed"] = json!(n - ok);
    v["held_open_at_end"] = json!(still_open);
    v["all_attempts_finished"] = json!(all_done);
    v["connect_secs"] = json!(round3(connect_secs));
    v["connects_per_s"] = json!(round3(ok as f64 / connect_secs));
    v["connect_latency_ms"] = summary_ms(&hist.lock().unwrap());
    v["server_rss_before_kb"] = json!(rss_before);
    v["server_rss_after_kb"] = json!(rss_after);
    v["server_rss_per_conn_bytes"] = json!(per_conn);
    v["generator_cpu_s"] = json!(round3(gen_cpu));
    v["errors"] = json!(*errors.lock().unwrap());
    emit_result(c, &v)
}

// ---------------------------------------------------------------- fanout

#[derive(clap::Args, Debug)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub common: Common,
    #[arg(long, default_value_t = 10)]
    pub rooms: usize,
    #[arg(long, default_value_t = 50)]
    pub members: usize,
    /// Senders per room (the first members of each room).
    #[arg(long, default_value_t = 2)]
    pub senders: usize,
    /// Total messages per second over all senders.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// After the senders stop, wait at most this long for deliveries.
    #[arg(long, default_value_t = 5.0)]
    pub drain_secs: f64,
    /// Index of the first user (u<offset>…), to use fresh users per run.
    #[arg(long, default_value_t = 0)]
    pub user_offset: usize,
    /// Also call `join` on every member (servers that do not auto-join).
    #[arg(long)]
    pub join: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Warmup,
    Run,
    Drain,
    Done,
}

#[derive(Default)]
struct Counters {
    sent: AtomicU64,
    delivered: AtomicU64,
    ready: AtomicU64,
    closed: AtomicU64,
    errors: AtomicU64,
}

/// Content the fan-out senders write: `b <micros> <sender> <seq>`, or the
/// probe `p <sender>`. Returns (kind, sender, micros).
fn parse_content(s: &str) -> Option<(char, u64, u64)> {
    let mut it = s.split(' ');
    match it.next()? {
        "b" => {
            let ts = it.next()?.parse().ok()?;
            let sender = it.next()?.parse().ok()?;
            Some(('b', sender, ts))
        }
        "p" => Some(('p', it.next()?.parse().ok()?, 0)),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
async fn fanout_member(
    mut conn: Conn,
    me: u64,
    room: Arc<str>,
    every: Option<Duration>,
    probe: bool,
    mut phase: watch::Receiver<Phase>,
    cnt: Arc<Counters>,
) -> Histogram<u64> {
    let mut hist = new_hist();
    let mut ticker = every.map(|d| {
        let mut i = interval(d);
        i.set_missed_tick_behavior(MissedTickBehavior::Burst);
        i
    });
    let mut sending = false;
    let mut seq = 0u64;
    let mut probe_seen = false;
    if probe {
        let data = json!({ "roomId": &*room, "content": format!("p {me}") }).to_string();
        if conn.emit("message", &data).await.is_err() {
            cnt.errors.fetch_add(1, Relaxed);
        }
    }
    loop {
        tokio::select! {
            biased;
            ch = phase.changed() => {
                if ch.is_err() { break; }
                let p = *phase.borrow_and_update();
                match p {
                    Phase::Run => {
                        sending = ticker.is_some();
                        if let Some(t) = ticker.as_mut() { t.reset_immediately(); }
                    }
                    Phase::Drain => sending = false,
                    Phase::Done => break,
                    Phase::Warmup => {}
                }
            }
            _ = tick(&mut ticker), if sending => {
                let data = format!(r#"{{"roomId":"{room}","content":"b {} {me} {seq}"}}"#, now_micros());
                seq += 1;
                match conn.emit("message", &data).await {
                    Ok(()) => { cnt.sent.fetch_add(1, Relaxed); }
                    Err(_) => { cnt.errors.fetch_add(1, Relaxed); }
                }
            }
            f = conn.recv() => {
                let frame = match f {
                    Ok(Some(f)) => f,
                    _ => { cnt.closed.fetch_add(1, Relaxed); break; }
                };
                if let Packet::Event { payload, .. } = sio::decode(&frame) {
                    if sio::event_name(payload) != Some("message") { continue; }
                    let Some((kind, sender, ts)) = sio::event_first_arg(payload).and_then(|m| sio::scan_str_field(m, "content")).and_then(parse_content) else { continue };
                    if sender == me { continue; }
                    if kind == 'b' {
                        record(&mut hist, now_micros().saturating_sub(ts));
                        cnt.delivered.fetch_add(1, Relaxed);
                    } else if !probe_seen {
                        probe_seen = true;
                        cnt.ready.fetch_add(1, Relaxed);
                    }
                }
            }
        }
    }
    hist
}

pub async fn fanout(a: FanoutArgs) -> Result<()> {
    let c = &a.common;
    if a.members < 2 || a.senders == 0 || a.senders > a.members {
        bail!("need members >= 2 and 1 <= senders <= members");
    }
    let target = Target::parse(&c.url).await?;
    let user = |r: usize, j: usize| a.user_offset + r * a.members + j;
    let members: Vec<Vec<String>> = (0..a.rooms)
        .map(|r| (0..a.members).map(|j| format!("u{}", user(r, j))).collect())
        .collect();
    let tokens: Vec<Option<String>> = members
        .iter()
        .flatten()
        .map(|u| Some(mint(&c.jwt_secret, u, u, "student")))
        .collect();
    let setup_t = Instant::now();
    let conns = connect_all(&target, tokens, c.concurrency).await;
    let failed = conns.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = conns.iter().find(|r| r.is_err()) {
        bail!("{failed} member connections failed, first: {e:#}");
    }
    let mut conns: Vec<Conn> = conns.into_iter().map(Result::unwrap).collect();
    let mut admin = Conn::connect(&target, Some(&admin_token(c)), ConnOpts::default()).await?;
    let room_ids = create_rooms(&mut admin, &members, "fanout").await?;
    admin.close().await;
    if a.join {
        for (k, conn) in conns.iter_mut().enumerate() {
            let room = &room_ids[k / a.members];
            let ack = conn
                .call("join", &json!({ "roomId": room }), OP_TIMEOUT)
                .await?;
            if ack["ok"] != true {
                bail!("join answered {ack}");
            }
        }
    }
    let per_sender = a.rate / (a.rooms * a.senders) as f64;
    let every = Duration::from_secs_f64(1.0 / per_sender.max(1e-6));
    let cnt = Arc::new(Counters::default());
    let (phase_tx, phase_rx) = watch::channel(Phase::Warmup);
    let mut tasks = Vec::with_capacity(conns.len());
    for (k, conn) in conns.into_iter().enumerate() {
        let (r, j) = (k / a.members, k % a.members);
        let room: Arc<str> = Arc::from(room_ids[r].as_str());
        let sender = j < a.senders;
        tasks.push(tokio::spawn(fanout_member(
            conn,
            user(r, j) as u64,
            room,
            sender.then_some(every),
            j == 0,
            phase_rx.clone(),
            cnt.clone(),
        )));
    }
    let want_ready = (a.rooms * (a.members - 1)) as u64;
    let all_ready = wait_until(OP_TIMEOUT, || cnt.ready.load(Relaxed) >= want_ready).await;
    let setup_secs = setup_t.elapsed().as_secs_f64();

    let cpu0 = server_cpu(c);
    let gen0 = self_cpu();
    let t0 = Instant::now();
    phase_tx.send(Phase::Run)?;
    sleep(Duration::from_secs_f64(a.duration)).await;
    phase_tx.send(Phase::Drain)?;
    let run_secs = t0.elapsed().as_secs_f64();
    let t_drain = Instant::now();
    let fan = (a.members - 1) as u64;
    let drained = wait_until(Duration::from_secs_f64(a.drain_secs), || {
        cnt.delivered.load(Relaxed) >= cnt.sent.load(Relaxed) * fan
    })
    .await;
    let drain_secs = t_drain.elapsed().as_secs_f64();
    let cpu1 = server_cpu(c);
    let gen_cpu = self_cpu() - gen0;
    phase_tx.send(Phase::Done)?;
    let mut hist = new_hist();
    for t in tasks {
        if let Ok(Ok(h)) = timeout(Duration::from_secs(10), t).await {
            hist.add(&h).ok();
        }
    }
    let sent = cnt.sent.load(Relaxed);
    let delivered = cnt.delivered.load(Relaxed);
    let expected = sent * fan;
    let server_cpu_s = match (cpu0, cpu1) {
        (Some(x), Some(y)) => Some(round3(y - x)),
        _ => None,
    };
    let mut v = base(c, "fanout");
    v["rooms"] = json!(a.rooms);
    v["members"] = json!(a.members);
    v["senders"] = json!(a.senders);
    v["target_rate"] = json!(a.rate);
    v["target_deliveries_per_s"] = json!(a.rate * fan as f64);
    v["duration_s"] = json!(round3(run_secs));
    v["setup_s"] = json!(round3(setup_secs));
    v["all_members_ready"] = json!(all_ready);
    v["ready_members"] = json!(cnt.ready.load(Relaxed));
    v["sent"] = json!(sent);
    v["sent_per_s"] = json!(round3(sent as f64 / run_secs));
    v["expected_deliveries"] = json!(expected);
    v["delivered"] = json!(delivered);
    v["delivery_ratio"] = json!(if expected > 0 {
        round3(delivered as f64 / expected as f64)
    } else {
        0.0
    });
    v["deliveries_per_s"] = json!(round3(delivered as f64 / run_secs));
    v["drained"] = json!(drained);
    v["drain_s"] = json!(round3(drain_secs));
    v["latency_ms"] = summary_ms(&hist);
    v["server_cpu_s"] = json!(server_cpu_s);
    v["server_cpu_us_per_delivery"] = json!(server_cpu_s
        .filter(|_| delivered > 0)
        .map(|s| round3(s * 1e6 / delivered as f64)));
    v["generator_cpu_s"] = json!(round3(gen_cpu));
    v["closed_connections"] = json!(cnt.closed.load(Relaxed));
    v["send_errors"] = json!(cnt.errors.load(Relaxed));
    emit_result(c, &v)
}

// ---------------------------------------------------------------- ack

#[derive(clap::Args, Debug)]
pub struct AckArgs {
    #[command(flatten)]
    pub common: Common,
    /// Closed-loop clients, each alone in its own room.
    #[arg(long, default_value_t = 20)]
    pub clients: usize,
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    #[arg(long, default_value_t = 0)]
    pub user_offset: usize,
}

#[derive(Default)]
struct AckOutcome {
    acked: u64,
    rejected: u64,
    timeouts: u64,
    first_error: Option<String>,
}

async fn ack_client(
    mut conn: Conn,
    room: String,
    deadline: Instant,
) -> (Histogram<u64>, AckOutcome) {
    let mut hist = new_hist();
    let mut out = AckOutcome::default();
    let mut seq = 0u64;
    while Instant::now() < deadline {
        let data = format!(r#"{{"roomId":"{room}","content":"a {seq}"}}"#);
        seq += 1;
        let t = Instant::now();
        let id = match conn.emit_ack("message", &data).await {
            Ok(id) => id,
            Err(e) => {
                out.first_error.get_or_insert(format!("{e:#}"));
                break;
            }
        };
        let waited = timeout(OP_TIMEOUT, async {
            loop {
                match conn.recv().await {
                    Ok(Some(f)) => {
                        if let Packet::Ack { id: got, payload } = sio::decode(&f) {
                            if got == id {
                                return Some(
                                    payload.starts_with(r#"[{"ok":true"#) || ack_ok(payload),
                                );
                            }
                        }
                    }
                    _ => return None,
                }
            }
        })
        .await;
        match waited {
            Ok(Some(true)) => {
                record(&mut hist, t.elapsed().as_micros() as u64);
                out.acked += 1;
            }
            Ok(Some(false)) => {
                out.rejected += 1;
            }
            Ok(None) => {
                out.first_error.get_or_insert("connection closed".into());
                break;
            }
            Err(_) => {
                out.timeouts += 1;
                break;
            }
        }
    }
    conn.close().await;
    (hist, out)
}

fn ack_ok(payload: &str) -> bool {
    serde_json::from_str::<Value>(payload)
        .map(|v| v[0]["ok"] == true)
        .unwrap_or(false)
}

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

pub async fn ack(a: AckArgs) -> Result<()> {
    let c = &a.common;
    let target = Target::parse(&c.url).await?;
    let (conns, room_ids) = solo_rooms(c, &target, a.clients, a.user_offset, "ack").await?;

    let cpu0 = server_cpu(c);
    let gen0 = self_cpu();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(a.duration);
    let tasks: Vec<_> = conns
        .into_iter()
        .zip(room_ids)
        .map(|(conn, room)| tokio::spawn(ack_client(conn, room, deadline)))
        .collect();
    let mut hist = new_hist();
    let mut total = AckOutcome::default();
    for t in tasks {
        if let Ok((h, o)) = t.await {
            hist.add(&h).ok();
            total.acked += o.acked;
            total.rejected += o.rejected;
            total.timeouts += o.timeouts;
            if total.first_error.is_none() {
                total.first_error = o.first_error;
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = server_cpu(c);
    let mut v = base(c, "ack");
    v["clients"] = json!(a.clients);
    v["duration_s"] = json!(round3(secs));
    v["acked"] = json!(total.acked);
    v["acked_per_s"] = json!(round3(total.acked as f64 / secs));
    v["rejected"] = json!(total.rejected);
    v["timeouts"] = json!(total.timeouts);
    v["first_error"] = json!(total.first_error);
    v["ack_latency_ms"] = summary_ms(&hist);
    let server_cpu_s = match (cpu0, cpu1) {
        (Some(x), Some(y)) => Some(round3(y - x)),
        _ => None,
    };
    v["server_cpu_s"] = json!(server_cpu_s);
    v["server_cpu_us_per_ack"] = json!(server_cpu_s
        .filter(|_| total.acked > 0)
        .map(|s| round3(s * 1e6 / total.acked as f64)));
    v["generator_cpu_s"] = json!(round3(self_cpu() - gen0));
    emit_result(c, &v)
}

// ---------------------------------------------------------------- support

#[derive(clap::Args, Debug)]
pub struct SupportArgs {
    #[command(flatten)]
    pub common: Common,
    /// Agents agent0 … (must be support agents in the server's directory).
    #[arg(long, default_value_t = 10)]
    pub agents: usize,
    /// Visitors per second.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// How long a visitor chats once assigned before `support:end`.
    #[arg(long, default_value_t = 1.0)]
    pub chat_secs: f64,
    /// Give up waiting for an assignment after this long.
    #[arg(long, default_value_t = 20.0)]
    pub assign_timeout: f64,
}

#[derive(Debug, Default)]
struct VisitorOutcome {
    assign_us: Option<u64>,
    queued: bool,
    error: Option<String>,
}

async fn visitor(
    target: Target,
    i: usize,
    chat: Duration,
    assign_timeout: Duration,
) -> VisitorOutcome {
    let mut out = VisitorOutcome::default();
    let mut conn = match Conn::connect(&target, None, ConnOpts::default()).await {
        Ok(c) => c,
        Err(e) => {
            out.error = Some(format!("connect: {e:#}"));
            return out;
        }
    };
    let t0 = Instant::now();
    let mut assigned_early = false;
    let form = json!({ "name": format!("Visitor {i}"), "email": format!("visitor{i}@example.org"),
        "queryType": "technical_support", "message": "Hello, my course video does not load." });
    let ack = conn
        .call_with("support:start", &form, OP_TIMEOUT, |p| {
            if sio::event_name(p) == Some("support:assigned") {
                assigned_early = true;
            }
        })
        .await;
    let ack = match ack {
        Ok(v) if v["ok"] == true => v,
        Ok(v) => {
            out.error = Some(format!("support:start answered {v}"));
            return out;
        }
        Err(e) => {
            out.error = Some(format!("{e:#}"));
            return out;
        }
    };
    let room = ack["conversation"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if ack["status"] == "assigned" || assigned_early {
        out.assign_us = Some(t0.elapsed().as_micros() as u64);
    } else {
        out.queued = true;
        let waited = timeout(assign_timeout, async {
            loop {
                match conn.recv().await {
                    Ok(Some(f)) => {
                        if let Packet::Event { payload, .. } = sio::decode(&f) {
                            if sio::event_name(payload) == Some("support:assigned") {
                                return true;
                            }
                        }
                    }
                    _ => return false,
                }
            }
        })
        .await;
        match waited {
            Ok(true) => out.assign_us = Some(t0.elapsed().as_micros() as u64),
            Ok(false) => out.error = Some("closed while queued".into()),
            Err(_) => out.error = Some("not assigned in time".into()),
        }
    }
    // chat for a while (workload think time), then end the chat
    let until = Instant::now() + chat;
    let data = json!({ "roomId": room, "content": "Thanks, trying that now." }).to_string();
    let _ = conn.emit("message", &data).await;
    let _ = timeout(until.saturating_duration_since(Instant::now()), async {
        while let Ok(Some(_)) = conn.recv().await {}
    })
    .await;
    if let Err(e) = conn
        .call("support:end", &json!({ "roomId": room }), OP_TIMEOUT)
        .await
    {
        out.error.get_or_insert(format!("support:end: {e:#}"));
    }
    conn.close().await;
    out
}

pub async fn support(a: SupportArgs) -> Result<()> {
    let c = &a.common;
    let target = Target::parse(&c.url).await?;
    let tokens = (0..a.agents)
        .map(|i| {
            Some(mint(
                &c.jwt_secret,
                &format!("agent{i}"),
                &format!("Agent {i}"),
                "support-agent",
            ))
        })
        .collect();
    let agents = connect_all(&target, tokens, c.concurrency).await;
    if let Some(Err(e)) = agents.iter().find(|r| r.is_err()) {
        bail!("an agent connection failed: {e:#}");
    }
    let (stop_tx, stop_rx) = watch::channel(false);
    let assigned_to_agents = Arc::new(AtomicU64::new(0));
    let agent_tasks: Vec<_> = agents
        .into_iter()
        .map(Result::unwrap)
        .map(|mut conn| {
            let mut stop = stop_rx.clone();
            let n = assigned_to_agents.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.changed() => break,
                        f = conn.recv() => match f {
                            Ok(Some(f)) => {
                                if let Packet::Event { payload, .. } = sio::decode(&f) {
                                    if sio::event_name(payload) == Some("conversation:new") {
                                        n.fetch_add(1, Relaxed);
                                    }
                                }
                            }
                            _ => break,
                        },
                    }
                }
                conn.close().await;
            })
        })
        .collect();
    let cpu0 = server_cpu(c);
    let t0 = Instant::now();
    let total = (a.rate * a.duration).round() as usize;
    let mut every = interval(Duration::from_secs_f64(1.0 / a.rate.max(1e-6)));
    every.set_missed_tick_behavior(MissedTickBehavior::Burst);
    let mut visitors = Vec::with_capacity(total);
    for i in 0..total {
        every.tick().await;
        visitors.push(tokio::spawn(visitor(
            target.clone(),
            i,
            Duration::from_secs_f64(a.chat_secs),
            Duration::from_secs_f64(a.assign_timeout),
        )));
    }
    let mut hist = new_hist();
    let (mut assigned, mut queued, mut errors) =
        (0u64, 0u64, std::collections::BTreeMap::<String, u64>::new());
    for v in visitors {
        match timeout(
            Duration::from_secs_f64(a.assign_timeout + a.chat_secs + 30.0),
            v,
        )
        .await
        {
            Ok(Ok(o)) => {
                if let Some(us) = o.assign_us {
                    record(&mut hist, us);
                    assigned += 1;
                }
                queued += o.queued as u64;
                if let Some(e) = o.error {
                    *errors.entry(e.chars().take(80).collect()).or_default() += 1;
                }
            }
            _ => {
                *errors
                    .entry("visitor task did not finish".into())
                    .or_default() += 1
            }
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = server_cpu(c);
    let _ = stop_tx.send(true);
    for t in agent_tasks {
        let _ = timeout(Duration::from_secs(5), t).await;
    }
    let mut v = base(c, "support");
    v["agents"] = json!(a.agents);
    v["arrival_rate"] = json!(a.rate);
    v["duration_s"] = json!(round3(secs));
    v["visitors"] = json!(total);
    v["assigned"] = json!(assigned);
    v["queued_first"] = json!(queued);
    v["agent_conversation_new"] = json!(assigned_to_agents.load(Relaxed));
    v["time_to_assignment_ms"] = summary_ms(&hist);
    v["server_cpu_s"] = json!(match (cpu0, cpu1) {
        (Some(x), Some(y)) => Some(round3(y - x)),
        _ => None,
    });
    v["errors"] = json!(errors);
    emit_result(c, &v)
}

// ---------------------------------------------------------------- outbox

#[derive(clap::Args, Debug)]
pub struct OutboxArgs {
    #[command(flatten)]
    pub common: Common,
    /// URL of the Odoo double the gateway is configured with (ODOO_URL).
    /// Without it (e.g. against the Node baseline) the scenario is skipped.
    #[arg(long)]
    pub odoo_url: Option<String>,
    /// Messages sent (with acks) while Odoo is down.
    #[arg(long, default_value_t = 20_000)]
    pub messages: usize,
    /// Closed-loop clients sending them, each alone in its own room.
    #[arg(long, default_value_t = 20)]
    pub clients: usize,
    /// Added latency of every Odoo RPC once Odoo is back.
    #[arg(long, default_value_t = 20)]
    pub delay_ms: u64,
    /// Longest wait for the backlog to drain.
    #[arg(long, default_value_t = 300.0)]
    pub timeout_secs: f64,
    #[arg(long, default_value_t = 0)]
    pub user_offset: usize,
}

/// One HTTP/1.1 request over a fresh loopback connection; returns (status, body).
async fn http_call(
    url: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let target = Target::parse(url).await?;
    let mut tcp = timeout(OP_TIMEOUT, tokio::net::TcpStream::connect(target.addr))
        .await
        .context("HTTP connect timed out")??;
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        target.addr,
        body.len()
    );
    tcp.write_all(req.as_bytes()).await?;
    let mut raw = Vec::new();
    timeout(OP_TIMEOUT, tcp.read_to_end(&mut raw))
        .await
        .context("HTTP answer timed out")??;
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("not an HTTP answer: {text:.80}"))?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    // Chunked bodies: the JSON is the part between the size lines.
    let body = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) if b >= a => &body[a..=b],
        _ => body,
    };
    Ok((status, body.to_string()))
}

async fn odoo_faults(odoo: &str, faults: Value) -> Result<()> {
    let (status, body) = http_call(odoo, "POST", "/__double__/faults", Some(&faults)).await?;
    if status != 200 {
        bail!("the Odoo double refused faults {faults}: {status} {body}");
    }
    Ok(())
}

/// `backends.odoo.backlog` of the gateway's `/health`.
async fn outbox_backlog(url: &str) -> Result<u64> {
    let (_, body) = http_call(url, "GET", "/health", None).await?;
    let v: Value = serde_json::from_str(&body).with_context(|| format!("/health: {body:.200}"))?;
    v["backends"]["odoo"]["backlog"]
        .as_u64()
        .ok_or_else(|| anyhow!("/health has no backends.odoo.backlog: {body:.200}"))
}

/// Write-behind drain to Odoo: with the double `down`, C clients send N
/// messages with acks (each one queues an outbox item in its transaction);
/// then the double comes back with `delay_ms` per RPC and the scenario polls
/// `/health` every 100 ms until the backlog is 0. Reports items drained per second, from
/// the fault switch and from the first batch Odoo took (the gateway's retry
/// backoff may wait a little before it tries again).
pub async fn outbox(a: OutboxArgs) -> Result<()> {
    let c = &a.common;
    let Some(odoo) = a.odoo_url.clone() else {
        let mut v = base(c, "outbox");
        v["skipped"] = json!(true);
        v["reason"] = json!(
            "no Odoo bridge: the scenario needs a gateway started with ODOO_URL and --odoo-url"
        );
        return emit_result(c, &v);
    };
    Target::parse(&odoo).await?; // loopback only
    odoo_faults(&odoo, json!({ "reset": true })).await?;
    odoo_faults(&odoo, json!({ "down": true })).await?;

    let target = Target::parse(&c.url).await?;
    let (conns, room_ids) = solo_rooms(c, &target, a.clients, a.user_offset, "outbox").await?;

    // Fill the outbox while Odoo is down.
    let per_client = a.messages.div_ceil(a.clients.max(1));
    let t_fill = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .zip(room_ids)
        .map(|(conn, room)| tokio::spawn(ack_client_n(conn, room, per_client)))
        .collect();
    let mut acked = 0u64;
    for t in tasks {
        if let Ok(n) = t.await {
            acked += n;
        }
    }
    let fill_s = t_fill.elapsed().as_secs_f64();
    let backlog = outbox_backlog(&c.url).await?;

    // Odoo comes back, slow.
    let cpu0 = server_cpu(c);
    odoo_faults(&odoo, json!({ "down": false, "delay_ms": a.delay_ms })).await?;
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(a.timeout_secs);
    let mut first_drop: Option<f64> = None;
    let mut left = backlog;
    while Instant::now() < deadline {
        left = outbox_backlog(&c.url).await?;
        if left < backlog && first_drop.is_none() {
            first_drop = Some(t0.elapsed().as_secs_f64());
        }
        if left == 0 {
            break;
        }
        // Each poll costs the gateway a `count(*)` over the outbox: poll
        // gently (the drain time is known to ±100 ms).
        sleep(Duration::from_millis(100)).await;
    }
    let drain_s = t0.elapsed().as_secs_f64();
    let cpu1 = server_cpu(c);
    odoo_faults(&odoo, json!({ "reset": true })).await.ok();

    let mut v = base(c, "outbox");
    v["odoo_url"] = json!(odoo);
    v["clients"] = json!(a.clients);
    v["messages_acked"] = json!(acked);
    v["fill_s"] = json!(round3(fill_s));
    v["backlog"] = json!(backlog);
    v["delay_ms"] = json!(a.delay_ms);
    v["drained"] = json!(left == 0);
    v["left"] = json!(left);
    v["drain_s"] = json!(round3(drain_s));
    v["drained_per_s"] = json!(round3((backlog - left) as f64 / drain_s));
    // From the first accepted batch: excludes the backoff wait after the outage.
    v["drain_from_first_batch_s"] = json!(first_drop.map(|f| round3(drain_s - f)));
    v["drained_per_s_from_first_batch"] = json!(first_drop
        .filter(|f| drain_s - f > 0.0)
        .map(|f| round3((backlog - left) as f64 / (drain_s - f))));
    v["server_cpu_s"] = json!(match (cpu0, cpu1) {
        (Some(x), Some(y)) => Some(round3(y - x)),
        _ => None,
    });
    emit_result(c, &v)
}

/// Sends `n` messages with acks in a closed loop; returns how many were acked.
async fn ack_client_n(mut conn: Conn, room: String, n: usize) -> u64 {
    let mut acked = 0;
    for seq in 0..n {
        let data = format!(r#"{{"roomId":"{room}","content":"o {seq}"}}"#);
        let Ok(id) = conn.emit_ack("message", &data).await else {
            break;
        };
        let ok = timeout(OP_TIMEOUT, async {
            loop {
                match conn.recv().await {
                    Ok(Some(f)) => {
                        if let Packet::Ack { id: got, payload } = sio::decode(&f) {
                            if got == id {
                                return payload.starts_with(r#"[{"ok":true"#) || ack_ok(payload);
                            }
                        }
                    }
                    _ => return false,
                }
            }
        })
        .await;
        match ok {
            Ok(true) => acked += 1,
            _ => break,
        }
    }
    conn.close().await;
    acked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bench_content() {
        assert_eq!(parse_content("b 123 7 0"), Some(('b', 7, 123)));
        assert_eq!(parse_content("p 9"), Some(('p', 9, 0)));
        assert_eq!(parse_content("hello"), None);
        assert_eq!(parse_content("b x 7 0"), None);
    }

    #[test]
    fn spreads_source_addresses_over_loopback() {
        assert_eq!(source_ip(0, 100), IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1)));
        assert_eq!(source_ip(99, 100), IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1)));
        assert_eq!(source_ip(100, 100), IpAddr::V4(Ipv4Addr::new(127, 1, 0, 2)));
        assert_eq!(
            source_ip(254 * 100, 100),
            IpAddr::V4(Ipv4Addr::new(127, 1, 1, 1))
        );
        assert!(source_ip(5_000_000, 20000).is_loopback());
    }
}
