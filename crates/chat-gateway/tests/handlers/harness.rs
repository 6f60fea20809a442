//! A gateway node in the test's process and clients that talk to it.
//!
//! The node is the real one ([`chat_gateway::server::assemble`]: the demo
//! directory, a SQLite store in a temporary directory, the in-process desk
//! and shared state), without a listener: sockets are connected through
//! socketioxide's in-process harness, which hands the test the Engine.IO
//! packets both ways. Every handler, the inbox and the connect middleware
//! run exactly as behind a websocket.
//!
//! Nothing waits for time to pass: a client waits for the packet it expects
//! (its ack, an event); [`PATIENCE`] only turns a hang into a failure.

use chat_core::Role;
use chat_gateway::auth::Authenticator;
use chat_gateway::config::Config;
use chat_gateway::state::App;
use clap::Parser;
use engineioxide::Packet;
use serde_json::{json, Value};
use socketioxide::SocketIo;
use std::collections::VecDeque;
use std::time::Duration;
use tokio::sync::mpsc::{Receiver, Sender};

const SECRET: &str = "handlers-test-secret";

/// How long a client waits for a packet before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

pub struct Node {
    pub app: App,
    io: SocketIo,
    auth: Authenticator,
    _dir: tempfile::TempDir,
}

impl Node {
    /// A fresh node with the demo directory: students `1` and `3`,
    /// instructor `2`, support agents `5` (support), `6` (sales), `7`
    /// (billing), `8` (general), admin `9`.
    pub async fn start() -> Node {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let data_dir = dir.path().to_str().expect("a UTF-8 path").to_owned();
        let mut config = Config::parse_from([
            "seitech-chat",
            "--demo",
            "--jwt-secret",
            SECRET,
            "--data-dir",
            &data_dir,
            "--node-id",
            "handlers-test",
        ]);
        // Whatever the environment says: one node, SQLite, no Odoo, no mail.
        config.database_url = None;
        config.redis_url = None;
        config.odoo_url = None;
        config.smtp_url = None;
        // Not installed process-wide: every test has its own node.
        let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
            .build_recorder()
            .handle();
        let assembled = chat_gateway::server::assemble(config, metrics)
            .await
            .expect("the node assembles");
        Node {
            app: assembled.app,
            io: assembled
                .io
                .expect("one node has an in-process Socket.IO handle"),
            auth: Authenticator::new(SECRET.as_bytes()),
            _dir: dir,
        }
    }

    /// A signed-in user of the directory.
    pub async fn user(&self, id: &str, role: Role) -> Client {
        let token = self
            .auth
            .user_token(id, &format!("User {id}"), role, 3600)
            .expect("a token");
        self.connect(json!({ "token": token })).await
    }

    /// A visitor without a token: the gateway makes it a guest.
    pub async fn guest(&self) -> Client {
        self.connect(json!({})).await
    }

    async fn connect(&self, auth: Value) -> Client {
        let (tx, rx) = self.io.new_dummy_sock("/", auth).await;
        let mut client = Client {
            tx,
            rx,
            next_ack: 1,
            events: VecDeque::new(),
            user_id: String::new(),
        };
        let session = client.event("session").await;
        client.user_id = session["userId"]
            .as_str()
            .expect("session names the user")
            .to_owned();
        client
    }

    /// Every message of a conversation, as stored.
    pub async fn stored(&self, conversation_id: &str) -> Vec<chat_core::model::Message> {
        self.app
            .store
            .transcript(conversation_id)
            .await
            .expect("the store answers")
    }
}

/// One socket: sends events with acks, collects the events it is sent.
pub struct Client {
    tx: Sender<Packet>,
    rx: Receiver<Packet>,
    next_ack: u64,
    /// Events received while waiting for something else, oldest first.
    events: VecDeque<(String, Value)>,
    pub user_id: String,
}

/// A client a test is done with closes its socket, and what the server
/// still sends it meanwhile is read and dropped: the harness's pipe fails
/// (panics) on a receiver that is gone.
impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.tx.try_send(Packet::Close);
        let (_, gone) = tokio::sync::mpsc::channel(1);
        let mut rx = std::mem::replace(&mut self.rx, gone);
        tokio::spawn(async move { while rx.recv().await.is_some() {} });
    }
}

/// A Socket.IO packet the server sent, as far as the tests care.
enum Incoming {
    Event(String, Value),
    Ack(u64, Value),
    Other,
}

