//! The outbox drain: queued changes go to Odoo's `ingest` in batches, oldest
//! first. Delivered (`ok`/`duplicate`) items leave the queue; items Odoo
//! refuses for good are parked as dead letters and never block the rest; a
//! call that fails for a passing reason is retried with backoff; a call Odoo
//! refuses as malformed is split until the offending item stands alone.

use crate::state::App;
use odoo_rpc::backoff;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

pub const BACKLOG: &str = "chat_odoo_outbox_backlog";
/// Gauge: dead letters currently stored.
pub const DEAD_LETTERS: &str = "chat_odoo_outbox_dead_letters";
/// Counter: items parked, labelled by Odoo's refusal `code`.
pub const DEAD_LETTERS_TOTAL: &str = "chat_odoo_dead_letters_total";
pub const RPC_TOTAL: &str = "chat_odoo_rpc_total";
/// The refusal codes of the addon's `ingest` (lib/constants.py); any other
/// code is counted as `other`, so the label's values stay a known, small set.
const REFUSAL_CODES: [&str; 5] = [
    "invalid",
    "unknown_conversation",
    "unknown_message",
    "unknown_user",
    "conflict",
];

/// The label a refusal code is counted under.
fn refusal_label(code: &str) -> &'static str {
    REFUSAL_CODES
        .iter()
        .find(|c| **c == code)
        .copied()
        .unwrap_or("other")
}
/// How often the drain refreshes the backlog and dead-letter gauges.
const COUNTS_EVERY: Duration = Duration::from_secs(1);

pub async fn drain(app: App, signal: Arc<Notify>) {
    let Some(odoo) = app.odoo.as_ref() else {
        return;
    };
    crate::metrics::outbox_started();
    // Every series from the start, so an alert on their increase sees 0
    // rather than nothing until the first refusal.
    for code in REFUSAL_CODES.iter().copied().chain(["other"]) {
        metrics::counter!(DEAD_LETTERS_TOTAL, "code" => code).absolute(0);
    }
    let mut failures: u32 = 0;
    let mut batch = odoo.batch_size;
    let mut published: Option<tokio::time::Instant> = None;
    loop {
        // At most once a second: `count(*)` walks the whole outbox table (its
        // rows are the JSON items), which per batch was a quarter of the
        // gateway's CPU while draining a 20k backlog (perf, outbox benchmark).
        if published.is_none_or(|t| t.elapsed() >= COUNTS_EVERY) {
            publish_counts(&app).await;
            published = Some(tokio::time::Instant::now());
        }
        let items = match app.store.outbox_peek(batch).await {
            Ok(items) => items,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the outbox");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if items.is_empty() {
            // Drained: the gauges say so before the drain goes idle.
            publish_counts(&app).await;
            published = Some(tokio::time::Instant::now());
            // Woken by the next commit; the timeout only bounds a missed wake-up.
            let _ = tokio::time::timeout(Duration::from_secs(5), signal.notified()).await;
            continue;
        }
        let payload: Vec<Value> = items.iter().map(|i| i.item.clone()).collect();
        match odoo.client.ingest(&payload).await {
            Ok(results) => {
                metrics::counter!(RPC_TOTAL, "result" => "ok").increment(1);
                crate::metrics::outbox_succeeded();
                odoo.record_ok();
                failures = 0;
                batch = odoo.batch_size;
                let mut done = Vec::with_capacity(items.len());
                for (item, result) in items.iter().zip(&results) {
                    if result.delivered() {
                        done.push(item.seq);
                    } else {
                        let code = result.code.as_deref().unwrap_or("rejected");
                        let reason = result.reason.as_deref().unwrap_or("");
                        tracing::warn!(
                            seq = item.seq,
                            code,
                            reason,
                            "Odoo refused an outbox item; parked"
                        );
                        park(&app, odoo, item.seq, code, reason).await;
                    }
                }
                if let Err(e) = app.store.outbox_done(&done).await {
                    tracing::error!(error = %e, "cannot clear delivered outbox items");
                }
            }
            Err(e) if e.is_validation() && items.len() > 1 => {
                // Somewhere in this batch is an item Odoo cannot take at all.
                metrics::counter!(RPC_TOTAL, "result" => "refused").increment(1);
                batch = (items.len() / 2).max(1);
            }
            Err(e) if e.is_validation() => {
                metrics::counter!(RPC_TOTAL, "result" => "refused").increment(1);
                park(&app, odoo, items[0].seq, "invalid", &e.to_string()).await;
                batch = odoo.batch_size;
            }
            Err(e) => {
                metrics::counter!(RPC_TOTAL, "result" => "error").increment(1);
                odoo.record_error(&e);
                let wait = backoff(failures, Duration::from_millis(200), odoo.retry_max);
                failures = failures.saturating_add(1);
                tracing::warn!(error = %e, retry_in_ms = wait.as_millis() as u64, "Odoo unavailable; outbox waits");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

/// Parks one refused item and makes it seen: counted by code in `/metrics`,
/// and the last refusal shown in `/health` until no dead letter is left.
async fn park(app: &App, odoo: &super::OdooBridge, seq: i64, code: &str, reason: &str) {
    match app.store.outbox_park(seq, code, reason).await {
        Ok(()) => {
            metrics::counter!(DEAD_LETTERS_TOTAL, "code" => refusal_label(code)).increment(1);
            odoo.record_refusal(code, reason);
        }
        Err(e) => tracing::error!(error = %e, "cannot park an outbox item"),
    }
}

async fn publish_counts(app: &App) {
    if let Ok((backlog, dead)) = app.store.outbox_counts().await {
        metrics::gauge!(BACKLOG).set(backlog as f64);
        metrics::gauge!(DEAD_LETTERS).set(dead as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::refusal_label;

    #[test]
    fn refusal_codes_outside_the_addons_set_count_as_other() {
        assert_eq!(refusal_label("conflict"), "conflict");
        assert_eq!(refusal_label("unknown_user"), "unknown_user");
        assert_eq!(refusal_label("something_new"), "other");
        assert_eq!(refusal_label(""), "other");
    }
}
