//! A lean Engine.IO v4 / Socket.IO v5 client, websocket transport only.
//!
//! Just what a load generator needs: the open packet, ping → pong, the
//! namespace connect with an auth payload, events with and without acks, and
//! acks. Packets are decoded as borrowed slices so that a receiver that only
//! looks for a timestamp in the content never builds a JSON tree.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};
use tokio_tungstenite::{client_async_with_config, WebSocketStream};

/// One Engine.IO packet (and the Socket.IO packet inside a `4` message).
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `0{"sid":…,"pingInterval":…}`
    Open(&'a str),
    Close,
    Ping,
    Pong,
    Noop,
    /// `40{"sid":…}` on the default namespace
    Connect(&'a str),
    Disconnect,
    /// `42[id]["event",…]`; `payload` is the JSON array
    Event {
        id: Option<u64>,
        payload: &'a str,
    },
    /// `43id[…]`; `payload` is the JSON array of ack arguments
    Ack {
        id: u64,
        payload: &'a str,
    },
    /// `44{"message":…}`
    ConnectError(&'a str),
    /// Binary packets, other namespaces' oddities, garbage.
    Other(&'a str),
}

/// Decodes one websocket text frame.
pub fn decode(frame: &str) -> Packet<'_> {
    let mut chars = frame.char_indices();
    let Some((_, eio)) = chars.next() else {
        return Packet::Other(frame);
    };
    let rest = &frame[1..];
    match eio {
        '0' => Packet::Open(rest),
        '1' => Packet::Close,
        '2' => Packet::Ping,
        '3' => Packet::Pong,
        '6' => Packet::Noop,
        '4' => decode_sio(rest),
        _ => Packet::Other(frame),
    }
}

fn decode_sio(s: &str) -> Packet<'_> {
    let Some(kind) = s.chars().next() else {
        return Packet::Other(s);
    };
    let mut rest = &s[1..];
    // optional namespace "/nsp," (the default namespace "/" is omitted)
    if rest.starts_with('/') {
        match rest.find(',') {
            Some(i) => rest = &rest[i + 1..],
            None => rest = "",
        }
    }
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id = if digits > 0 {
        rest[..digits].parse::<u64>().ok()
    } else {
        None
    };
    let body = &rest[digits..];
    match kind {
        '0' => Packet::Connect(body),
        '1' => Packet::Disconnect,
        '2' => Packet::Event { id, payload: body },
        '3' => match id {
            Some(id) => Packet::Ack { id, payload: body },
            None => Packet::Other(s),
        },
        '4' => Packet::ConnectError(body),
        _ => Packet::Other(s),
    }
}

/// `40{auth}` (or `40` without auth).
pub fn encode_connect(auth: Option<&Value>) -> String {
    match auth {
        Some(a) => format!("40{a}"),
        None => "40".to_string(),
    }
}

/// `42[id]["name",data]`; `data_json` must be one JSON value.
pub fn encode_event(name: &str, data_json: &str, ack: Option<u64>) -> String {
    let name = Value::String(name.to_string());
    match ack {
        Some(id) => format!("42{id}[{name},{data_json}]"),
        None => format!("42[{name},{data_json}]"),
    }
}

/// The event name of an event payload `["name",…]`, if it is a plain string.
pub fn event_name(payload: &str) -> Option<&str> {
    let p = payload.strip_prefix("[\"")?;
    let end = p.find('"')?;
    let name = &p[..end];
    if name.contains('\\') {
        return None;
    }
    Some(name)
}

/// The first argument after the event name, as raw JSON text.
pub fn event_first_arg(payload: &str) -> Option<&str> {
    let name = event_name(payload)?;
    let after = &payload[2 + name.len() + 1..];
    let after = after.strip_prefix(',')?;
    let after = after.strip_suffix(']')?;
    Some(after)
}

/// The value of a top-level-ish string field `"key":"…"` found by a plain
/// scan (no escapes inside the value). Good enough for content the bench
/// itself wrote; returns None when the value has escapes.
pub fn scan_str_field<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let pat = format!("\"{key}\":\"");
    let start = json.find(&pat)? + pat.len();
    let rest = &json[start..];
    let end = rest.find('"')?;
    let v = &rest[..end];
    if v.ends_with('\\') {
        return None;
    }
    Some(v)
}

/// Where to connect: socket address plus the websocket URL.
#[derive(Clone, Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub ws_url: String,
}

