//! Percentiles, /proc readings, tokens.

use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// Microsecond histogram, 1 µs .. 120 s, 2 significant digits (1 % error,
/// ~20 KB each, so one per client task is affordable).
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 2).expect("valid histogram bounds")
}

pub fn record(h: &mut Histogram<u64>, micros: u64) {
    h.saturating_record(micros.max(1));
}

/// `{count, p50, p90, p99, p999, max, mean}` in milliseconds (3 decimals).
pub fn summary_ms(h: &Histogram<u64>) -> Value {
    let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
    if h.is_empty() {
        return json!({ "count": 0 });
    }
    json!({
        "count": h.len(),
        "p50": ms(h.value_at_quantile(0.50)),
        "p90": ms(h.value_at_quantile(0.90)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p999": ms(h.value_at_quantile(0.999)),
        "max": ms(h.max()),
        "mean": (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
    })
}

/// Process-wide monotonic base, so senders and receivers in this process
/// share one clock: content carries micros since this instant.
pub fn now_micros() -> u64 {
    static BASE: OnceLock<Instant> = OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_micros() as u64
}

const CLK_TCK: f64 = 100.0;

/// utime + stime of a process in seconds, from /proc/PID/stat.
pub fn proc_cpu_secs(pid: &str) -> Result<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    parse_stat_cpu(&s).context("parsing /proc/PID/stat")
}

pub fn parse_stat_cpu(stat: &str) -> Option<f64> {
    // fields after the command name (which may contain spaces) in parentheses
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime 15
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / CLK_TCK)
}

/// utime + stime, in seconds, of every live process whose parent is `ppid`
/// (e.g. a database's backends). A child that exits between two readings
/// takes its time with it: read while the server's connections are open.
pub fn children_cpu_secs(ppid: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|stat| {
            stat.rfind(')')
                .and_then(|i| stat.get(i + 2..))
                .and_then(|rest| rest.split_whitespace().nth(1))
                == Some(ppid)
        })
        .filter_map(|stat| parse_stat_cpu(&stat))
        .sum()
}

/// Resident set size in KiB from /proc/PID/status.
pub fn proc_rss_kb(pid: &str) -> Result<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

/// HS256 JWT with the claims the gateway reads (protocol §1).
pub fn mint(secret: &str, sub: &str, name: &str, role: &str) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + 6 * 3600;
    let claims = json!({ "sub": sub, "name": name, "role": role, "exp": exp });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_from_a_known_distribution() {
        let mut h = new_hist();
        for us in 1..=1000u64 {
            record(&mut h, us * 1000); // 1 ms .. 1000 ms
        }
        let s = summary_ms(&h);
        assert_eq!(s["count"], 1000);
        let p50 = s["p50"].as_f64().unwrap();
        let p99 = s["p99"].as_f64().unwrap();
        assert!((495.0..=505.0).contains(&p50), "p50 {p50}");
        assert!((985.0..=1000.0).contains(&p99), "p99 {p99}");
        assert!(s["max"].as_f64().unwrap() >= 999.0);
        assert_eq!(summary_ms(&new_hist())["count"], 0);
    }

    #[test]
    fn parses_proc_stat() {
        let line = "1234 (node server (x)) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 100 0 0";
        assert_eq!(parse_stat_cpu(line), Some(3.0));
    }

    #[test]
    fn reads_own_process() {
        let pid = std::process::id().to_string();
        assert!(proc_rss_kb(&pid).unwrap() > 0);
        assert!(proc_cpu_secs(&pid).unwrap() >= 0.0);
    }

    #[test]
    fn mints_a_verifiable_token() {
        let t = mint("s3cret", "42", "Ada", "student");
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        v.required_spec_claims.clear();
        let d = jsonwebtoken::decode::<Value>(
            &t,
            &jsonwebtoken::DecodingKey::from_secret(b"s3cret"),
            &v,
        )
        .unwrap();
        assert_eq!(d.claims["sub"], "42");
        assert_eq!(d.claims["role"], "student");
    }
}
