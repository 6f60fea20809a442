//! `connections`: opens N websocket clients, holds them, and measures the
//! connect rate and latency and the server's RSS per connection.

use super::*;

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

#[cfg(test)]
mod tests {
    use super::*;

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