impl Target {
    /// From `http://host:port` (or `ws://`); only loopback addresses.
    pub async fn parse(url: &str) -> Result<Target> {
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("ws://"))
            .ok_or_else(|| anyhow!("URL must start with http:// or ws://: {url}"))?;
        let hostport = rest.split('/').next().unwrap_or(rest);
        let addr = tokio::net::lookup_host(hostport)
            .await
            .with_context(|| format!("resolving {hostport}"))?
            .next()
            .ok_or_else(|| anyhow!("no address for {hostport}"))?;
        if !addr.ip().is_loopback() {
            bail!("refusing a non-loopback target {addr}: benchmarks only run against 127.0.0.0/8 or ::1");
        }
        Ok(Target {
            addr,
            ws_url: format!("ws://{hostport}/socket.io/?EIO=4&transport=websocket"),
        })
    }
}

/// Tunables for a connection.
#[derive(Clone, Copy, Debug)]
pub struct ConnOpts {
    /// Source address to bind to (spreads 4-tuples over 127.0.0.0/8).
    pub local_ip: Option<IpAddr>,
    /// Websocket read buffer; keep it small for many idle connections.
    pub read_buffer: usize,
    pub timeout: Duration,
}

impl Default for ConnOpts {
    fn default() -> Self {
        ConnOpts {
            local_ip: None,
            read_buffer: 16 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// One Socket.IO client connection on the default namespace.
pub struct Conn {
    ws: WebSocketStream<TcpStream>,
    pub sid: String,
    next_ack: u64,
}

impl Conn {
    /// TCP connect (from `opts.local_ip` if given), websocket upgrade, Engine.IO
    /// open, Socket.IO connect with `{"token":…}` (guest when `token` is None).
    pub async fn connect(target: &Target, token: Option<&str>, opts: ConnOpts) -> Result<Conn> {
        timeout(opts.timeout, Self::connect_inner(target, token, opts))
            .await
            .map_err(|_| anyhow!("timeout"))?
    }

    async fn connect_inner(target: &Target, token: Option<&str>, opts: ConnOpts) -> Result<Conn> {
        let socket = if target.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(ip) = opts.local_ip {
            socket.bind(SocketAddr::new(ip, 0)).context("bind")?;
        }
        socket.set_nodelay(true)?;
        let stream = socket.connect(target.addr).await.context("tcp connect")?;
        let req = target.ws_url.as_str().into_client_request()?;
        let config = WebSocketConfig::default()
            .read_buffer_size(opts.read_buffer)
            .write_buffer_size(0);
        let (ws, _resp) = client_async_with_config(req, stream, Some(config))
            .await
            .context("websocket handshake")?;
        let mut conn = Conn {
            ws,
            sid: String::new(),
            next_ack: 0,
        };
        // Engine.IO open packet
        let open = conn
            .next_text()
            .await?
            .ok_or_else(|| anyhow!("closed before open"))?;
        match decode(&open) {
            Packet::Open(_) => {}
            other => bail!("expected open packet, got {other:?}"),
        }
        let auth = token.map(|t| serde_json::json!({ "token": t }));
        conn.send_text(encode_connect(auth.as_ref())).await?;
        loop {
            let Some(frame) = conn.next_text().await? else {
                bail!("closed before connect");
            };
            match decode(&frame) {
                Packet::Connect(body) => {
                    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                    conn.sid = v["sid"].as_str().unwrap_or_default().to_string();
                    return Ok(conn);
                }
                Packet::ConnectError(body) => bail!("connect_error {body}"),
                Packet::Ping => conn.send_text("3".into()).await?,
                // events emitted on connect (session, …) may arrive after 40
                _ => {}
            }
        }
    }

    async fn next_text(&mut self) -> Result<Option<Utf8Bytes>> {
        loop {
            match self.ws.next().await {
                None => return Ok(None),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(t))) => return Ok(Some(t)),
                Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Ok(_)) => continue,
            }
        }
    }

    async fn send_text(&mut self, s: String) -> Result<()> {
        self.ws.send(Message::text(s)).await?;
        Ok(())
    }

    /// Next Engine.IO frame that is not a ping (pings are answered here).
    /// `None` when the connection closed.
    pub async fn recv(&mut self) -> Result<Option<Utf8Bytes>> {
        loop {
            let Some(t) = self.next_text().await? else {
                return Ok(None);
            };
            if t.as_str() == "2" {
                self.send_text("3".into()).await?;
                continue;
            }
            if t.as_str() == "1" {
                return Ok(None);
            }
            return Ok(Some(t));
        }
    }

    pub async fn emit(&mut self, name: &str, data_json: &str) -> Result<()> {
        self.send_text(encode_event(name, data_json, None)).await
    }

