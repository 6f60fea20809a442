//! The three-server comparison: for each load point measured against the
//! gateway, the floor (bare socketioxide, `chat-floor`) and the Node baseline
//! in the same run, the gateway's cost as a ratio of the other two. Absolute
//! numbers on a shared 2-core box move by ±30 % from run to run; ratios from
//! one interleaved run are what the summary quotes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// One compared quantity: the scenario, what identifies a load point in it,
/// and the metric (where lower is better unless `higher_is_better`).
struct Metric {
    scenario: &'static str,
    load_label: &'static str,
    load: &'static str,
    name: &'static str,
    path: &'static str,
}

const METRICS: [Metric; 5] = [
    Metric {
        scenario: "ack",
        load_label: "clients",
        load: "/clients",
        name: "server CPU µs/ack",
        path: "/server_cpu_us_per_ack",
    },
    Metric {
        scenario: "ack",
        load_label: "clients",
        load: "/clients",
        name: "acked msg/s",
        path: "/acked_per_s",
    },
    Metric {
        scenario: "fanout",
        load_label: "target msg/s",
        load: "/target_rate",
        name: "server CPU µs/delivery",
        path: "/server_cpu_us_per_delivery",
    },
    Metric {
        scenario: "fanout",
        load_label: "target msg/s",
        load: "/target_rate",
        name: "delivery p99 ms",
        path: "/latency_ms/p99",
    },
    Metric {
        scenario: "connections",
        load_label: "clients",
        load: "/clients",
        name: "RSS bytes/conn",
        path: "/server_rss_per_conn_bytes",
    },
];

/// The median of the values a server gave at one load point (rounds repeat).
fn median(mut xs: Vec<f64>) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "–".into(),
    }
}

fn cell(x: Option<f64>) -> String {
    match x {
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.2}"),
        None => "–".into(),
    }
}

