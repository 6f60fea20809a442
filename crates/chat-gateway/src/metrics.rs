//! Prometheus metrics (§8). Names are constants so handlers and tests agree;
//! every metric is documented in docs/metrics.md (type, labels, meaning), and
//! deploy/prometheus/ and deploy/grafana/ query them.
//!
//! Handlers call the small functions below where an event happens (one line
//! each), so what is measured, and how, lives here. Labels are bounded:
//! department, outcome, result, state, a known event name; never a user or
//! conversation id (each id would be a series of its own, for ever).

use chat_core::clock::now_millis;
use chat_core::model::MessageType;
use chat_store::{ConversationRecord, Store};
use dashmap::{DashMap, DashSet};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{LazyLock, OnceLock};
use std::time::{Duration, Instant};

pub const ACTIVE_CONNECTIONS: &str = "chat_active_connections";
pub const MESSAGES_TOTAL: &str = "chat_messages_total";
pub const CONNECTIONS_TOTAL: &str = "chat_connections_total";
pub const DELIVERY_SECONDS: &str = "chat_message_delivery_seconds";
pub const ATTACHMENT_UPLOADS_TOTAL: &str = "chat_attachment_uploads_total";
pub const SUPPORT_QUEUE_LENGTH: &str = "chat_support_queue_length";
pub const AGENT_ACTIVE_CHATS: &str = "chat_agent_active_chats";
pub const EVENTS_REJECTED_TOTAL: &str = "chat_events_rejected_total";
pub const ONLINE_USERS: &str = "chat_online_users";
/// Packets a socket could not be sent because its outgoing buffer was full
/// (the socket is then disconnected so its client resyncs; issue 11).
pub const SOCKET_BUFFER_OVERFLOWS_TOTAL: &str = "chat_socket_buffer_overflows_total";
/// Broadcasts between nodes that may have been lost, by `reason` (the
/// clients that may have missed them are made to resync; see
/// cluster/drops.rs, which owns its series).
pub const ADAPTER_DROPS_TOTAL: &str = "chat_adapter_drops_total";
/// 1, labelled with this node's id (`NODE_ID`).
pub const NODE_INFO: &str = "chat_node_info";

/// How long a socket stayed connected (histogram, seconds).
pub const CONNECTION_DURATION_SECONDS: &str = "chat_connection_duration_seconds";
/// How long a user stayed online on this node, first socket to last (histogram).
pub const USER_SESSION_DURATION_SECONDS: &str = "chat_user_session_duration_seconds";
/// Sockets whose first `sync` call marked them as a reconnection (counter).
pub const RECONNECTIONS_TOTAL: &str = "chat_reconnections_total";
/// Messages whose room broadcast failed for some socket (counter).
pub const DELIVERY_FAILURES_TOTAL: &str = "chat_message_delivery_failures_total";
/// Client events received, by event name (counter).
pub const EVENTS_TOTAL: &str = "chat_events_total";
/// Support chats opened, by department (counter).
pub const SUPPORT_CHATS_STARTED_TOTAL: &str = "chat_support_chats_started_total";
/// Support chats ended, by department and outcome (counter).
pub const SUPPORT_CHATS_ENDED_TOTAL: &str = "chat_support_chats_ended_total";
/// Messages (text and file) in a support chat, observed when it ends (histogram).
pub const SUPPORT_CHAT_MESSAGES: &str = "chat_support_chat_messages";
/// Satisfaction ratings, 1 to 5 (histogram: buckets are the ratings).
pub const SUPPORT_RATING: &str = "chat_support_rating";
/// From a support chat's start to the first message of someone else (histogram).
pub const SUPPORT_FIRST_RESPONSE_SECONDS: &str = "chat_support_first_response_seconds";
/// How long a support chat waited in the queue before an agent got it (histogram).
pub const SUPPORT_QUEUE_WAIT_SECONDS: &str = "chat_support_queue_wait_seconds";
/// How long the oldest queued support chat has been waiting (gauge, at scrape).
pub const SUPPORT_QUEUE_OLDEST_WAIT_SECONDS: &str = "chat_support_queue_oldest_wait_seconds";
/// Support agents by department and state (gauge, at scrape).
pub const SUPPORT_AGENTS: &str = "chat_support_agents";
/// Whether a backend answers (1) or not (0), by backend (gauge, at scrape).
pub const BACKEND_UP: &str = "chat_backend_up";
/// Unix time of the last batch Odoo accepted from the outbox (gauge).
pub const ODOO_OUTBOX_LAST_SUCCESS: &str = "chat_odoo_outbox_last_success_timestamp_seconds";

