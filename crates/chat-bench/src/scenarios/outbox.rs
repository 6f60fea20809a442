//! `outbox`: messages queued while the Odoo double is down, then the drain
//! rate once it is back (needs a gateway with the Odoo bridge).

use super::*;

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
