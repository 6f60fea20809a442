//! The append batcher: one task per store takes whatever appends are queued
//! (up to [`MAX_BATCH`]) into one transaction of a few array (`unnest`)
//! statements, so under load one commit carries many messages. See the
//! module doc of `postgres`.

use super::outbox::enqueue;
use super::positions::Positions;
use super::rows::*;
use super::PgOptions;
use crate::outbox_items;
use crate::{Appended, NewMessage, StoreError, StoreResult};
use chat_core::model::Message;
use deadpool_postgres::Pool;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};

/// How many queued appends one transaction takes at most.
pub(super) const MAX_BATCH: usize = 512;

pub(super) enum Job {
    Append(Box<NewMessage>, oneshot::Sender<StoreResult<Appended>>),
    Flush(oneshot::Sender<()>),
}

/// The append batcher: one per store, one transaction at a time.
pub(super) async fn batcher(
    pool: Pool,
    options: PgOptions,
    outbox: Arc<AtomicBool>,
    signal: Arc<Notify>,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    while let Some(first) = rx.recv().await {
        let mut appends = Vec::new();
        let mut flushes = Vec::new();
        let mut push = |job| match job {
            Job::Append(m, reply) => appends.push((*m, reply)),
            Job::Flush(reply) => flushes.push(reply),
        };
        push(first);
        let mut n = 1;
        while n < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => {
                    push(job);
                    n += 1;
                }
                Err(_) => break,
            }
        }
        if !appends.is_empty() {
            let ob = outbox.load(Ordering::Relaxed);
            let (messages, replies): (Vec<NewMessage>, Vec<_>) = appends.into_iter().unzip();
            match append_batch(&pool, &options, ob, messages).await {
                Ok(results) => {
                    // Before the answers, as the SQLite writer does.
                    metrics::histogram!(crate::COMMIT_WRITES).record(results.len() as f64);
                    for (reply, result) in replies.into_iter().zip(results) {
                        let _ = reply.send(result);
                    }
                    if ob {
                        signal.notify_one();
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "append batch failed");
                    let text = e.to_string();
                    for reply in replies {
                        let _ = reply.send(Err(match &e {
                            StoreError::Unavailable(_) => StoreError::Unavailable(text.clone()),
                            StoreError::Closed => StoreError::Closed,
                            _ => StoreError::Database(text.clone()),
                        }));
                    }
                }
            }
        }
        for f in flushes {
            let _ = f.send(());
        }
    }
    tracing::debug!("postgres append batcher stopped");
}