/// The states of [`SUPPORT_AGENTS`]: online and taking chats with room for
/// more, online and taking chats but at the limit, online but set unavailable,
/// offline.
pub const AGENT_STATES: [&str; 4] = ["available", "busy", "away", "offline"];

/// Events known to the router (events/mod.rs); anything else a client sends
/// is counted as `unknown`, so a client cannot add series by inventing names.
const KNOWN_EVENTS: &[&str] = &[
    "join",
    "join:room",
    "leave",
    "leave:room",
    "message",
    "message:edit",
    "message:delete",
    "message:react",
    "read",
    "message:read",
    "messages:history",
    "sync",
    "typing",
    "typing:start",
    "typing:stop",
    "conversations:list",
    "conversation:create",
    "users:search",
    "broadcast",
    "support:start",
    "support:end",
    "support:rate",
    "support:transcript",
    "agent:status",
    "push:subscribe",
    "push:unsubscribe",
];

const DURATION_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
];
const WAIT_BUCKETS: &[f64] = &[
    1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// Users online on this node and since when (for the session duration).
/// Bounded by the users online: an entry goes when the user's last socket does.
static SESSIONS: LazyLock<DashMap<String, Instant>> = LazyLock::new(DashMap::new);
/// Open support chats nobody but the visitor has written in yet. Bounded by
/// the open support chats: an entry goes at the first answer or at the end.
static AWAITING_ANSWER: LazyLock<DashSet<String>> = LazyLock::new(DashSet::new);
/// The series every message touches, looked up once in the installed
/// recorder. `counter!` with a label finds its series in the recorder's
/// registry at each call (the key built and hashed, a lock taken): about
/// 3 % of the tokio workers' samples under the ack benchmark, for three
/// series per message. Unset until [`install`], and so under a test's local
/// recorder, where the macros below still find the test's series.
struct Hot {
    /// Parallel to `KNOWN_EVENTS`, then "unknown".
    events: Vec<metrics::Counter>,
    /// In the order of `MessageType::ALL`.
    messages: Vec<metrics::Counter>,
    delivery: metrics::Histogram,
}

static HOT: OnceLock<Hot> = OnceLock::new();

/// Requests refused by an abuse limit (issue 11), by `limit`.
pub const ABUSE_REFUSED_TOTAL: &str = "chat_abuse_refused_total";

/// Installs the recorder. `chat_node_info{node}` names the node; in a
/// cluster every series also carries `node="<node_id>"` (a global label).
/// Not on a single node, where the node is the scrape target, so the
/// series keep the label sets that dashboards and checks already match.
pub fn install(node_id: &str, clustered: bool) -> anyhow::Result<PrometheusHandle> {
    let mut builder = PrometheusBuilder::new();
    if clustered {
        builder = builder.add_global_label("node", node_id);
    }
    let handle = builder
        .set_buckets_for_metric(
            Matcher::Full(DELIVERY_SECONDS.into()),
            &[
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
            ],
        )?
        .set_buckets_for_metric(
            Matcher::Full(CONNECTION_DURATION_SECONDS.into()),
            DURATION_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(USER_SESSION_DURATION_SECONDS.into()),
            DURATION_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(SUPPORT_FIRST_RESPONSE_SECONDS.into()),
            WAIT_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(SUPPORT_QUEUE_WAIT_SECONDS.into()),
            WAIT_BUCKETS,
        )?
        .set_buckets_for_metric(
            Matcher::Full(SUPPORT_CHAT_MESSAGES.into()),
            &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0],
        )?
        .set_buckets_for_metric(
            Matcher::Full(SUPPORT_RATING.into()),
            &[1.0, 2.0, 3.0, 4.0, 5.0],
        )?
        .set_buckets_for_metric(
            Matcher::Full(chat_store::COMMIT_WRITES.into()),
            &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1024.0],
        )?
        .install_recorder()?;
    // Series that must exist from the start, even at zero.
    metrics::gauge!(ACTIVE_CONNECTIONS).set(0.0);
    metrics::gauge!(SUPPORT_QUEUE_LENGTH).set(0.0);
    metrics::gauge!(AGENT_ACTIVE_CHATS).set(0.0);
    let hot = Hot {
        events: KNOWN_EVENTS
            .iter()
            .chain(["unknown"].iter())
            .map(|e| metrics::counter!(EVENTS_TOTAL, "event" => *e))
            .collect(),
        messages: MessageType::ALL
            .iter()
            .map(|t| metrics::counter!(MESSAGES_TOTAL, "type" => t.as_str()))
            .collect(),
        delivery: metrics::histogram!(DELIVERY_SECONDS),
    };
    for messages in &hot.messages {
        messages.absolute(0);
    }
    let _ = HOT.set(hot);
    for r in ["accepted", "rejected"] {
        metrics::counter!(CONNECTIONS_TOTAL, "result" => r).absolute(0);
    }
    for r in ["stored", "refused"] {
        metrics::counter!(ATTACHMENT_UPLOADS_TOTAL, "result" => r).absolute(0);
    }
    metrics::counter!(RECONNECTIONS_TOTAL).absolute(0);
    metrics::counter!(DELIVERY_FAILURES_TOTAL).absolute(0);
    // Every code, so a rate over one code (the alert on `unavailable`) is 0
    // rather than absent until the first such error.
    use chat_core::ErrorCode as C;
    for code in [
        C::Unauthorized,
        C::Forbidden,
        C::NotFound,
        C::Invalid,
        C::RateLimited,
        C::TooLarge,
        C::Conflict,
        C::Unavailable,
    ] {
        metrics::counter!(EVENTS_REJECTED_TOTAL, "code" => code.as_str()).absolute(0);
    }
    metrics::counter!(SOCKET_BUFFER_OVERFLOWS_TOTAL).absolute(0);
    metrics::gauge!(NODE_INFO, "node" => node_id.to_owned()).set(1.0);
    Ok(handle)
}

