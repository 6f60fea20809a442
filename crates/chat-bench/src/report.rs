//! `report`: results file (JSON lines) → Markdown tables + latency-vs-load SVG charts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// Results file, one JSON object a line (what the scenarios print).
    #[arg(long)]
    pub input: PathBuf,
    /// Where report.md and the charts go (default: the input's folder).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// A line about the machine, printed above the tables.
    #[arg(long, default_value = "")]
    pub machine: String,
}

pub fn read_results(path: &Path) -> Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// A column: header and how to render it from a result object.
pub struct Col {
    pub header: &'static str,
    pub get: fn(&Value) -> String,
}

fn num(v: &Value) -> String {
    match v {
        Value::Number(n) => {
            let f = n.as_f64().unwrap_or(0.0);
            if n.is_u64() || n.is_i64() {
                n.to_string()
            } else if f.abs() >= 100.0 {
                format!("{f:.0}")
            } else if f.abs() >= 1.0 {
                format!("{f:.2}")
            } else {
                format!("{f:.3}")
            }
        }
        Value::Null => "–".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Renders a Markdown table; `|` in cells is escaped.
pub fn markdown_table(rows: &[&Value], cols: &[Col]) -> String {
    let mut s = String::new();
    s.push('|');
    for c in cols {
        let _ = write!(s, " {} |", c.header);
    }
    s.push_str("\n|");
    for _ in cols {
        s.push_str(" --- |");
    }
    s.push('\n');
    for r in rows {
        s.push('|');
        for c in cols {
            let _ = write!(s, " {} |", (c.get)(r).replace('|', "\\|"));
        }
        s.push('\n');
    }
    s
}

macro_rules! col {
    ($h:expr, $($p:tt)+) => {
        Col { header: $h, get: |v: &Value| num(&v.pointer($($p)+).cloned().unwrap_or(Value::Null)) }
    };
}

fn columns(scenario: &str) -> Vec<Col> {
    match scenario {
        "fanout" => vec![
            col!("server", "/server"),
            Col {
                header: "rooms × members",
                get: |v| format!("{} × {}", num(&v["rooms"]), num(&v["members"])),
            },
            col!("senders/room", "/senders"),
            col!("target msg/s", "/target_rate"),
            col!("sent msg/s", "/sent_per_s"),
            col!("deliveries/s", "/deliveries_per_s"),
            col!("delivery ratio", "/delivery_ratio"),
            col!("p50 ms", "/latency_ms/p50"),
            col!("p99 ms", "/latency_ms/p99"),
            col!("p99.9 ms", "/latency_ms/p999"),
            col!("server CPU µs/delivery", "/server_cpu_us_per_delivery"),
            col!("generator CPU s", "/generator_cpu_s"),
        ],
        "ack" => vec![
            col!("server", "/server"),
            col!("clients", "/clients"),
            col!("acked msg/s", "/acked_per_s"),
            col!("p50 ms", "/ack_latency_ms/p50"),
            col!("p99 ms", "/ack_latency_ms/p99"),
            col!("p99.9 ms", "/ack_latency_ms/p999"),
            col!("server CPU µs/ack", "/server_cpu_us_per_ack"),
            col!("rejected", "/rejected"),
            col!("timeouts", "/timeouts"),
        ],
        "connections" => vec![
            col!("server", "/server"),
            col!("clients", "/clients"),
            col!("users", "/users"),
            col!("connected", "/connected"),
            col!("failed", "/failed"),
            col!("connects/s", "/connects_per_s"),
            col!("connect p50 ms", "/connect_latency_ms/p50"),
            col!("connect p99 ms", "/connect_latency_ms/p99"),
            col!("server RSS before KiB", "/server_rss_before_kb"),
            col!("server RSS after KiB", "/server_rss_after_kb"),
            col!("RSS bytes/conn", "/server_rss_per_conn_bytes"),
        ],
        "support" => vec![
            col!("server", "/server"),
            col!("agents", "/agents"),
            col!("visitors/s", "/arrival_rate"),
            col!("visitors", "/visitors"),
            col!("assigned", "/assigned"),
            col!("queued first", "/queued_first"),
            col!("assign p50 ms", "/time_to_assignment_ms/p50"),
            col!("assign p99 ms", "/time_to_assignment_ms/p99"),
            Col {
                header: "errors",
                get: |v| {
                    v["errors"]
                        .as_object()
                        .map(|m| {
                            m.values()
                                .filter_map(Value::as_u64)
                                .sum::<u64>()
                                .to_string()
                        })
                        .unwrap_or_else(|| "–".into())
                },
            },
        ],
        "outbox" => vec![
            col!("server", "/server"),
            col!("messages acked", "/messages_acked"),
            col!("backlog items", "/backlog"),
            col!("RPC delay ms", "/delay_ms"),
            col!("drained", "/drained"),
            col!("drain s", "/drain_s"),
            col!("items/s", "/drained_per_s"),
            col!(
                "items/s from first batch",
                "/drained_per_s_from_first_batch"
            ),
            col!("server CPU s", "/server_cpu_s"),
            col!("skipped", "/skipped"),
        ],
        _ => vec![
            col!("server", "/server"),
            col!("skipped", "/skipped"),
            col!("reason", "/reason"),
        ],
    }
}

/// A series for a chart: label → points (x, y), sorted by x.
pub type Series = BTreeMap<String, Vec<(f64, f64)>>;

pub fn series(results: &[Value], scenario: &str, x: &str, y: &str) -> Series {
    let mut s = Series::new();
    for r in results.iter().filter(|r| r["scenario"] == scenario) {
        let (Some(xv), Some(yv)) = (
            r.pointer(x).and_then(Value::as_f64),
            r.pointer(y).and_then(Value::as_f64),
        ) else {
            continue;
        };
        let label = format!(
            "{} {}",
            r["server"].as_str().unwrap_or("?"),
            y.rsplit('/').next().unwrap_or("")
        );
        s.entry(label).or_default().push((xv, yv));
    }
    for pts in s.values_mut() {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    s
}

fn chart(path: &Path, title: &str, xlabel: &str, ylabel: &str, data: &Series) -> Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (800, 480)).into_drawing_area();
    root.fill(&WHITE)?;
    let xmax = data.values().flatten().map(|p| p.0).fold(1.0, f64::max) * 1.1;
    let ymax = data.values().flatten().map(|p| p.1).fold(0.1, f64::max) * 1.15;
    let mut ch = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax)?;
    ch.configure_mesh().x_desc(xlabel).y_desc(ylabel).draw()?;
    let palette = [&RED, &BLUE, &GREEN, &MAGENTA, &CYAN, &BLACK];
    for (i, (label, pts)) in data.iter().enumerate() {
        let color = palette[i % palette.len()];
        ch.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
        ch.draw_series(
            pts.iter()
                .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
        )?;
    }
    ch.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(())
}

