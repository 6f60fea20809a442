//! `support`: visitors arriving at a rate against a pool of agents; time to assignment.

use super::*;

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