/// A socket closed: how long it was connected. `connected_at` travels in the
/// socket's disconnect handler, not in a socket extension: an extension is a
/// heap block on every idle socket (issue 15), the handler's closure has
/// room for it in the block it has anyway.
pub fn connection_closed(connected_at: Instant) {
    metrics::histogram!(CONNECTION_DURATION_SECONDS).record(connected_at.elapsed().as_secs_f64());
}

/// A socket called `sync`. Clients call it after a reconnect to fetch what
/// they missed, so the first call on a socket counts one reconnection (later
/// calls are further pages of the same catch-up).
/// `socket_synced`: the socket's own flag, set here by its first call.
pub fn synced(socket_synced: &std::sync::atomic::AtomicBool) {
    if !socket_synced.swap(true, std::sync::atomic::Ordering::Relaxed) {
        metrics::counter!(RECONNECTIONS_TOTAL).increment(1);
    }
}

/// A user's first socket on this node opened.
pub fn user_online(user_id: &str) {
    SESSIONS.insert(user_id.to_owned(), Instant::now());
}

/// A user's last socket on this node closed: how long the user was online.
pub fn user_offline(user_id: &str) {
    if let Some((_, since)) = SESSIONS.remove(user_id) {
        metrics::histogram!(USER_SESSION_DURATION_SECONDS).record(since.elapsed().as_secs_f64());
    }
}

/// A message's room broadcast failed for at least one socket.
pub fn delivery_failed() {
    metrics::counter!(DELIVERY_FAILURES_TOTAL).increment(1);
}

/// A client event arrived (the denominator of the rejection ratio).
pub fn event_received(event: &str) {
    let known = KNOWN_EVENTS.iter().position(|e| *e == event);
    if let Some(hot) = HOT.get() {
        let i = known.unwrap_or(KNOWN_EVENTS.len());
        hot.events[i].increment(1);
        return;
    }
    let event = known.map_or("unknown", |i| KNOWN_EVENTS[i]);
    metrics::counter!(EVENTS_TOTAL, "event" => event).increment(1);
}

/// A message of type `kind` was stored.
pub fn message_stored(kind: MessageType) {
    let i = MessageType::ALL.iter().position(|t| *t == kind);
    match (HOT.get(), i) {
        (Some(hot), Some(i)) => hot.messages[i].increment(1),
        _ => metrics::counter!(MESSAGES_TOTAL, "type" => kind.as_str()).increment(1),
    }
}

/// A member's message was stored and sent to its room, `took` after it arrived.
pub fn message_delivered(took: Duration) {
    match HOT.get() {
        Some(hot) => hot.delivery.record(took.as_secs_f64()),
        None => metrics::histogram!(DELIVERY_SECONDS).record(took.as_secs_f64()),
    }
}