    /// Emits with an ack id and returns the id.
    pub async fn emit_ack(&mut self, name: &str, data_json: &str) -> Result<u64> {
        let id = self.next_ack;
        self.next_ack += 1;
        self.send_text(encode_event(name, data_json, Some(id)))
            .await?;
        Ok(id)
    }

    /// Emits with an ack and waits for it; returns the first ack argument.
    /// Events that arrive meanwhile are handed to `on_event`.
    pub async fn call_with<F: FnMut(&str)>(
        &mut self,
        name: &str,
        data: &Value,
        wait: Duration,
        mut on_event: F,
    ) -> Result<Value> {
        let id = self.emit_ack(name, &data.to_string()).await?;
        let fut = async {
            loop {
                let Some(frame) = self.recv().await? else {
                    bail!("connection closed while waiting for the ack of {name}");
                };
                match decode(&frame) {
                    Packet::Ack { id: got, payload } if got == id => {
                        let mut v: Value = serde_json::from_str(payload)?;
                        return Ok(v.get_mut(0).map(Value::take).unwrap_or(Value::Null));
                    }
                    Packet::Event { payload, .. } => on_event(payload),
                    Packet::Disconnect => bail!("disconnected by the server"),
                    _ => {}
                }
            }
        };
        timeout(wait, fut)
            .await
            .map_err(|_| anyhow!("no ack for {name} within {wait:?}"))?
    }

    pub async fn call(&mut self, name: &str, data: &Value, wait: Duration) -> Result<Value> {
        self.call_with(name, data, wait, |_| {}).await
    }

    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_engine_io_packets() {
        assert_eq!(decode("2"), Packet::Ping);
        assert_eq!(decode("3"), Packet::Pong);
        assert_eq!(decode("1"), Packet::Close);
        assert_eq!(
            decode(r#"0{"sid":"a","pingInterval":25000}"#),
            Packet::Open(r#"{"sid":"a","pingInterval":25000}"#)
        );
        assert_eq!(decode(""), Packet::Other(""));
    }

    #[test]
    fn decodes_socket_io_packets() {
        assert_eq!(
            decode(r#"40{"sid":"x"}"#),
            Packet::Connect(r#"{"sid":"x"}"#)
        );
        assert_eq!(
            decode(r#"44{"message":"Authentication failed"}"#),
            Packet::ConnectError(r#"{"message":"Authentication failed"}"#)
        );
        assert_eq!(
            decode(r#"42["message",{"a":1}]"#),
            Packet::Event {
                id: None,
                payload: r#"["message",{"a":1}]"#
            }
        );
        assert_eq!(
            decode(r#"4217["x",1]"#),
            Packet::Event {
                id: Some(17),
                payload: r#"["x",1]"#
            }
        );
        assert_eq!(
            decode(r#"4312[{"ok":true}]"#),
            Packet::Ack {
                id: 12,
                payload: r#"[{"ok":true}]"#
            }
        );
        assert_eq!(
            decode(r#"42/admin,3["e"]"#),
            Packet::Event {
                id: Some(3),
                payload: r#"["e"]"#
            }
        );
        assert_eq!(decode("41"), Packet::Disconnect);
    }

    #[test]
    fn encodes_round_trip() {
        let t = encode_event("message", r#"{"roomId":"r","content":"hi"}"#, Some(5));
        assert_eq!(t, r#"425["message",{"roomId":"r","content":"hi"}]"#);
        match decode(&t) {
            Packet::Event { id, payload } => {
                assert_eq!(id, Some(5));
                assert_eq!(event_name(payload), Some("message"));
                assert_eq!(
                    event_first_arg(payload),
                    Some(r#"{"roomId":"r","content":"hi"}"#)
                );
                let v: Value = serde_json::from_str(payload).unwrap();
                assert_eq!(v[1]["content"], "hi");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(encode_event("typing", "\"r\"", None), r#"42["typing","r"]"#);
        assert_eq!(encode_connect(None), "40");
        assert_eq!(
            encode_connect(Some(&serde_json::json!({"token":"t"}))),
            r#"40{"token":"t"}"#
        );
    }

    #[test]
    fn scans_string_fields() {
        let m = r#"{"id":"1","roomId":"r","content":"b 123 4 5","type":"text"}"#;
        assert_eq!(scan_str_field(m, "content"), Some("b 123 4 5"));
        assert_eq!(scan_str_field(m, "missing"), None);
        assert_eq!(event_name(r#"["we\"ird",1]"#), None);
    }
}
