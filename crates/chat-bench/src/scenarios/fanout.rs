//! `fanout`: R rooms × M members, S senders per room at a fixed total rate;
//! deliveries, delivery latency and server CPU per delivery.

use super::*;

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
    /// Senders that have seen the drain begin and will send no more.
    stopped: AtomicU64,
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
                    Phase::Drain => {
                        // Only now, after any send in progress was counted.
                        if ticker.is_some() { cnt.stopped.fetch_add(1, Relaxed); }
                        sending = false;
                    }
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
    // Client `k` connects to node `k % nodes`: with as many members per room
    // as nodes or more, every room has members on each node, and most
    // deliveries cross nodes.
    let targets = parse_targets(&c.url).await?;
    let target = &targets[0];
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
    let conns = connect_spread(&targets, tokens, c.concurrency).await;
    let failed = conns.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = conns.iter().find(|r| r.is_err()) {
        bail!("{failed} member connections failed, first: {e:#}");
    }
    let mut conns: Vec<Conn> = conns.into_iter().map(Result::unwrap).collect();
    let mut admin = Conn::connect(target, Some(&admin_token(c)), ConnOpts::default()).await?;
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
    // A tick may be sending while the drain begins: what is expected is
    // known once every sender has stopped (bounded: a sender whose
    // connection closed never says so).
    let senders = (a.rooms * a.senders) as u64;
    wait_until(OP_TIMEOUT, || {
        cnt.stopped.load(Relaxed) + cnt.closed.load(Relaxed) >= senders
    })
    .await;
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
    v["nodes"] = json!(targets.len());
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
}