/// A support chat was opened (its first answer is awaited from now on).
pub fn support_started(room_id: &str, department: &str) {
    AWAITING_ANSWER.insert(room_id.to_owned());
    metrics::counter!(SUPPORT_CHATS_STARTED_TOTAL, "department" => department.to_owned())
        .increment(1);
}

/// A queued support chat got an agent after `waited_ms` (0: at once).
pub fn support_waited(department: &str, waited_ms: i64) {
    metrics::histogram!(SUPPORT_QUEUE_WAIT_SECONDS, "department" => department.to_owned())
        .record(waited_ms.max(0) as f64 / 1000.0);
}

/// A message was posted in `room` by `author`: in a support chat, the first
/// one not from the visitor is the first response.
pub fn message_posted(room: &ConversationRecord, author: &str) {
    let Some(s) = &room.support else {
        return;
    };
    if author == s.visitor_id || author == chat_core::ids::SYSTEM_USER {
        return;
    }
    if AWAITING_ANSWER.remove(&room.id).is_some() {
        let waited = (now_millis() - s.started_at).max(0) as f64 / 1000.0;
        metrics::histogram!(SUPPORT_FIRST_RESPONSE_SECONDS, "department" => s.department.clone())
            .record(waited);
    }
}

/// The visitor rated a support chat (1 to 5).
pub fn support_rated(department: &str, rating: u8) {
    metrics::histogram!(SUPPORT_RATING, "department" => department.to_owned())
        .record(f64::from(rating));
}

/// A support chat ended: handled (it had an agent) or unanswered (it ended in
/// the queue), and how many messages (text and file) it held.
pub async fn support_ended(store: &dyn Store, record: &ConversationRecord) {
    AWAITING_ANSWER.remove(&record.id);
    let Some(s) = &record.support else {
        return;
    };
    let outcome = if s.agent_id.is_some() {
        "handled"
    } else {
        "unanswered"
    };
    metrics::counter!(SUPPORT_CHATS_ENDED_TOTAL, "department" => s.department.clone(), "outcome" => outcome)
        .increment(1);
    if let Ok(messages) = store.transcript(&record.id).await {
        let n = messages
            .iter()
            .filter(|m| m.kind != chat_core::model::MessageType::System)
            .count();
        metrics::histogram!(SUPPORT_CHAT_MESSAGES, "department" => s.department.clone())
            .record(n as f64);
    }
}

/// The outbox drain started: until Odoo accepts a batch, the "last success"
/// is the start, so an Odoo never reached since start-up (a wrong API key)
/// shows as a stall too rather than as no series at all.
pub fn outbox_started() {
    outbox_succeeded();
}

/// Odoo accepted a batch from the outbox.
pub fn outbox_succeeded() {
    metrics::gauge!(ODOO_OUTBOX_LAST_SUCCESS).set(now_millis() as f64 / 1000.0);
}

/// Gauges read from the live state when Prometheus scrapes, so they are
/// never stale between events: agents by state, the oldest queued chat's
/// wait, and whether the store answers. `postgres`: which store it is;
/// `redis_up`: a ping of Redis, when this node uses it.
pub async fn refresh(
    desk: &dyn chat_desk::Desk,
    store: &dyn Store,
    postgres: bool,
    redis_up: Option<impl Future<Output = bool>>,
) {
    desk_gauges(desk).await;
    // Bounded: a store that hangs must not hang the scrape (Prometheus would
    // then see the whole node as down instead of its store).
    let store_up = matches!(
        tokio::time::timeout(std::time::Duration::from_secs(2), store.ping()).await,
        Ok(Ok(()))
    );
    let store = if postgres { "postgres" } else { "sqlite" };
    metrics::gauge!(BACKEND_UP, "backend" => store).set(if store_up { 1.0 } else { 0.0 });
    if let Some(ping) = redis_up {
        let redis_up = matches!(
            tokio::time::timeout(std::time::Duration::from_secs(2), ping).await,
            Ok(true)
        );
        metrics::gauge!(BACKEND_UP, "backend" => "redis").set(if redis_up { 1.0 } else { 0.0 });
    }
}

