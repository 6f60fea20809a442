//! The contract for durability: a failing write spoils none of its batch,
//! and an acked message survives SIGKILL of the process.

use super::backends::Backend;
use super::suite::{group, msg};

use std::collections::HashSet;
use std::io::{BufRead, BufReader};

pub async fn a_failing_write_does_not_spoil_its_batch(b: &dyn Backend) {
    let s = b.open().await;
    let room = group(&*s, &["a", "b"]).await;
    let mut tasks = vec![];
    for i in 0..200 {
        let s = s.clone();
        let target = if i % 10 == 0 {
            "no-such-room".to_string()
        } else {
            room.clone()
        };
        tasks.push(tokio::spawn(async move {
            s.append_message(msg(&target, "a", &format!("{i}"), None))
                .await
                .is_ok()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap() as usize;
    }
    assert_eq!(ok, 180, "only the 20 writes to a missing room fail");
    assert_eq!(s.transcript(&room).await.unwrap().len(), 180);
}

/// The child half of the crash test: writes until killed, printing each acked id.
pub async fn crash_child() {
    let (Ok(kind), Ok(at), Ok(room)) = (
        std::env::var("CHAT_STORE_CRASH_KIND"),
        std::env::var("CHAT_STORE_CRASH_AT"),
        std::env::var("CHAT_STORE_CRASH_ROOM"),
    ) else {
        return;
    };
    let s = super::backends::open_located(&kind, &at).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // Many concurrent writers so acks arrive from commits of several messages.
    for w in 0..8 {
        let (s, room, tx) = (s.clone(), room.clone(), tx.clone());
        tokio::spawn(async move {
            for i in 0..100_000 {
                let m = s
                    .append_message(msg(&room, "a", &format!("{w}-{i}"), None))
                    .await
                    .unwrap();
                if tx.send(m.message().id.clone()).is_err() {
                    break;
                }
            }
        });
    }
    let mut out = std::io::stdout();
    while let Some(id) = rx.recv().await {
        use std::io::Write;
        writeln!(out, "{id}").unwrap();
        out.flush().unwrap();
    }
}

pub async fn acked_messages_survive_sigkill(b: &dyn Backend) {
    let room = {
        let s = b.open().await;
        let r = group(&*s, &["a", "b"]).await;
        s.close();
        r
    };
    let (kind, at) = b.locate();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "crash_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CHAT_STORE_CRASH_KIND", kind)
        .env("CHAT_STORE_CRASH_AT", &at)
        .env("CHAT_STORE_CRASH_ROOM", &room)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut acked = vec![];
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if line.len() == 36 {
            acked.push(line);
        }
        if acked.len() >= 2_000 {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush.
    child.wait().unwrap();
    assert!(acked.len() >= 2_000, "child acked only {}", acked.len());
    let s = b.open().await;
    let stored: HashSet<String> = s
        .transcript(&room)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    let missing: Vec<_> = acked.iter().filter(|id| !stored.contains(*id)).collect();
    assert!(
        missing.is_empty(),
        "{} acked messages lost, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}
