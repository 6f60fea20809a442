//! chat-bench: load generator for seitech-chat and its Node baseline.
//!
//! Every scenario prints one JSON line (and appends it to `--out`);
//! `report` turns such a file into Markdown tables and SVG charts.

mod ratios;
mod report;
mod scenarios;
mod sio;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "chat-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Write the directory file (protocol §10) the servers load for the scenarios.
    Directory(scenarios::DirectoryArgs),
    /// Open N websocket clients, hold them, measure connect rate/latency and server RSS.
    Connections(scenarios::ConnectionsArgs),
    /// R rooms × M members, S senders per room at a fixed total rate: deliveries, latency, CPU.
    Fanout(scenarios::FanoutArgs),
    /// Closed-loop `message` with acks: acked messages/s and ack latency.
    Ack(scenarios::AckArgs),
    /// Visitors arriving at a rate against a pool of agents: time to assignment.
    Support(scenarios::SupportArgs),
    /// Outbox drain to the Odoo double (needs the Odoo bridge).
    Outbox(scenarios::OutboxArgs),
    /// Results file (JSON lines) → report.md + latency-vs-load SVG charts.
    Report(report::ReportArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.cmd {
            Cmd::Directory(a) => scenarios::directory(&a),
            Cmd::Connections(a) => scenarios::connections(a).await,
            Cmd::Fanout(a) => scenarios::fanout(a).await,
            Cmd::Ack(a) => scenarios::ack(a).await,
            Cmd::Support(a) => scenarios::support(a).await,
            Cmd::Outbox(a) => scenarios::outbox(a).await,
            Cmd::Report(a) => report::report(a),
        }
    })
}
