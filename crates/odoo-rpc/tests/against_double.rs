//! The client against `tests/odoo_double` (a test double of Odoo 17 — Odoo
//! itself cannot be installed here; see the double's header for what it
//! reproduces). Each test starts its own double on an ephemeral port.

use odoo_rpc::{OdooClient, OdooConfig, OdooError};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Double {
    child: Child,
    url: String,
}

impl Drop for Double {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn start_double() -> Double {
    let root = repo();
    let mut child = Command::new("python3")
        .arg(root.join("tests/odoo_double/server.py"))
        .args(["--port", "0", "--seed"])
        .arg(root.join("tests/odoo_double/seed.example.json"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs the double");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the double prints its address")
            .expect("utf-8");
        if let Some(url) = line.strip_prefix("odoo-double listening on ") {
            break url.trim().to_owned();
        }
    };
    Double { child, url }
}

fn client(d: &Double, api_key: &str) -> OdooClient {
    OdooClient::new(OdooConfig {
        url: d.url.clone(),
        db: "seitech".into(),
        login: "chat-gateway".into(),
        api_key: api_key.into(),
        timeout: Duration::from_secs(5),
        max_concurrency: 4,
    })
    .unwrap()
}

async fn faults(d: &Double, body: Value) {
    reqwest::Client::new()
        .post(format!("{}/__double__/faults", d.url))
        .json(&body)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
}

const KEY: &str = "test-only-api-key-not-a-secret";

#[tokio::test]
async fn logs_in_and_reads_the_directory() {
    let d = start_double();
    let c = client(&d, KEY);
    assert_eq!(c.uid().await.unwrap(), 2);
    let v = c.api_version().await.unwrap();
    assert_eq!((v.version, v.min_compatible), (1, 1));
    let who = c
        .whois(&["1".into(), "5".into(), "99".into()])
        .await
        .unwrap();
    let roles: Vec<(&str, &str)> = who
        .users
        .iter()
        .map(|u| (u.id.as_str(), u.role.as_str()))
        .collect();
    assert_eq!(roles, vec![("1", "student"), ("5", "support-agent")]);
    assert_eq!(who.missing, vec!["99".to_string()]);
    assert!(who.users[0].courses.iter().any(|c| c.as_role == "student"));
    let agents = c.agents().await.unwrap();
    assert!(agents.iter().any(|a| a.user_id == "5"));
    let found = c.directory_search("1", "", None, 20).await.unwrap();
    assert!(
        found.iter().any(|u| u.id == "3"),
        "a student finds its instructor"
    );
    assert!(
        !found.iter().any(|u| u.id == "4"),
        "but not another course's instructor"
    );
}

#[tokio::test]
async fn a_wrong_api_key_is_a_refused_login() {
    let d = start_double();
    let err = client(&d, "wrong").uid().await.unwrap_err();
    assert_eq!(err, OdooError::LoginRefused);
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn ingest_is_idempotent_and_reports_items_one_by_one() {
    let d = start_double();
    let c = client(&d, KEY);
    let conv = "0192f6c5-0000-7000-8000-00000000c0de";
    let batch = vec![
        json!({"kind": "conversation", "uuid": "0192f6c5-aaaa-7000-8000-000000000001", "conversation_id": conv,
               "type": "direct", "participant_ids": ["1", "3"], "created_at": "2026-11-24T10:00:00.000Z"}),
        json!({"kind": "message", "uuid": "0192f6c5-0000-7000-8000-000000000101", "conversation_id": conv,
               "author_id": "1", "author_name": "Ada Student", "content": "hi", "type": "text",
               "attachments": [], "parent_id": null, "client_id": null, "created_at": "2026-11-24T10:00:01.000Z"}),
        json!({"kind": "message", "uuid": "0192f6c5-0000-7000-8000-000000000102", "conversation_id": "nope",
               "author_id": "1", "author_name": "Ada", "content": "lost", "created_at": "2026-11-24T10:00:02.000Z"}),
    ];
    let first = c.ingest(&batch).await.unwrap();
    assert_eq!(
        first.iter().map(|r| r.status.as_str()).collect::<Vec<_>>(),
        vec!["ok", "ok", "rejected"]
    );
    assert_eq!(first[2].code.as_deref(), Some("unknown_conversation"));
    let again = c.ingest(&batch[..2]).await.unwrap();
    assert!(again.iter().all(|r| r.status == "duplicate"));
}

#[tokio::test]
async fn faults_map_to_retryable_or_permanent_errors() {
    let d = start_double();
    let c = client(&d, KEY);
    c.uid().await.unwrap();
    faults(&d, json!({"http_status": 502})).await;
    let err = c.agents().await.unwrap_err();
    assert_eq!(err, OdooError::Http(502));
    assert!(err.is_retryable());
    faults(&d, json!({"reset": true, "down": true})).await;
    assert!(c.agents().await.unwrap_err().is_retryable());
    faults(&d, json!({"reset": true, "access_denied": true})).await;
    let err = c.agents().await.unwrap_err();
    assert!(err.is_access() && !err.is_retryable(), "{err:?}");
    faults(&d, json!({"reset": true})).await;
    let err = c
        .ingest(&[json!("not an object")])
        .await
        .map(|r| r[0].status.clone());
    assert_eq!(err.unwrap(), "rejected");
}

#[tokio::test]
async fn session_cookies_name_their_user() {
    let d = start_double();
    let c = client(&d, KEY);
    assert_eq!(c.session_uid("test-session-ada").await.unwrap(), 1);
    assert_eq!(
        c.session_uid("no-such-session").await.unwrap_err(),
        OdooError::SessionExpired
    );
}

#[tokio::test]
async fn a_method_returning_none_is_a_null_result_not_an_error() {
    // Odoo leaves "result" out of the envelope when the method returned None.
    let d = start_double();
    let c = client(&d, KEY);
    faults(&d, json!({"none_methods": ["api_version", "agents"]})).await;
    let got: Value = c
        .execute_kw("seitech.chat.gateway", "api_version", json!([]), json!({}))
        .await
        .unwrap();
    assert_eq!(got, Value::Null);
    // A typed answer that needs a value says so (a decode error, not a panic).
    let err = c.agents().await.unwrap_err();
    assert!(matches!(err, OdooError::Decode(_)), "{err:?}");
}

#[tokio::test]
async fn execute_kw_is_called_as_odoo_checks_it() {
    // The double refuses what Odoo's dispatch refuses (a missing `args`, a
    // non-mapping `kw`): the client's calls pass.
    let d = start_double();
    let c = client(&d, KEY);
    let v: Value = c
        .execute_kw("seitech.chat.gateway", "api_version", json!([]), json!({}))
        .await
        .unwrap();
    assert_eq!(v["version"], 1);
    let err = c
        .execute_kw::<Value>("seitech.chat.gateway", "api_version", json!(5), json!({}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OdooError::Server { name, .. } if name == "builtins.TypeError"),
        "{err:?}"
    );
}