impl Client {
    /// Emits `event` with `data` and returns its ack (`{ ok, ... }`).
    pub async fn call(&mut self, event: &str, data: Value) -> Value {
        let id = self.emit_acked(event, data).await;
        self.ack(id).await
    }

    /// Emits `event` asking for an ack, without waiting for it; returns the
    /// ack's id for [`ack`](Self::ack).
    pub async fn emit_acked(&mut self, event: &str, data: Value) -> u64 {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send(format!("2{id}{}", json!([event, data]))).await;
        id
    }

    /// Emits `event` without asking for an ack (failures come as `chat:error`).
    pub async fn emit(&mut self, event: &str, data: Value) {
        self.send(format!("2{}", json!([event, data]))).await;
    }

    /// The ack of an event sent with [`emit_acked`](Self::emit_acked); acks
    /// must be awaited in the order they were asked for.
    pub async fn ack(&mut self, id: u64) -> Value {
        loop {
            match self.receive().await {
                Incoming::Ack(got, body) if got == id => return body,
                Incoming::Ack(got, _) => panic!("ack {got} came while waiting for ack {id}"),
                Incoming::Event(name, body) => self.events.push_back((name, body)),
                Incoming::Other => {}
            }
        }
    }

    async fn send(&mut self, packet: String) {
        self.tx
            .send(Packet::Message(packet.into()))
            .await
            .expect("the socket is open");
    }

    /// Emits and expects `{ ok: true }`; returns the ack.
    pub async fn ok(&mut self, event: &str, data: Value) -> Value {
        let ack = self.call(event, data.clone()).await;
        assert_eq!(ack["ok"], true, "{event} {data} answered {ack}");
        ack
    }

    /// Emits and expects a failure with `code`; returns the ack.
    pub async fn fails(&mut self, code: &str, event: &str, data: Value) -> Value {
        let ack = self.call(event, data.clone()).await;
        assert_eq!(ack["ok"], false, "{event} {data} answered {ack}");
        assert_eq!(ack["error"]["code"], code, "{event} {data} answered {ack}");
        ack
    }

    /// The direct conversation with `peer`, created; returns its id.
    pub async fn direct_room(&mut self, peer: &str) -> String {
        let created = self
            .ok(
                "conversation:create",
                json!({ "type": "direct", "participantIds": [peer] }),
            )
            .await;
        id_of(&created["conversation"])
    }

    /// As a guest: a support chat about an upload, with its first message;
    /// returns the room's id.
    pub async fn start_support_chat(&mut self) -> String {
        let started = self
            .ok(
                "support:start",
                json!({
                    "name": "Vera Visitor",
                    "email": "vera@example.org",
                    "queryType": "technical_support",
                    "message": "My upload fails",
                }),
            )
            .await;
        id_of(&started["conversation"])
    }

    /// The next `name` event (earlier ones of other names are kept).
    pub async fn event(&mut self, name: &str) -> Value {
        if let Some(i) = self.events.iter().position(|(n, _)| n == name) {
            return self.events.remove(i).map(|(_, v)| v).unwrap_or(Value::Null);
        }
        loop {
            match self.receive().await {
                Incoming::Event(n, body) if n == name => return body,
                Incoming::Event(n, body) => self.events.push_back((n, body)),
                _ => {}
            }
        }
    }

    async fn receive(&mut self) -> Incoming {
        let packet = tokio::time::timeout(PATIENCE, self.rx.recv())
            .await
            .expect("the server answered in time")
            .expect("the socket is open");
        match packet {
            Packet::Message(text) => parse(&text),
            _ => Incoming::Other,
        }
    }
}

/// `2["event",data]`, `3<id>[data]`; the default namespace has no prefix.
fn parse(text: &str) -> Incoming {
    let kind = text.chars().next();
    let rest = text.get(1..).unwrap_or_default();
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let (id, json) = rest.split_at(digits);
    let Ok(Value::Array(mut items)) = serde_json::from_str::<Value>(json) else {
        return Incoming::Other;
    };
    match kind {
        Some('2') if !items.is_empty() => {
            let name = items.remove(0).as_str().unwrap_or_default().to_owned();
            Incoming::Event(name, items.into_iter().next().unwrap_or(Value::Null))
        }
        Some('3') => match id.parse() {
            Ok(id) => Incoming::Ack(id, items.into_iter().next().unwrap_or(Value::Null)),
            Err(_) => Incoming::Other,
        },
        _ => Incoming::Other,
    }
}

/// The `id` of a conversation in an ack.
fn id_of(conversation: &Value) -> String {
    conversation["id"].as_str().expect("an id").to_owned()
}
