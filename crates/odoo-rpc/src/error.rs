//! Odoo's error envelope, classified by what the caller should do.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OdooError {
    /// Connection refused or reset, DNS failure: Odoo may be back later.
    #[error("cannot reach Odoo: {0}")]
    Transport(String),
    #[error("Odoo did not answer in time")]
    Timeout,
    /// A status other than 200 (a proxy's 502, a restart's 503…).
    #[error("Odoo answered HTTP {0}")]
    Http(u16),
    /// `common.authenticate` answered `false`: wrong login or API key.
    #[error("Odoo refused the gateway's login or API key")]
    LoginRefused,
    /// Code 100: no such session, or it expired.
    #[error("Odoo session expired")]
    SessionExpired,
    /// A server-side exception, by its Python name.
    #[error("Odoo raised {name}: {message}")]
    Server {
        code: i64,
        name: String,
        message: String,
    },
    #[error("unexpected answer from Odoo: {0}")]
    Decode(String),
}

impl OdooError {
    /// Is the same call worth sending again later?
    pub fn is_retryable(&self) -> bool {
        match self {
            OdooError::Transport(_) | OdooError::Timeout => true,
            OdooError::Http(status) => *status >= 500 || *status == 429 || *status == 408,
            OdooError::LoginRefused | OdooError::SessionExpired | OdooError::Decode(_) => false,
            OdooError::Server { name, .. } => !PERMANENT.contains(&name.as_str()),
        }
    }

    /// Access problems: the gateway's configuration must change.
    pub fn is_access(&self) -> bool {
        matches!(self, OdooError::LoginRefused)
            || matches!(self, OdooError::Server { name, .. }
                if name == "odoo.exceptions.AccessDenied" || name == "odoo.exceptions.AccessError")
    }

    /// The call itself was refused as malformed (for `ingest`: split or park it).
    pub fn is_validation(&self) -> bool {
        matches!(self, OdooError::Server { name, .. } if name == "odoo.exceptions.ValidationError")
    }
}

/// Exceptions that will not go away by sending the same call again (API doc §2.3).
const PERMANENT: &[&str] = &[
    "odoo.exceptions.AccessDenied",
    "odoo.exceptions.AccessError",
    "odoo.exceptions.ValidationError",
    "odoo.exceptions.UserError",
    "odoo.exceptions.MissingError",
    "builtins.TypeError",
    "builtins.AttributeError",
    "builtins.ValueError",
    "builtins.KeyError",
];

/// The `result` of a JSON-RPC answer, or its error classified.
pub(crate) fn unwrap_envelope(mut envelope: Value) -> Result<Value, OdooError> {
    if let Some(err) = envelope.get("error") {
        let code = err.get("code").and_then(Value::as_i64).unwrap_or(0);
        let data = err.get("data");
        let name = data
            .and_then(|d| d.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("unknown")
            .to_owned();
        if code == 100 || name == "odoo.http.SessionExpiredException" {
            return Err(OdooError::SessionExpired);
        }
        let message = data
            .and_then(|d| d.get("message"))
            .or_else(|| err.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .chars()
            .take(500)
            .collect();
        return Err(OdooError::Server {
            code,
            name,
            message,
        });
    }
    if envelope.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(OdooError::Decode("not a JSON-RPC 2.0 answer".into()));
    }
    // Odoo leaves `result` out when the method returned None
    // (odoo.http.JsonRPCDispatcher._response): that is a null result.
    Ok(envelope
        .get_mut("result")
        .map(Value::take)
        .unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn server_error(name: &str) -> Value {
        json!({"jsonrpc": "2.0", "id": 1, "error": {"code": 200, "message": "Odoo Server Error",
            "data": {"name": name, "debug": "Traceback…", "message": "boom", "arguments": ["boom"], "context": {}}}})
    }

    #[test]
    fn results_and_errors_are_told_apart() {
        assert_eq!(
            unwrap_envelope(json!({"jsonrpc": "2.0", "id": 1, "result": 2})),
            Ok(json!(2))
        );
        assert_eq!(
            unwrap_envelope(json!({"jsonrpc": "2.0", "id": 1, "result": false})),
            Ok(json!(false))
        );
        let err = unwrap_envelope(server_error("odoo.exceptions.AccessDenied")).unwrap_err();
        assert!(err.is_access() && !err.is_retryable());
        let err = unwrap_envelope(server_error("odoo.exceptions.ValidationError")).unwrap_err();
        assert!(err.is_validation() && !err.is_retryable());
        let err =
            unwrap_envelope(server_error("psycopg2.errors.SerializationFailure")).unwrap_err();
        assert!(err.is_retryable());
        let expired = json!({"jsonrpc": "2.0", "id": 3, "error": {"code": 100, "message": "Odoo Session Expired",
            "data": {"name": "odoo.http.SessionExpiredException", "message": "Session expired"}}});
        assert_eq!(unwrap_envelope(expired), Err(OdooError::SessionExpired));
        assert!(matches!(
            unwrap_envelope(json!({"id": 1})),
            Err(OdooError::Decode(_))
        ));
        // A method that returned None: Odoo sends no "result" at all.
        assert_eq!(
            unwrap_envelope(json!({"jsonrpc": "2.0", "id": 1})),
            Ok(Value::Null)
        );
    }

    #[test]
    fn transport_trouble_is_retryable_and_client_errors_are_not() {
        assert!(OdooError::Transport("refused".into()).is_retryable());
        assert!(OdooError::Timeout.is_retryable());
        assert!(OdooError::Http(502).is_retryable());
        assert!(!OdooError::Http(404).is_retryable());
        assert!(!OdooError::LoginRefused.is_retryable());
    }
}