pub fn render_markdown(results: &[Value], machine: &str, charts: &[(String, String)]) -> String {
    let mut md = String::from("# seitech-chat benchmark results\n\n");
    if !machine.is_empty() {
        let _ = writeln!(md, "Machine: {machine}\n");
    }
    for scenario in ["fanout", "ack", "connections", "support", "outbox"] {
        let rows: Vec<&Value> = results
            .iter()
            .filter(|r| r["scenario"] == scenario)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(md, "## {scenario}\n");
        md.push_str(&markdown_table(&rows, &columns(scenario)));
        md.push('\n');
    }
    if let Some(t) = crate::ratios::table(results) {
        md.push_str("## gateway vs floor (bare socketioxide) vs Node, same run\n\n");
        md.push_str(&t);
        md.push('\n');
    }
    if let Some(t) = crate::ratios::cluster_table(results) {
        md.push_str("## fan-out over several nodes vs one node (Redis + PostgreSQL), same run\n\n");
        md.push_str(&t);
        md.push('\n');
    }
    for (title, file) in charts {
        let _ = writeln!(md, "![{title}]({file})\n");
    }
    md
}

pub fn report(a: ReportArgs) -> Result<()> {
    let results = read_results(&a.input)?;
    let out_dir = a
        .out_dir
        .clone()
        .or_else(|| a.input.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&out_dir)?;
    let mut charts = vec![];
    let specs = [
        (
            "fanout",
            "fanout-latency.svg",
            "Fan-out: delivery latency vs load",
            "deliveries/s",
            "latency ms (p50, p99)",
            "/deliveries_per_s",
            ["/latency_ms/p50", "/latency_ms/p99"],
        ),
        (
            "ack",
            "ack-latency.svg",
            "Acked messages: ack latency vs throughput",
            "acked messages/s",
            "ack latency ms (p50, p99)",
            "/acked_per_s",
            ["/ack_latency_ms/p50", "/ack_latency_ms/p99"],
        ),
    ];
    for (scenario, file, title, xl, yl, x, ys) in specs {
        let mut data = Series::new();
        for y in ys {
            data.extend(series(&results, scenario, x, y));
        }
        if data.is_empty() {
            continue;
        }
        chart(&out_dir.join(file), title, xl, yl, &data)
            .map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        charts.push((title.to_string(), file.to_string()));
    }
    let md = render_markdown(&results, &a.machine, &charts);
    std::fs::write(out_dir.join("report.md"), &md)?;
    print!("{md}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_a_markdown_table() {
        let a = json!({"server":"gateway","clients":20,"acked_per_s":31234.5,"ack_latency_ms":{"p50":0.512,"p99":2.0,"p999":3.25},"rejected":0,"timeouts":0,"server_cpu_us_per_ack":null});
        let b = json!({"server":"base|line","clients":20,"acked_per_s":0.5});
        let t = markdown_table(&[&a, &b], &columns("ack"));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("| server | clients | acked msg/s |"));
        assert!(lines[1].starts_with("| --- |"));
        assert_eq!(
            lines[2],
            "| gateway | 20 | 31234 | 0.512 | 2.00 | 3.25 | – | 0 | 0 |"
        );
        assert!(lines[3].starts_with("| base\\|line | 20 | 0.500 | – |"));
    }

    #[test]
    fn builds_sorted_series_per_server() {
        let rs = vec![
            json!({"scenario":"fanout","server":"gateway","deliveries_per_s":2000.0,"latency_ms":{"p99":1.5}}),
            json!({"scenario":"fanout","server":"gateway","deliveries_per_s":1000.0,"latency_ms":{"p99":1.0}}),
            json!({"scenario":"fanout","server":"baseline","deliveries_per_s":1000.0,"latency_ms":{"p99":9.0}}),
            json!({"scenario":"ack","server":"gateway","acked_per_s":5.0}),
        ];
        let s = series(&rs, "fanout", "/deliveries_per_s", "/latency_ms/p99");
        assert_eq!(s["gateway p99"], vec![(1000.0, 1.0), (2000.0, 1.5)]);
        assert_eq!(s["baseline p99"], vec![(1000.0, 9.0)]);
    }

    #[test]
    fn writes_report_and_charts() {
        let dir = std::env::temp_dir().join(format!("chat-bench-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let input = dir.join("r.jsonl");
        std::fs::write(
            &input,
            concat!(
                r#"{"scenario":"fanout","server":"gateway","rooms":1,"members":2,"deliveries_per_s":100.0,"latency_ms":{"p50":0.4,"p99":1.0}}"#,
                "\n",
                r#"{"scenario":"fanout","server":"baseline","rooms":1,"members":2,"deliveries_per_s":100.0,"latency_ms":{"p50":1.0,"p99":5.0}}"#,
                "\nnot json\n"
            ),
        )
        .unwrap();
        report(ReportArgs {
            input,
            out_dir: Some(dir.clone()),
            machine: "test".into(),
        })
        .unwrap();
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
        assert!(md.contains("| gateway | 1 × 2 |"));
        assert!(md.contains("fanout-latency.svg"));
        let svg = std::fs::read_to_string(dir.join("fanout-latency.svg")).unwrap();
        assert!(svg.starts_with("<svg"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
