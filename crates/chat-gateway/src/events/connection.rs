//! Connecting and disconnecting (§1): authentication, the `session` event,
//! the rooms a socket belongs to, and presence.

use super::{role_room, user_room, Ctx};
use crate::comings::{settle_presence, stop_typing};
use crate::inbox::{EnqueueHandler, Inbox};
use crate::metrics as m;
use crate::state::App;
use axum::extract::ConnectInfo;
use chat_core::Identity;
use serde_json::{json, Value};
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, TryData};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Why a handshake is refused. The client sees only the message.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("Authentication failed")]
    Authentication,
    #[error("Too many connections; try again later")]
    RateLimited,
    #[error("This server is shutting down; connect again")]
    Draining,
}

/// Connect middleware: rate limit by address, then identify the client.
/// It also opens the socket's inbox here, before the client can emit anything,
/// so no event that arrives during the connect handler is lost.
pub async fn authenticate<A: Adapter>(
    app: App,
    s: SocketRef<A>,
    TryData(auth): TryData<Value>,
) -> Result<(), Refused> {
    if app.draining.load(Ordering::SeqCst) {
        metrics::counter!(m::CONNECTIONS_TOTAL, "result" => "rejected").increment(1);
        return Err(Refused::Draining);
    }
    let client = client_ip(&app, &s);
    if let Some(ip) = client {
        let exempt = ip.is_loopback() && !app.config.rate_limit_loopback;
        if !exempt && !app.connection_limiter.check(&ip.to_string(), 1).await {
            metrics::counter!(m::CONNECTIONS_TOTAL, "result" => "rejected").increment(1);
            return Err(Refused::RateLimited);
        }
    }
    // `auth.token` absent, null or empty: a new guest. Any other non-string: refused.
    let token = match auth.ok().as_ref().and_then(|a| a.get("token")) {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(_) => {
            metrics::counter!(m::CONNECTIONS_TOTAL, "result" => "rejected").increment(1);
            return Err(Refused::Authentication);
        }
    };
    let identified = match (&app.odoo, token.as_deref()) {
        // Not a JWT (three dot-separated parts): an Odoo session id.
        (Some(odoo), Some(t)) if !t.is_empty() && t.split('.').count() != 3 => odoo
            .session_identity(&app, t)
            .await
            .map(|who| (who, None))
            .ok_or(crate::auth::AuthFailed),
        _ => app.auth.identify(token.as_deref()),
    };
    let (identity, guest_token) = match identified {
        Ok(found) => found,
        Err(_) => {
            metrics::counter!(m::CONNECTIONS_TOTAL, "result" => "rejected").increment(1);
            return Err(Refused::Authentication);
        }
    };
    if let Some(ip) = client {
        if !app.abuse.connect(ip, identity.is_guest()).await {
            metrics::counter!(m::CONNECTIONS_TOTAL, "result" => "rejected").increment(1);
            return Err(Refused::RateLimited);
        }
    }
    let identity = Arc::new(identity);
    let ctx = Ctx {
        app: app.clone(),
        ip: client,
        me: identity.clone(),
        synced: Default::default(),
    };
    s.extensions.insert(identity);
    // Only a guest has one. A signed-in user's socket then holds two
    // extensions (identity, inbox), which fit the map's first allocation
    // (three would too; a fourth would double it, on every idle socket).
    if guest_token.is_some() {
        s.extensions.insert(GuestToken(guest_token));
    }
    s.extensions
        .insert(Inbox::<A>::start(ctx, super::dispatch_boxed));
    s.on_fallback(EnqueueHandler);
    // Counted here, with the disconnect handler registered at the same moment,
    // so that every counted socket is uncounted exactly once, even when it
    // closes before the connect handler has run.
    if let Some(me) = s.extensions.get::<Arc<Identity>>() {
        app.presence.connect(&me.user_id).await;
    }
    let connected_at = std::time::Instant::now();
    let n = app.connections.fetch_add(1, Ordering::Relaxed) + 1;
    metrics::gauge!(m::ACTIVE_CONNECTIONS).set(n as f64);
    metrics::gauge!(m::ONLINE_USERS).set(app.presence.users_here() as f64);
    let app2 = app.clone();
    s.on_disconnect(move |s: SocketRef<A>| on_disconnect(app2.clone(), s, connected_at, client));
    Ok(())
}

#[derive(Clone)]
struct GuestToken(Option<String>);

/// The client's address: the TCP peer, or what a trusted proxy says.
fn client_ip<A: Adapter>(app: &App, s: &SocketRef<A>) -> Option<std::net::IpAddr> {
    let parts = s.req_parts();
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(crate::client_addr::client_ip(
        peer,
        &parts.headers,
        &app.config.trusted_proxies,
    ))
}

