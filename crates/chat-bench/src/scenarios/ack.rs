//! `ack`: closed-loop `message` with acks, each client alone in its room;
//! acked messages/s, ack latency and server CPU per ack.

use super::*;

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
