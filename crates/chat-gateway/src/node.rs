//! This gateway process as one node of a cluster: its id, shown in `/health`,
//! as the `node` label of every metric (a Prometheus global label) and on
//! every log line, and used as the name of the room every local socket joins
//! (`node:<id>`, see cluster.rs).

use std::io::Write;
use std::sync::Arc;
use tracing_subscriber::fmt::MakeWriter;

/// Why `--node-id` was refused.
#[derive(Debug, thiserror::Error)]
pub enum BadNodeId {
    #[error("NODE_ID must be 1 to 64 characters of letters, digits, '.', '_' or '-' (got {0:?})")]
    Invalid(String),
}

/// The node's id: `--node-id` / `NODE_ID`, else `<hostname>-<pid>`, which is
/// unique among processes on one machine and tells an operator where to look.
pub fn resolve(configured: Option<&str>) -> Result<String, BadNodeId> {
    match configured.map(str::trim).filter(|s| !s.is_empty()) {
        Some(id) if valid(id) => Ok(id.to_owned()),
        Some(id) => Err(BadNodeId::Invalid(id.to_owned())),
        None => {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| {
                    h.trim()
                        .chars()
                        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                        .take(40)
                        .collect::<String>()
                })
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "node".to_owned());
            Ok(format!("{host}-{}", std::process::id()))
        }
    }
}

/// Ids go into room names, metric labels and log lines: keep them plain.
fn valid(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// The room every socket of this node is in.
pub(crate) fn room(node_id: &str) -> String {
    format!("node:{node_id}")
}

/// [`room`] as a `&'static str`, made once per [`crate::state::App`]: every
/// socket joins it, and socketioxide keeps a copy of each room name per
/// socket, which for a borrowed name is no allocation (see
/// [`crate::deliver::role_room`]). Leaked on purpose: one short string per
/// app, which lives as long as the process.
pub(crate) fn static_room(node_id: &str) -> &'static str {
    Box::leak(room(node_id).into_boxed_str())
}

/// Writes log lines with the node id in them: `node=<id> ` before a text
/// line, a `"node":"<id>"` field first in a JSON line. tracing-subscriber
/// formats each event into one buffer and writes it with one call, so the
/// tag lands once at the start of every line, whichever task logged it
/// (a span would only cover the tasks that entered it, not the ones
/// socketioxide, hyper or fred spawn).
#[derive(Clone)]
pub struct TaggedStderr {
    prefix: Arc<[u8]>,
    json_field: Arc<[u8]>,
}

impl TaggedStderr {
    pub fn new(node_id: &str) -> Self {
        Self {
            prefix: format!("node={node_id} ").into_bytes().into(),
            json_field: format!("{{\"node\":\"{node_id}\",").into_bytes().into(),
        }
    }
}

pub struct TaggedLine<'a>(&'a TaggedStderr);

impl Write for TaggedLine<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(buf.len() + self.0.json_field.len());
        match buf.strip_prefix(b"{") {
            Some(rest) => {
                line.extend_from_slice(&self.0.json_field);
                line.extend_from_slice(rest);
            }
            None => {
                line.extend_from_slice(&self.0.prefix);
                line.extend_from_slice(buf);
            }
        }
        std::io::stderr().lock().write_all(&line)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for TaggedStderr {
    type Writer = TaggedLine<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        TaggedLine(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_ids_are_checked() {
        assert_eq!(resolve(Some("gw-1")).ok().as_deref(), Some("gw-1"));
        assert!(resolve(Some("a b")).is_err());
        assert!(resolve(Some("node:1")).is_err());
        assert!(resolve(Some(&"x".repeat(65))).is_err());
    }

    #[test]
    fn the_default_id_names_the_process() {
        let id = resolve(None).unwrap_or_default();
        assert!(valid(&id), "{id}");
        assert!(id.ends_with(&format!("-{}", std::process::id())));
    }
}