/// The comparison table, or `None` when the results hold no gateway row that
/// another server can be compared with.
pub fn table(results: &[Value]) -> Option<String> {
    let mut md = String::from(
        "| scenario | load | metric | gateway | floor | Node baseline | gateway / floor | gateway / Node |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let mut rows = 0;
    for m in &METRICS {
        // load point → server → values
        let mut points: BTreeMap<u64, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
        for r in results.iter().filter(|r| r["scenario"] == m.scenario) {
            let (Some(load), Some(server), Some(v)) = (
                r.pointer(m.load).and_then(Value::as_f64),
                r["server"].as_str(),
                r.pointer(m.path).and_then(Value::as_f64),
            ) else {
                continue;
            };
            points
                .entry(load as u64)
                .or_default()
                .entry(server)
                .or_default()
                .push(v);
        }
        for (load, by_server) in points {
            let get = |s: &str| by_server.get(s).cloned().and_then(median);
            let (gateway, floor, node) = (get("gateway"), get("floor"), get("baseline"));
            if gateway.is_none() || (floor.is_none() && node.is_none()) {
                continue;
            }
            rows += 1;
            let _ = writeln!(
                md,
                "| {} | {} {} | {} | {} | {} | {} | {} | {} |",
                m.scenario,
                load,
                m.load_label,
                m.name,
                cell(gateway),
                cell(floor),
                cell(node),
                ratio(gateway, floor),
                ratio(gateway, node),
            );
        }
    }
    (rows > 0).then_some(md)
}

/// The fan-out over several nodes against one node, same run (issue 14):
/// rows `server` "cluster-1" and "cluster-N" (N nodes, one Redis and one
/// PostgreSQL database in both; server CPU counts every node, Redis and the
/// PostgreSQL backends). With client `k` on node `k % N`, a delivery crosses
/// nodes with probability `1 - 1/N`; the extra CPU per delivery divided by
/// that share is the cost of one cross-node delivery.
pub fn cluster_table(results: &[Value]) -> Option<String> {
    let mut md = String::from(
        "| target msg/s | nodes | deliveries/s | p50 ms | p99 ms | server CPU µs/delivery | vs one node | CPU µs per cross-node delivery |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    // load point → nodes → (deliveries/s, p50, p99, cpu) samples
    type Samples = [Vec<f64>; 4];
    let mut points: BTreeMap<u64, BTreeMap<u64, Samples>> = BTreeMap::new();
    for r in results.iter().filter(|r| r["scenario"] == "fanout") {
        let Some(nodes) = r["server"]
            .as_str()
            .and_then(|s| s.strip_prefix("cluster-"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        let Some(load) = r["target_rate"].as_f64() else {
            continue;
        };
        let entry = points
            .entry(load as u64)
            .or_default()
            .entry(nodes)
            .or_default();
        for (i, path) in [
            "/deliveries_per_s",
            "/latency_ms/p50",
            "/latency_ms/p99",
            "/server_cpu_us_per_delivery",
        ]
        .iter()
        .enumerate()
        {
            if let Some(v) = r.pointer(path).and_then(Value::as_f64) {
                entry[i].push(v);
            }
        }
    }
    let mut rows = 0;
    for (load, by_nodes) in points {
        let one_cpu = by_nodes.get(&1).and_then(|s| median(s[3].clone()));
        for (nodes, samples) in &by_nodes {
            let [rate, p50, p99, cpu] = samples.clone().map(median);
            let (vs_one, cross) = match (cpu, one_cpu) {
                (Some(c), Some(o)) if *nodes > 1 && o > 0.0 => {
                    let share = 1.0 - 1.0 / *nodes as f64;
                    (format!("{:.2}", c / o), cell(Some((c - o) / share)))
                }
                _ => ("–".into(), "–".into()),
            };
            rows += 1;
            let _ = writeln!(
                md,
                "| {load} | {nodes} | {} | {} | {} | {} | {vs_one} | {cross} |",
                cell(rate),
                cell(p50),
                cell(p99),
                cell(cpu),
            );
        }
    }
    (rows > 0).then_some(md)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compares_each_load_point_with_medians_of_repeated_rounds() {
        let rs = vec![
            json!({"scenario":"ack","server":"gateway","clients":50,"server_cpu_us_per_ack":60.0,"acked_per_s":20000.0}),
            json!({"scenario":"ack","server":"gateway","clients":50,"server_cpu_us_per_ack":40.0,"acked_per_s":22000.0}),
            json!({"scenario":"ack","server":"gateway","clients":50,"server_cpu_us_per_ack":50.0,"acked_per_s":21000.0}),
            json!({"scenario":"ack","server":"floor","clients":50,"server_cpu_us_per_ack":20.0,"acked_per_s":40000.0}),
            json!({"scenario":"ack","server":"baseline","clients":50,"server_cpu_us_per_ack":100.0,"acked_per_s":15000.0}),
            json!({"scenario":"ack","server":"floor","clients":10,"server_cpu_us_per_ack":20.0}),
        ];
        let t = table(&rs).expect("a table");
        assert!(
            t.contains(
                "| ack | 50 clients | server CPU µs/ack | 50.00 | 20.00 | 100 | 2.50 | 0.50 |"
            ),
            "{t}"
        );
        assert!(
            t.contains("| ack | 50 clients | acked msg/s | 21000 | 40000 | 15000 | 0.53 | 1.40 |"),
            "{t}"
        );
        // 10 clients: no gateway row, nothing to compare.
        assert!(!t.contains("10 clients"), "{t}");
    }

    #[test]
    fn cluster_rows_compare_n_nodes_with_one() {
        let fan = |server: &str, cpu: f64| {
            json!({"scenario":"fanout","server":server,"target_rate":600.0,"deliveries_per_s":29400.0,
                   "latency_ms":{"p50":2.0,"p99":9.0},"server_cpu_us_per_delivery":cpu})
        };
        let rs = vec![
            fan("cluster-1", 10.0),
            fan("cluster-3", 14.0),
            fan("gateway", 8.0),
        ];
        let t = cluster_table(&rs).expect("a table");
        // 3 nodes: 2/3 of deliveries cross nodes, (14 - 10) / (2/3) = 6.
        assert!(
            t.contains("| 600 | 3 | 29400 | 2.00 | 9.00 | 14.00 | 1.40 | 6.00 |"),
            "{t}"
        );
        assert!(
            t.contains("| 600 | 1 | 29400 | 2.00 | 9.00 | 10.00 | – | – |"),
            "{t}"
        );
        assert!(
            !t.contains("| 8.00 |"),
            "the single gateway is not a cluster row: {t}"
        );
        assert!(cluster_table(&[fan("gateway", 8.0)]).is_none());
    }

    #[test]
    fn no_table_without_a_pair_to_compare() {
        let rs = vec![
            json!({"scenario":"ack","server":"gateway","clients":50,"server_cpu_us_per_ack":60.0}),
        ];
        assert!(table(&rs).is_none());
    }
}