/// The support desk's gauges. A shared desk (Redis) changes on other nodes
/// too, so it is read at every scrape, and every node reports the whole desk:
/// aggregate these with max, not sum. A desk that does not answer (within 2
/// s, so the scrape does not hang) leaves them as they were.
async fn desk_gauges(desk: &dyn chat_desk::Desk) {
    let desk = match tokio::time::timeout(std::time::Duration::from_secs(2), desk.snapshot()).await
    {
        Ok(Ok(desk)) => desk,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "desk gauges not refreshed: the desk did not answer");
            return;
        }
        Err(_) => {
            tracing::warn!("desk gauges not refreshed: the desk did not answer in time");
            return;
        }
    };
    metrics::gauge!(SUPPORT_QUEUE_LENGTH).set(desk.queue_length() as f64);
    metrics::gauge!(AGENT_ACTIVE_CHATS).set(desk.active_chats() as f64);
    let mut agents: BTreeMap<(String, &'static str), u32> = BTreeMap::new();
    for (department, state) in desk.agent_states() {
        // Every state of a known department, zeros included, so a department
        // whose last agent left shows 0 rather than its last value.
        for s in AGENT_STATES {
            agents.entry((department.clone(), s)).or_insert(0);
        }
        *agents.entry((department, state.as_str())).or_insert(0) += 1;
    }
    for ((department, state), n) in agents {
        metrics::gauge!(SUPPORT_AGENTS, "department" => department, "state" => state)
            .set(f64::from(n));
    }
    let oldest = desk
        .oldest_queued_since()
        .map_or(0.0, |since| (now_millis() - since).max(0) as f64 / 1000.0);
    metrics::gauge!(SUPPORT_QUEUE_OLDEST_WAIT_SECONDS).set(oldest);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chat_core::model::ConversationType;
    use chat_store::{SupportRecord, SupportStatus};

    /// Runs `f` with a recorder of its own and returns what /metrics would show.
    fn rendered(f: impl FnOnce()) -> String {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(SUPPORT_FIRST_RESPONSE_SECONDS.into()),
                WAIT_BUCKETS,
            )
            .expect("buckets")
            .build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, f);
        handle.render()
    }

    fn support_room(id: &str, visitor: &str) -> ConversationRecord {
        ConversationRecord {
            id: id.into(),
            kind: ConversationType::Support,
            name: None,
            created_by: visitor.into(),
            created_at: 0,
            last_activity_at: 0,
            participants: vec![visitor.into()],
            support: Some(SupportRecord {
                visitor_id: visitor.into(),
                visitor_name: "V".into(),
                visitor_email: "v@example.org".into(),
                query_type: "billing".into(),
                department: "billing".into(),
                agent_id: Some("agent".into()),
                status: SupportStatus::Active,
                started_at: now_millis() - 4_000,
                ended_at: None,
                rating: None,
                rating_comment: None,
                page_url: None,
            }),
        }
    }

    #[test]
    fn an_event_name_a_client_invents_is_counted_as_unknown() {
        let text = rendered(|| {
            event_received("message");
            event_received("message");
            event_received("x<script>");
            event_received(&"a".repeat(10_000));
        });
        assert!(
            text.contains("chat_events_total{event=\"message\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("chat_events_total{event=\"unknown\"} 2"),
            "{text}"
        );
        assert!(!text.contains("script") && !text.contains("aaaa"), "{text}");
    }

    #[test]
    fn only_the_first_answer_that_is_not_the_visitors_is_a_first_response() {
        let room = support_room("metrics-test-room", "guest_v");
        let text = rendered(|| {
            support_started(&room.id, "billing");
            message_posted(&room, "guest_v"); // the visitor again: no answer
            message_posted(&room, "system");
            message_posted(&room, "agent"); // the first response
            message_posted(&room, "agent"); // not a first one
        });
        assert!(
            text.contains("chat_support_first_response_seconds_count{department=\"billing\"} 1"),
            "{text}"
        );
        // 4 s after the start: in the 5 s bucket, not the 1 s one.
        assert!(
            text.contains(
                "chat_support_first_response_seconds_bucket{department=\"billing\",le=\"1\"} 0"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "chat_support_first_response_seconds_bucket{department=\"billing\",le=\"5\"} 1"
            ),
            "{text}"
        );
        assert!(!AWAITING_ANSWER.contains(&room.id), "nothing kept after it");
    }

    #[test]
    fn a_user_session_lasts_from_the_first_socket_to_the_last() {
        let text = rendered(|| {
            user_online("metrics-test-user");
            user_offline("metrics-test-user");
            user_offline("metrics-test-user"); // a stray second offline: nothing
            user_offline("metrics-test-never-online");
        });
        assert!(
            text.contains("chat_user_session_duration_seconds_count 1"),
            "{text}"
        );
        assert!(!SESSIONS.contains_key("metrics-test-user"));
    }
}
