//! chat-floor: the library's floor for the benchmarks.
//!
//! A bare socketioxide server that does only what the `fanout`, `ack` and
//! `connections` scenarios need, and stores nothing: an HS256 token checked at
//! connect, `session`, `conversation:create` putting the members' sockets in a
//! room, `message` → one room broadcast and the ack. It uses the gateway's
//! Engine.IO settings (payload limit, 1 KiB websocket read buffer) and its
//! handshake handling (`detach_from_read_buffer`), so the
//! difference between the gateway and this server is what the gateway itself
//! costs above socketioxide: `scripts/bench.sh` runs the three servers (gateway,
//! floor, Node baseline) in one run and reports the ratios.
//!
//! Env: `PORT` (0 = any free port), `HOST` (default 127.0.0.1), `JWT_SECRET`.
//! Prints one line on stdout: `floor listening on http://127.0.0.1:PORT`.

use anyhow::Context;
use jsonwebtoken::{DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{json, Value};
use socketioxide::extract::{AckSender, Extension, SocketRef, State, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

/// The same limit the gateway applies to one packet by default.
const MAX_PACKET_BYTES: u64 = 1_000_000;
const MAX_CONTENT_CHARS: usize = 4000;

#[derive(Clone)]
struct User {
    id: Arc<str>,
    name: Arc<str>,
    role: Arc<str>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    name: Option<String>,
    role: Option<String>,
}

/// Rooms and their members: all the state there is, kept in memory.
#[derive(Default)]
struct Floor {
    rooms: Mutex<HashMap<String, Arc<HashSet<Arc<str>>>>>,
    next_id: AtomicU64,
}

#[derive(Clone)]
struct Shared {
    floor: Arc<Floor>,
    key: Arc<DecodingKey>,
}

impl Floor {
    fn new_id(&self) -> String {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        format!("{:012x}-{n:08x}", now_ms())
    }
    fn members(&self, room: &str) -> Option<Arc<HashSet<Arc<str>>>> {
        self.rooms.lock().ok()?.get(room).cloned()
    }
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

fn fail(ack: AckSender, code: &str, message: &str) {
    // The client may have gone; nothing else to do then.
    let _ = ack.send(&json!({ "ok": false, "error": { "code": code, "message": message } }));
}

/// Connect middleware: a valid HS256 token or no connection.
async fn authenticate(
    s: SocketRef,
    State(shared): State<Shared>,
    TryData(auth): TryData<Value>,
) -> Result<(), &'static str> {
    let token = auth
        .ok()
        .and_then(|a| a.get("token").and_then(Value::as_str).map(str::to_owned))
        .ok_or("Authentication failed")?;
    let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Claims>(&token, &shared.key, &validation)
        .map_err(|_| "Authentication failed")?
        .claims;
    let name = claims.name.unwrap_or_else(|| claims.sub.clone());
    // Here, not in the connect handler: that one is spawned after the client
    // has its CONNECT answer, so an event sent at once (or a room created
    // for this user at once) would find no handler and no user room yet.
    s.join(format!("user:{}", claims.sub));
    s.on("conversation:create", create_conversation);
    s.on("message", message);
    s.extensions.insert(User {
        id: claims.sub.into(),
        name: name.into(),
        role: claims.role.unwrap_or_else(|| "student".into()).into(),
    });
    Ok(())
}

async fn on_connect(s: SocketRef) {
    let Some(user) = s.extensions.get::<User>() else {
        let _ = s.disconnect();
        return;
    };
    let _ = s.emit(
        "session",
        &json!({ "userId": &*user.id, "name": &*user.name, "role": &*user.role }),
    );
}

#[derive(Deserialize)]
struct CreateReq {
    #[serde(rename = "participantIds")]
    participant_ids: Vec<String>,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn create_conversation(
    io: SocketIo,
    ack: AckSender,
    Extension(user): Extension<User>,
    State(shared): State<Shared>,
    TryData(req): TryData<CreateReq>,
) {
    let Ok(req) = req else {
        return fail(ack, "invalid", "participantIds required");
    };
    let mut members: HashSet<Arc<str>> = req
        .participant_ids
        .into_iter()
        .map(|id| Arc::from(id.as_str()))
        .collect();
    members.insert(user.id.clone());
    let id = shared.floor.new_id();
    let user_rooms: Vec<String> = members.iter().map(|m| format!("user:{m}")).collect();
    if let Ok(mut rooms) = shared.floor.rooms.lock() {
        rooms.insert(id.clone(), Arc::new(members.clone()));
    }
    // The local adapter cannot fail.
    let _ = io.to(user_rooms.clone()).join(id.clone()).await;
    let conversation = json!({
        "id": id,
        "type": req.kind.unwrap_or_else(|| "group".into()),
        "name": req.name,
        "participants": members.iter().map(|m| json!({ "id": &**m })).collect::<Vec<_>>(),
        "unreadCount": 0,
        "lastMessage": null,
    });
    let _ = io
        .to(user_rooms)
        .emit("conversation:new", &conversation)
        .await;
    let _ = ack.send(&json!({ "ok": true, "conversation": conversation }));
}

#[derive(Deserialize)]
struct MessageReq {
    #[serde(rename = "roomId")]
    room_id: String,
    content: String,
    #[serde(rename = "clientId")]
    client_id: Option<String>,
}

async fn message(
    io: SocketIo,
    ack: AckSender,
    Extension(user): Extension<User>,
    State(shared): State<Shared>,
    TryData(req): TryData<MessageReq>,
) {
    let Ok(req) = req else {
        return fail(ack, "invalid", "Invalid payload");
    };
    let content = req.content.trim();
    if content.is_empty() {
        return fail(ack, "invalid", "Empty message");
    }
    if content.chars().count() > MAX_CONTENT_CHARS {
        return fail(ack, "too_large", "Message too long");
    }
    match shared.floor.members(&req.room_id) {
        None => return fail(ack, "not_found", "No such room"),
        Some(m) if !m.contains(&user.id) => return fail(ack, "forbidden", "Not a participant"),
        Some(_) => {}
    }
    let message = json!({
        "id": shared.floor.new_id(),
        "roomId": req.room_id,
        "authorId": &*user.id,
        "authorName": &*user.name,
        "content": content,
        "type": "text",
        "attachments": [],
        "parentId": null,
        "clientId": req.client_id,
        "createdAt": now_ms().to_string(),
        "editedAt": null,
    });
    let _ = io.to(req.room_id).emit("message", &message).await;
    let _ = ack.send(&json!({ "ok": true, "message": message }));
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let port: u16 = std::env::var("PORT")
        .unwrap_or_else(|_| "0".into())
        .parse()
        .context("PORT")?;
    let host = std::env::var("HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let secret = std::env::var("JWT_SECRET").context("JWT_SECRET is required")?;
    let shared = Shared {
        floor: Arc::new(Floor::default()),
        key: Arc::new(DecodingKey::from_secret(secret.as_bytes())),
    };
    let (layer, io) = SocketIo::builder()
        .max_payload(MAX_PACKET_BYTES)
        .ws_max_message_size(MAX_PACKET_BYTES as usize)
        .ws_read_buffer_size(1024)
        .with_state(shared)
        .build_layer();
    io.ns("/", on_connect.with(authenticate));
    let app = axum::Router::new()
        .route("/health", axum::routing::get(|| async { "ok" }))
        .layer(layer)
        // As the gateway: the handshake request socketioxide keeps for each
        // socket's life no longer pins hyper's 8 KiB read buffers.
        .layer(tower::util::MapRequestLayer::new(
            chat_gateway::server::detach_from_read_buffer,
        ));
    let listener = tokio::net::TcpListener::bind((host.as_str(), port)).await?;
    let addr = listener.local_addr()?;
    println!("floor listening on http://127.0.0.1:{}", addr.port());
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    .expect("SIGTERM handler");
            term.recv().await;
        })
        .await?;
    Ok(())
}