/// Connect handler: rooms, `session`, presence.
pub async fn on_connect<A: Adapter>(app: App, s: SocketRef<A>) {
    let Some(me) = s.extensions.get::<Arc<Identity>>() else {
        let _ = s.disconnect();
        return;
    };
    metrics::counter!(m::CONNECTIONS_TOTAL, "result" => "accepted").increment(1);

    // A guest is known in memory while it is connected (an admin may write
    // to it) and stored only once it takes part in a conversation (see
    // `settle_guest`; the pre-chat form stores it at once): every anonymous
    // connection is a new guest, and one that never does anything must leave
    // nothing behind (2,000 connects left 2,000 permanent user rows).
    if me.is_guest() {
        if app.people.get(&me.user_id).is_none() {
            app.people.learn(&me);
        }
    } else if let Some(changed) = app.people.learn(&me) {
        if let Err(e) = app.store.upsert_user(changed).await {
            tracing::error!(error = %e, "could not record user");
        }
        super::conversations::ensure_channel_membership(&app, &me).await;
    }
    if let (Some(_), false) = (&app.odoo, me.is_guest()) {
        // Courses and role from Odoo, in the background: a slow Odoo must not
        // hold up connecting.
        let (app, id) = (app.clone(), me.user_id.clone());
        tokio::spawn(async move { crate::odoo::learn(&app, &[id]).await });
    }

    // Every socket of this node is in its node's room, before any other: a
    // cluster emit's published part leaves that room out, so that a local
    // socket never gets, from Redis, what it got directly (crate::cluster).
    s.join(app.node_room);
    s.join(user_room(&me.user_id));
    s.join(role_room(me.role));
    let mut conversations = match app.store.conversation_ids_of(&me.user_id).await {
        Ok(ids) => ids,
        Err(e) => {
            tracing::error!(error = %e, "could not load a user's rooms");
            Vec::new()
        }
    };
    leave_stale_channels(&app, &me, &mut conversations).await;
    s.join(conversations.clone());

    if !me.is_guest() {
        settle_presence(&app, &me.user_id).await;
    }
    super::support::on_agent_connect(&app, &me).await;

    // `session` last, with the inbox opened just before it: once a client
    // has it, the connection is whole (rooms joined, presence settled, an
    // agent available at the desk) for everyone, not only for its own
    // events, which wait for the inbox anyway.
    if let Some(inbox) = s.extensions.get::<Inbox<A>>() {
        inbox.ready();
    }
    // Said once, in `session`: not kept for the socket's life.
    let guest_token = s.extensions.remove::<GuestToken>().and_then(|g| g.0);
    let mut session = json!({ "userId": me.user_id, "name": me.name, "role": me.role });
    if let Some(t) = guest_token {
        session["guestToken"] = Value::String(t);
    }
    crate::send::emit(&s, "session", &session);
}

/// Broadcast channels follow the role the user has now: one it was put in
/// under an earlier role (an admin since demoted) is left, in the store too,
/// so that neither live broadcasts, nor `sync`, nor the conversation list
/// carry that channel any more.
async fn leave_stale_channels(app: &App, me: &Identity, conversations: &mut Vec<String>) {
    let (stale, kept): (Vec<String>, Vec<String>) = std::mem::take(conversations)
        .into_iter()
        .partition(|id| !chat_core::policy::channel_member(id, me.role, me.is_guest(), true));
    *conversations = kept;
    for channel in stale {
        tracing::info!(user = %me.user_id, %channel, "role changed: leaving a broadcast channel");
        if let Err(e) = app.store.remove_participant(&channel, &me.user_id).await {
            tracing::error!(error = %e, "could not take a user out of a channel");
        }
    }
}

/// `connected_at` and `client` (the address [`authenticate`] counted) travel
/// in the handler's closure rather than in socket extensions or maps keyed
/// by socket: they fit the heap block the closure has anyway (issue 15).
async fn on_disconnect<A: Adapter>(
    app: App,
    s: SocketRef<A>,
    connected_at: std::time::Instant,
    client: Option<std::net::IpAddr>,
) {
    // Closing the inbox lets its worker finish what was already queued, then stop.
    s.extensions.remove::<Inbox<A>>();
    let n = app
        .connections
        .fetch_sub(1, Ordering::Relaxed)
        .saturating_sub(1);
    metrics::gauge!(m::ACTIVE_CONNECTIONS).set(n as f64);
    m::connection_closed(connected_at);
    let Some(me) = s.extensions.get::<Arc<Identity>>() else {
        return;
    };
    if let Some(ip) = client {
        app.abuse.disconnect(ip, me.is_guest()).await;
    }
    let last = app.presence.disconnect(&me.user_id).await;
    metrics::gauge!(m::ONLINE_USERS).set(app.presence.users_here() as f64);
    if last {
        stop_typing(&app, &me.user_id).await;
    }
    if !me.is_guest() {
        settle_presence(&app, &me.user_id).await;
    } else if last {
        settle_guest(&app, &me.user_id).await;
    }
    super::support::on_agent_disconnect(&app, &me).await;
}

/// A guest's last socket closed: a guest in no conversation is forgotten
/// (it did nothing); one in a conversation is stored, so that its name
/// outlives a restart.
async fn settle_guest(app: &App, user_id: &str) {
    match app.store.conversation_ids_of(user_id).await {
        // (Unless it came back meanwhile, with its guest token.)
        Ok(rooms) if rooms.is_empty() => {
            if !app.presence.is_online(user_id).await {
                app.people.forget(user_id);
            }
        }
        Ok(_) => {
            if let Some(record) = app.people.get(user_id) {
                if let Err(e) = app.store.upsert_user(record).await {
                    tracing::error!(error = %e, "could not record a guest");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not look up a guest's rooms"),
    }
}