/// One transaction for a batch of appends; per message, its result.
async fn append_batch(
    pool: &Pool,
    options: &PgOptions,
    ob: bool,
    batch: Vec<NewMessage>,
) -> StoreResult<Vec<StoreResult<Appended>>> {
    let mut client = pool.get().await?;
    let tx = client.transaction().await?;
    let mut positions =
        Positions::reserve(&tx, options.test_naive_positions, batch.len() as i64).await?;
    // The store makes ids and times (as the SQLite store does).
    let mut rows: Vec<NewMessage> = Vec::with_capacity(batch.len());
    let mut pos = Vec::with_capacity(batch.len());
    for m in batch {
        let id = chat_core::clock::new_id();
        let at = chat_core::clock::id_millis(&id).unwrap_or(m.at);
        rows.push(NewMessage { id, at, ..m });
        pos.push(positions.next(&tx).await?);
    }
    let mut attachments = Vec::with_capacity(rows.len());
    for m in &rows {
        attachments.push(
            serde_json::to_string(&m.attachments)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        );
    }
    let col = |f: fn(&NewMessage) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let ids = col(|m| &m.id);
    let convs = col(|m| &m.conversation_id);
    let authors = col(|m| &m.author_id);
    let names = col(|m| &m.author_name);
    let contents = col(|m| &m.content);
    let kinds = col(|m| m.kind.as_str());
    let parents: Vec<Option<&str>> = rows.iter().map(|m| m.parent_id.as_deref()).collect();
    let clients: Vec<Option<&str>> = rows.iter().map(|m| m.client_id.as_deref()).collect();
    let ats: Vec<i64> = rows.iter().map(|m| m.at).collect();
    let insert = tx
        .prepare_cached(
            "INSERT INTO messages (id, conversation_id, author_id, author_name, content, kind, \
             attachments, parent_id, client_id, created_at, changed_at, seq, pos) \
             SELECT t.id, t.conv, t.author, t.name, t.content, t.kind, t.att, t.parent, t.client, \
                    t.at, t.at, t.pos, t.pos \
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], \
                         $7::text[], $8::text[], $9::text[], $10::int8[], $11::int8[]) \
                  AS t(id, conv, author, name, content, kind, att, parent, client, at, pos) \
             WHERE EXISTS (SELECT 1 FROM conversations c WHERE c.id = t.conv) \
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .await?;
    let inserted: HashSet<String> = tx
        .query(
            &insert,
            &[
                &ids,
                &convs,
                &authors,
                &names,
                &contents,
                &kinds,
                &attachments,
                &parents,
                &clients,
                &ats,
                &pos,
            ],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Not inserted: a resend (same author and clientId), or a missing room.
    let mut earlier: HashMap<(String, String), Message> = HashMap::new();
    let resent: Vec<&NewMessage> = rows
        .iter()
        .filter(|m| !inserted.contains(&m.id) && m.client_id.is_some())
        .collect();
    if !resent.is_empty() {
        let a: Vec<&str> = resent.iter().map(|m| m.author_id.as_str()).collect();
        let c: Vec<&str> = resent
            .iter()
            .filter_map(|m| m.client_id.as_deref())
            .collect();
        let stmt = tx
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m \
                 JOIN unnest($1::text[], $2::text[]) AS t(author, client) \
                 ON m.author_id = t.author AND m.client_id = t.client"
            ))
            .await?;
        for r in tx.query(&stmt, &[&a, &c]).await? {
            let m = message(&r)?;
            if let Some(client_id) = m.client_id.clone() {
                earlier.insert((m.author_id.clone(), client_id), m);
            }
        }
    }
    // The authors have read their own messages; the rooms are active.
    let mut read: HashMap<(&str, &str), (&str, i64)> = HashMap::new();
    let mut active: HashMap<&str, i64> = HashMap::new();
    for m in rows.iter().filter(|m| inserted.contains(&m.id)) {
        let e = read
            .entry((&m.conversation_id, &m.author_id))
            .or_insert((&m.id, m.at));
        if m.id.as_str() > e.0 {
            *e = (&m.id, m.at);
        }
        let a = active.entry(&m.conversation_id).or_insert(m.at);
        *a = (*a).max(m.at);
    }
    if !read.is_empty() {
        let (keys, vals): (Vec<_>, Vec<_>) = read.into_iter().unzip();
        let rc: Vec<&str> = keys.iter().map(|k| k.0).collect();
        let ru: Vec<&str> = keys.iter().map(|k| k.1).collect();
        let ri: Vec<&str> = vals.iter().map(|v| v.0).collect();
        let ra: Vec<i64> = vals.iter().map(|v| v.1).collect();
        let stmt = tx
            .prepare_cached(
                "UPDATE participants p SET last_read_id = t.id, last_read_at = t.at \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[]) AS t(conv, usr, id, at) \
                 WHERE p.conversation_id = t.conv AND p.user_id = t.usr \
                 AND (p.last_read_id IS NULL OR p.last_read_id < t.id)",
            )
            .await?;
        let (ac, aa): (Vec<&str>, Vec<i64>) = active.into_iter().unzip();
        let activity = tx
            .prepare_cached(
                "UPDATE conversations c SET last_activity_at = greatest(c.last_activity_at, t.at) \
                 FROM unnest($1::text[], $2::int8[]) AS t(id, at) WHERE c.id = t.id",
            )
            .await?;
        // Sent together: tokio-postgres pipelines them on the connection.
        let read_args: [&(dyn tokio_postgres::types::ToSql + Sync); 4] = [&rc, &ru, &ri, &ra];
        let activity_args: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&ac, &aa];
        tokio::try_join!(
            tx.execute(&stmt, &read_args),
            tx.execute(&activity, &activity_args)
        )?;
    }
    let mut results = Vec::with_capacity(rows.len());
    for m in rows {
        if inserted.contains(&m.id) {
            let stored = m.into_stored();
            if ob {
                let item = outbox_items::message(&stored);
                enqueue(&tx, &mut positions, Some(&stored.room_id), item).await?;
            }
            results.push(Ok(Appended::New(stored)));
        } else {
            let key = m.client_id.clone().map(|c| (m.author_id.clone(), c));
            match key.and_then(|k| earlier.get(&k)) {
                Some(e) => results.push(Ok(Appended::Duplicate(e.clone()))),
                None => results.push(Err(StoreError::NotFound)),
            }
        }
    }
    positions.save(&tx).await?;
    if let Some(max) = options.test_commit_delay {
        tokio::time::sleep(random_below(max)).await;
    }
    tx.commit().await?;
    Ok(results)
}

/// A pseudo-random duration below `max` (test delays only).
fn random_below(max: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64 ^ (d.as_secs() << 7))
        .unwrap_or(0);
    let x = nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
    Duration::from_micros(x % (max.as_micros() as u64).max(1))
}
