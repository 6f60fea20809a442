//! The floor server answers what the benchmark scenarios ask of it: the
//! generator's own `ack` and `fanout` scenarios run against it and every
//! message is acked or delivered, none refused. Without this, a broken floor
//! would only show up as an odd ratio in a benchmark report.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

const SECRET: &str = "floor-test-secret";

struct Floor {
    child: Child,
    url: String,
}

impl Drop for Floor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_floor() -> Floor {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-floor"))
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("JWT_SECRET", SECRET)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the floor starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the floor prints its address");
    let url = line
        .trim()
        .strip_prefix("floor listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string();
    Floor { child, url }
}

/// Runs one generator scenario against `floor` and returns its JSON line.
fn scenario(floor: &Floor, args: &[&str]) -> Value {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_chat-bench"))
        .args(args)
        .args(["--url", &floor.url, "--label", "floor"])
        .args(["--server-pid", &floor.child.id().to_string()])
        .env("JWT_SECRET", SECRET)
        .output()
        .expect("the generator runs");
    assert!(
        out.status.success(),
        "{args:?} failed after {:?}: {}",
        started.elapsed(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .expect("a JSON result line");
    serde_json::from_str(line).expect("the result line is JSON")
}

#[test]
fn the_generator_gets_every_ack_from_the_floor() {
    let floor = start_floor();
    let v = scenario(&floor, &["ack", "--clients", "3", "--duration", "1"]);
    assert!(v["acked"].as_u64().unwrap_or(0) > 0, "nothing acked: {v}");
    assert_eq!(v["rejected"], 0, "{v}");
    assert_eq!(v["timeouts"], 0, "{v}");
    assert!(
        v["server_cpu_s"].is_number(),
        "server CPU read from /proc: {v}"
    );
}

#[test]
fn the_floor_delivers_every_fanout_message() {
    let floor = start_floor();
    let v = scenario(
        &floor,
        &[
            "fanout",
            "--rooms",
            "2",
            "--members",
            "4",
            "--senders",
            "1",
            "--rate",
            "20",
            "--duration",
            "1",
            "--drain-secs",
            "5",
        ],
    );
    assert!(
        v["delivered"].as_u64().unwrap_or(0) > 0,
        "nothing delivered: {v}"
    );
    assert_eq!(v["delivery_ratio"], 1.0, "{v}");
    assert_eq!(v["send_errors"], 0, "{v}");
}
