//! The PostgreSQL store, which several gateway nodes share
//! (`DATABASE_URL=postgres://…`).
//!
//! - **Driver**: tokio-postgres with a deadpool pool; every statement is
//!   prepared once per connection (`prepare_cached`).
//! - **Positions** (the `sync` cursor, see the crate doc): a transaction that
//!   creates, edits or deletes a message, or queues an outbox item, first
//!   locks the one row of `positions` and takes its positions from it; the row
//!   lock is held until COMMIT, so positions follow commit order across every
//!   connection and node. This serialises those commits (one at a time in the
//!   whole cluster); batching keeps that cheap.
//! - **Batching**: appends go through one task per node that takes whatever
//!   is queued (up to [`MAX_BATCH`]) into one transaction of a few
//!   array (`unnest`) statements, so under load one commit carries many
//!   messages. A write to a missing conversation is filtered out of the
//!   batch, not failed with it.
//! - **Idempotency** by the unique index `messages_client (author_id,
//!   client_id)`: `ON CONFLICT DO NOTHING`, then the earlier message is read.
//! - **Outbox**: one node drains at a time: the one holding a session-level
//!   advisory lock on its own connection; if it dies, its connection closes,
//!   the lock goes and another node's drainer takes over. Items are read by
//!   `seq`, a position, so in commit order.

mod rows;
pub mod schema;

use crate::outbox_items;
use crate::{
    Appended, ConversationRecord, ConversationSummary, NewConversation, NewMessage, OutboxItem,
    Page, Store, StoreError, StoreResult, SupportStatus, SupportUpdate, UserRecord,
};
use async_trait::async_trait;
use chat_core::clock::{now_millis, Millis};
use chat_core::model::{ConversationType, Message, Reactions};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use rows::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_postgres::NoTls;

/// How many queued appends one transaction takes at most.
const MAX_BATCH: usize = 512;
/// Key of the advisory lock the outbox drainer holds ("chatobox").
const DRAIN_LOCK: i64 = 0x6368_6174_6f62_6f78;

/// How the store connects and behaves; `Default` for production.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections in the pool.
    pub pool_size: usize,
    /// Test only: take positions from a sequence, i.e. before commit, with no
    /// lock. The contract suite shows that `sync` then skips messages.
    #[doc(hidden)]
    pub test_naive_positions: bool,
    /// Test only: each append batch waits a random time up to this long
    /// between taking its positions and committing.
    #[doc(hidden)]
    pub test_commit_delay: Option<Duration>,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            test_naive_positions: false,
            test_commit_delay: None,
        }
    }
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        match e.code() {
            Some(c) if *c == SqlState::UNIQUE_VIOLATION => StoreError::Conflict(e.to_string()),
            Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => StoreError::NotFound,
            Some(c)
                if *c == SqlState::DISK_FULL
                    || *c == SqlState::INSUFFICIENT_RESOURCES
                    || *c == SqlState::TOO_MANY_CONNECTIONS
                    || *c == SqlState::ADMIN_SHUTDOWN
                    || *c == SqlState::CANNOT_CONNECT_NOW
                    || *c == SqlState::READ_ONLY_SQL_TRANSACTION =>
            {
                StoreError::Unavailable(e.to_string())
            }
            Some(_) => StoreError::Database(e.to_string()),
            // No SQLSTATE: the connection failed or closed.
            None => StoreError::Unavailable(e.to_string()),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            deadpool_postgres::PoolError::Closed => StoreError::Closed,
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// PostgreSQL refuses text with NUL bytes (SQLite keeps them); refused here,
/// per write, so one such value never fails a whole batch.
fn check_text<'a>(values: impl IntoIterator<Item = &'a str>) -> StoreResult<()> {
    if values.into_iter().any(|v| v.contains('\0')) {
        return Err(StoreError::Conflict("text contains a NUL character".into()));
    }
    Ok(())
}

enum Job {
    Append(Box<NewMessage>, oneshot::Sender<StoreResult<Appended>>),
    Flush(oneshot::Sender<()>),
}

struct Drainer {
    client: Option<tokio_postgres::Client>,
    leader: bool,
}

pub struct PgStore {
    pool: Pool,
    config: tokio_postgres::Config,
    options: PgOptions,
    jobs: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    outbox: Arc<AtomicBool>,
    outbox_signal: Arc<Notify>,
    drainer: tokio::sync::Mutex<Drainer>,
    closed: AtomicBool,
}

/// Positions taken in one transaction (see the module doc).
struct Positions {
    naive: bool,
    next: i64,
    /// The counter as this transaction last wrote it.
    saved: i64,
}

impl Positions {
    /// Locks the counter row until this transaction ends. The first statement
    /// of every transaction that takes positions, so no such transaction
    /// waits for it while holding another row lock.
    async fn lock(tx: &Transaction<'_>, naive: bool) -> StoreResult<Self> {
        Self::reserve(tx, naive, 0).await
    }

    /// [`lock`](Self::lock), reserving `n` positions in the same statement
    /// (an append batch knows how many it needs: one round trip fewer).
    async fn reserve(tx: &Transaction<'_>, naive: bool, n: i64) -> StoreResult<Self> {
        if naive {
            return Ok(Self {
                naive,
                next: 0,
                saved: 0,
            });
        }
        let stmt = tx
            .prepare_cached("UPDATE positions SET v = v + $1 WHERE id = 1 RETURNING v")
            .await?;
        let v: i64 = tx.query_one(&stmt, &[&n]).await?.get(0);
        Ok(Self {
            naive,
            next: v - n + 1,
            saved: v,
        })
    }

    async fn next(&mut self, tx: &Transaction<'_>) -> StoreResult<i64> {
        if self.naive {
            let stmt = tx
                .prepare_cached("SELECT nextval('naive_positions')")
                .await?;
            return Ok(tx.query_one(&stmt, &[]).await?.get(0));
        }
        let p = self.next;
        self.next += 1;
        Ok(p)
    }

    /// Writes back the positions taken beyond those reserved; call before COMMIT.
    async fn save(self, tx: &Transaction<'_>) -> StoreResult<()> {
        if self.naive || self.next - 1 <= self.saved {
            return Ok(());
        }
        let stmt = tx
            .prepare_cached("UPDATE positions SET v = $1 WHERE id = 1")
            .await?;
        tx.execute(&stmt, &[&(self.next - 1)]).await?;
        Ok(())
    }
}

async fn enqueue(
    tx: &Transaction<'_>,
    positions: &mut Positions,
    conversation_id: Option<&str>,
    item: Value,
) -> StoreResult<()> {
    let seq = positions.next(tx).await?;
    let stmt = tx
        .prepare_cached(
            "INSERT INTO outbox (seq, conversation_id, item, created_at) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[&seq, &conversation_id, &item.to_string(), &now_millis()],
    )
    .await?;
    Ok(())
}

/// One conversation, through a pooled client or inside a transaction.
async fn get_conversation(
    c: &impl deadpool_postgres::GenericClient,
    id: &str,
) -> StoreResult<Option<ConversationRecord>> {
    let stmt = c
        .prepare_cached(&format!(
            "SELECT {CONVERSATION_COLUMNS} FROM conversations c WHERE c.id = $1"
        ))
        .await?;
    c.query_opt(&stmt, &[&id])
        .await?
        .map(|r| conversation(&r))
        .transpose()
}

async fn get_message_tx(
    tx: &Transaction<'_>,
    id: &str,
    lock: bool,
) -> StoreResult<Option<Message>> {
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let stmt = tx.prepare_cached(&sql).await?;
    tx.query_opt(&stmt, &[&id])
        .await?
        .map(|r| message(&r))
        .transpose()
}

fn direct_key(a: &str, b: &str) -> String {
    if a <= b {
        format!("{a}\n{b}")
    } else {
        format!("{b}\n{a}")
    }
}

/// A user's view of conversations: the record, its unread count for `$1` and
/// its last message, in one query.
fn summary_sql(clause: &str) -> String {
    format!(
        "SELECT {CONVERSATION_COLUMNS}, \
         (SELECT count(*) FROM messages u WHERE u.conversation_id = c.id \
          AND u.id > coalesce((SELECT p.last_read_id FROM participants p \
                               WHERE p.conversation_id = c.id AND p.user_id = $1), '') \
          AND u.author_id <> $1 AND u.deleted_at IS NULL AND u.kind <> 'system'), \
         {MESSAGE_COLUMNS} \
         FROM conversations c LEFT JOIN LATERAL \
         (SELECT * FROM messages l WHERE l.conversation_id = c.id AND l.deleted_at IS NULL \
          ORDER BY l.id DESC LIMIT 1) m ON true \
         WHERE {clause}"
    )
}

fn summary_from_row(r: &tokio_postgres::Row) -> StoreResult<ConversationSummary> {
    let record = conversation(r)?;
    let unread: i64 = get(r, CONVERSATION_WIDTH)?;
    let at = CONVERSATION_WIDTH + 1;
    let last_message = match get::<Option<String>>(r, at)? {
        Some(_) => Some(message_at(r, at)?),
        None => None,
    };
    Ok(ConversationSummary {
        record,
        unread_count: unread.max(0) as u64,
        last_message,
    })
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`), migrates the
    /// schema and starts the append batcher.
    pub async fn open(url: &str) -> StoreResult<Self> {
        Self::open_with(url, PgOptions::default()).await
    }

    pub async fn open_with(url: &str, options: PgOptions) -> StoreResult<Self> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("DATABASE_URL: {e}")))?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .wait_timeout(Some(Duration::from_secs(10)))
            // A database that does not answer fails the call, not hangs it.
            .create_timeout(Some(Duration::from_secs(10)))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        {
            let mut client = pool.get().await?;
            schema::migrate(&mut client).await?;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let outbox = Arc::new(AtomicBool::new(false));
        let outbox_signal = Arc::new(Notify::new());
        tokio::spawn(batcher(
            pool.clone(),
            options.clone(),
            outbox.clone(),
            outbox_signal.clone(),
            rx,
        ));
        Ok(Self {
            pool,
            config,
            options,
            jobs: Mutex::new(Some(tx)),
            outbox,
            outbox_signal,
            drainer: tokio::sync::Mutex::new(Drainer {
                client: None,
                leader: false,
            }),
            closed: AtomicBool::new(false),
        })
    }

    fn outbox_on(&self) -> bool {
        self.outbox.load(Ordering::Relaxed)
    }

    async fn client(&self) -> StoreResult<deadpool_postgres::Object> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(StoreError::Closed);
        }
        Ok(self.pool.get().await?)
    }

    fn signal_outbox(&self) {
        if self.outbox_on() {
            self.outbox_signal.notify_one();
        }
    }

    fn submit(&self, job: Job) -> StoreResult<()> {
        let jobs = self.jobs.lock().map_err(|_| StoreError::Closed)?;
        let sender = jobs.as_ref().ok_or(StoreError::Closed)?;
        sender.send(job).map_err(|_| StoreError::Closed)
    }

    /// The drainer's own connection, holding the drain lock if this node drains.
    async fn drain_client<'a>(
        &self,
        d: &'a mut Drainer,
    ) -> StoreResult<Option<&'a tokio_postgres::Client>> {
        if d.client.as_ref().is_none_or(|c| c.is_closed()) {
            d.leader = false;
            let (client, connection) = self.config.connect(NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "outbox drainer connection closed");
                }
            });
            d.client = Some(client);
        }
        let Some(client) = d.client.as_ref() else {
            return Ok(None);
        };
        if !d.leader {
            d.leader = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&DRAIN_LOCK])
                .await?
                .get(0);
        }
        Ok(if d.leader { Some(client) } else { None })
    }
}

/// The append batcher: one per store, one transaction at a time.
async fn batcher(
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
            let stored = stored_message(m);
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

/// The message as the batch stored it.
fn stored_message(m: NewMessage) -> Message {
    Message {
        id: m.id,
        room_id: m.conversation_id,
        author_id: m.author_id,
        author_name: m.author_name,
        content: m.content,
        kind: m.kind,
        attachments: m.attachments,
        parent_id: m.parent_id,
        client_id: m.client_id,
        created_at: m.at,
        edited_at: None,
        reactions: Default::default(),
        deleted_at: None,
    }
}

#[async_trait]
impl Store for PgStore {
    fn enable_outbox(&self) {
        self.outbox.store(true, Ordering::SeqCst);
    }

    fn outbox_signal(&self) -> Arc<Notify> {
        self.outbox_signal.clone()
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Ok(mut d) = self.drainer.try_lock() {
            // Dropping the connection releases the drain lock.
            d.client = None;
            d.leader = false;
        }
        self.pool.close();
    }

    async fn ping(&self) -> StoreResult<()> {
        let c = self.client().await?;
        c.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    async fn flush(&self) -> StoreResult<()> {
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Flush(tx))?;
        rx.await.map_err(|_| StoreError::Closed)
    }

    async fn upsert_user(&self, u: UserRecord) -> StoreResult<()> {
        self.upsert_users(vec![u]).await
    }

    async fn upsert_users(&self, users: Vec<UserRecord>) -> StoreResult<()> {
        let mut users = users;
        users.retain(|u| {
            check_text([u.id.as_str(), &u.name, u.email.as_deref().unwrap_or("")]).is_ok()
        });
        // One row per id (the last claim wins), or ON CONFLICT would hit a row twice.
        let mut seen = HashSet::new();
        users.reverse();
        users.retain(|u| seen.insert(u.id.clone()));
        if users.is_empty() {
            return Ok(());
        }
        let ids: Vec<&str> = users.iter().map(|u| u.id.as_str()).collect();
        let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        let roles: Vec<&str> = users.iter().map(|u| u.role.as_str()).collect();
        let emails: Vec<Option<&str>> = users.iter().map(|u| u.email.as_deref()).collect();
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO users (id, name, role, email, updated_at) \
                 SELECT t.id, t.name, t.role, t.email, $5 \
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS t(id, name, role, email) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, role = excluded.role, \
                 email = coalesce(excluded.email, users.email), updated_at = excluded.updated_at \
                 WHERE users.name IS DISTINCT FROM excluded.name OR users.role IS DISTINCT FROM excluded.role \
                 OR (excluded.email IS NOT NULL AND users.email IS DISTINCT FROM excluded.email)",
            )
            .await?;
        c.execute(&stmt, &[&ids, &names, &roles, &emails, &now_millis()])
            .await?;
        Ok(())
    }

    async fn users(&self, ids: &[String]) -> StoreResult<Vec<UserRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT id, name, role, email FROM users WHERE id = ANY($1)")
            .await?;
        let mut found: HashMap<String, UserRecord> = HashMap::new();
        for r in c.query(&stmt, &[&ids]).await? {
            let u = user(&r)?;
            found.insert(u.id.clone(), u);
        }
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    async fn all_users(&self) -> StoreResult<Vec<UserRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT id, name, role, email FROM users ORDER BY id")
            .await?;
        c.query(&stmt, &[]).await?.iter().map(user).collect()
    }

    async fn create_conversation(
        &self,
        new: NewConversation,
    ) -> StoreResult<(ConversationRecord, bool)> {
        let key = match (new.kind, new.participants.as_slice()) {
            (ConversationType::Direct, [a, b]) => Some(direct_key(a, b)),
            (ConversationType::Direct, _) => {
                return Err(StoreError::Conflict(
                    "a direct conversation has two participants".into(),
                ))
            }
            _ => None,
        };
        let s = new.support.as_ref();
        check_text(
            [new.id.as_str(), &new.created_by]
                .into_iter()
                .chain(new.name.as_deref())
                .chain(new.participants.iter().map(String::as_str))
                .chain(s.iter().flat_map(|s| {
                    [
                        s.visitor_id.as_str(),
                        &s.visitor_name,
                        &s.visitor_email,
                        &s.query_type,
                        &s.department,
                    ]
                    .into_iter()
                    .chain(s.page_url.as_deref())
                })),
        )?;
        let ob = self.outbox_on();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = if ob {
            Some(Positions::lock(&tx, self.options.test_naive_positions).await?)
        } else {
            None
        };
        let stmt = tx
            .prepare_cached(
                "INSERT INTO conversations (id, kind, name, created_by, created_at, last_activity_at, \
                 direct_key, visitor_id, visitor_name, visitor_email, query_type, department, agent_id, \
                 status, started_at, page_url) VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
                 ON CONFLICT (direct_key) DO NOTHING",
            )
            .await?;
        let n = tx
            .execute(
                &stmt,
                &[
                    &new.id,
                    &new.kind.as_str(),
                    &new.name,
                    &new.created_by,
                    &new.at,
                    &key,
                    &s.map(|s| &s.visitor_id),
                    &s.map(|s| &s.visitor_name),
                    &s.map(|s| &s.visitor_email),
                    &s.map(|s| &s.query_type),
                    &s.map(|s| &s.department),
                    &s.and_then(|s| s.agent_id.as_ref()),
                    &s.map(|s| s.status.as_str()),
                    &s.map(|s| s.started_at),
                    &s.and_then(|s| s.page_url.as_ref()),
                ],
            )
            .await?;
        if n == 0 {
            // The pair already has its direct conversation.
            let stmt = tx
                .prepare_cached("SELECT id FROM conversations WHERE direct_key = $1")
                .await?;
            let existing: String = tx.query_one(&stmt, &[&key]).await?.get(0);
            let record = get_conversation(&tx, &existing)
                .await?
                .ok_or(StoreError::NotFound)?;
            tx.commit().await?;
            return Ok((record, false));
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO participants (conversation_id, user_id, joined_at) \
                 SELECT $1, u, $3 FROM unnest($2::text[]) AS u ON CONFLICT DO NOTHING",
            )
            .await?;
        tx.execute(&stmt, &[&new.id, &new.participants, &new.at])
            .await?;
        let record = get_conversation(&tx, &new.id)
            .await?
            .ok_or(StoreError::NotFound)?;
        if let Some(p) = positions.as_mut() {
            enqueue(
                &tx,
                p,
                Some(&new.id),
                outbox_items::conversation_state(&record),
            )
            .await?;
        }
        if let Some(p) = positions {
            p.save(&tx).await?;
        }
        tx.commit().await?;
        self.signal_outbox();
        Ok((record, true))
    }

    async fn find_direct(&self, a: &str, b: &str) -> StoreResult<Option<String>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT id FROM conversations WHERE direct_key = $1")
            .await?;
        Ok(c.query_opt(&stmt, &[&direct_key(a, b)])
            .await?
            .map(|r| r.get(0)))
    }

    async fn conversation(&self, id: &str) -> StoreResult<Option<ConversationRecord>> {
        let c = self.client().await?;
        get_conversation(&c, id).await
    }

    async fn add_participant(&self, conversation_id: &str, user_id: &str) -> StoreResult<bool> {
        check_text([user_id])?;
        let ob = self.outbox_on() && !conversation_id.starts_with("broadcast-");
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = if ob {
            Some(Positions::lock(&tx, self.options.test_naive_positions).await?)
        } else {
            None
        };
        let stmt = tx
            .prepare_cached(
                "INSERT INTO participants (conversation_id, user_id, joined_at) \
                 SELECT id, $2, $3 FROM conversations WHERE id = $1 ON CONFLICT DO NOTHING",
            )
            .await?;
        let n = tx
            .execute(&stmt, &[&conversation_id, &user_id, &now_millis()])
            .await?;
        if let (1, Some(mut p)) = (n, positions.take()) {
            let record = get_conversation(&tx, conversation_id)
                .await?
                .ok_or(StoreError::NotFound)?;
            let item = outbox_items::conversation_state(&record);
            enqueue(&tx, &mut p, Some(conversation_id), item).await?;
            p.save(&tx).await?;
        }
        tx.commit().await?;
        if n == 1 {
            self.signal_outbox();
        }
        Ok(n == 1)
    }

    async fn add_participants(
        &self,
        conversation_id: &str,
        user_ids: &[String],
    ) -> StoreResult<()> {
        let users: Vec<&str> = user_ids
            .iter()
            .map(String::as_str)
            .filter(|u| !u.contains('\0'))
            .collect();
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "INSERT INTO participants (conversation_id, user_id, joined_at) \
                 SELECT c.id, u, $3 FROM conversations c, unnest($2::text[]) AS u \
                 WHERE c.id = $1 ON CONFLICT DO NOTHING",
            )
            .await?;
        c.execute(&stmt, &[&conversation_id, &users, &now_millis()])
            .await?;
        Ok(())
    }

    async fn remove_participant(&self, conversation_id: &str, user_id: &str) -> StoreResult<bool> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("DELETE FROM participants WHERE conversation_id = $1 AND user_id = $2")
            .await?;
        Ok(c.execute(&stmt, &[&conversation_id, &user_id]).await? == 1)
    }

    async fn conversation_ids_of(&self, user_id: &str) -> StoreResult<Vec<String>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT conversation_id FROM participants WHERE user_id = $1")
            .await?;
        Ok(c.query(&stmt, &[&user_id])
            .await?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    async fn conversations_of(
        &self,
        user_id: &str,
        kind: Option<ConversationType>,
    ) -> StoreResult<Vec<ConversationSummary>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&summary_sql(
                "c.id IN (SELECT conversation_id FROM participants WHERE user_id = $1) \
                 AND ($2::text IS NULL OR c.kind = $2) \
                 ORDER BY c.last_activity_at DESC, c.id DESC",
            ))
            .await?;
        c.query(&stmt, &[&user_id, &kind.map(|k| k.as_str())])
            .await?
            .iter()
            .map(summary_from_row)
            .collect()
    }

    async fn summary_for(
        &self,
        conversation_id: &str,
        user_id: &str,
    ) -> StoreResult<Option<ConversationSummary>> {
        let c = self.client().await?;
        let stmt = c.prepare_cached(&summary_sql("c.id = $2")).await?;
        c.query_opt(&stmt, &[&user_id, &conversation_id])
            .await?
            .map(|r| summary_from_row(&r))
            .transpose()
    }

    async fn support_conversations(
        &self,
        status: SupportStatus,
    ) -> StoreResult<Vec<ConversationRecord>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {CONVERSATION_COLUMNS} FROM conversations c \
                 WHERE c.kind = 'support' AND c.status = $1 ORDER BY c.started_at, c.id"
            ))
            .await?;
        c.query(&stmt, &[&status.as_str()])
            .await?
            .iter()
            .map(conversation)
            .collect()
    }

    async fn update_support(
        &self,
        conversation_id: &str,
        u: SupportUpdate,
    ) -> StoreResult<ConversationRecord> {
        if let Some((_, Some(comment))) = &u.rating {
            check_text([comment.as_str()])?;
        }
        if let Some(Some(agent)) = &u.agent_id {
            check_text([agent.as_str()])?;
        }
        let ob = self.outbox_on();
        let conv = conversation_id;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = if ob {
            Some(Positions::lock(&tx, self.options.test_naive_positions).await?)
        } else {
            None
        };
        let stmt = tx
            .prepare_cached("SELECT kind FROM conversations WHERE id = $1 FOR UPDATE")
            .await?;
        let kind: String = tx
            .query_opt(&stmt, &[&conv])
            .await?
            .ok_or(StoreError::NotFound)?
            .get(0);
        if kind != ConversationType::Support.as_str() {
            return Err(StoreError::Conflict("not a support conversation".into()));
        }
        let stmt = tx
            .prepare_cached(
                "UPDATE conversations SET \
                 agent_id = CASE WHEN $2 THEN $3 ELSE agent_id END, \
                 status = coalesce($4, status), \
                 ended_at = coalesce($5, ended_at), \
                 rating = CASE WHEN $6 THEN $7 ELSE rating END, \
                 rating_comment = CASE WHEN $6 THEN $8 ELSE rating_comment END \
                 WHERE id = $1",
            )
            .await?;
        let rating = u.rating.as_ref().map(|(r, _)| *r as i32);
        let comment = u.rating.as_ref().and_then(|(_, c)| c.clone());
        tx.execute(
            &stmt,
            &[
                &conv,
                &u.agent_id.is_some(),
                &u.agent_id.clone().flatten(),
                &u.status.map(|s| s.as_str()),
                &u.ended_at,
                &u.rating.is_some(),
                &rating,
                &comment,
            ],
        )
        .await?;
        let record = get_conversation(&tx, conv)
            .await?
            .ok_or(StoreError::NotFound)?;
        if let Some(mut p) = positions.take() {
            if u.status == Some(SupportStatus::Ended) {
                let at = u.ended_at.unwrap_or_else(now_millis);
                enqueue(&tx, &mut p, Some(conv), outbox_items::end(conv, at)).await?;
            } else if u.status.is_some() || u.agent_id.is_some() {
                let item = outbox_items::conversation_state(&record);
                enqueue(&tx, &mut p, Some(conv), item).await?;
            }
            if let Some((rating, comment)) = &u.rating {
                let item = outbox_items::rating(conv, *rating, comment.as_deref());
                enqueue(&tx, &mut p, Some(conv), item).await?;
            }
            p.save(&tx).await?;
        }
        tx.commit().await?;
        self.signal_outbox();
        Ok(record)
    }

    async fn agent_served(&self, agent_id: &str, user_id: &str) -> StoreResult<bool> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT 1 FROM conversations WHERE kind = 'support' AND agent_id = $1 \
                 AND visitor_id = $2 LIMIT 1",
            )
            .await?;
        Ok(c.query_opt(&stmt, &[&agent_id, &user_id]).await?.is_some())
    }

    async fn append_message(&self, m: NewMessage) -> StoreResult<Appended> {
        check_text(
            [
                m.conversation_id.as_str(),
                &m.author_id,
                &m.author_name,
                &m.content,
            ]
            .into_iter()
            .chain(m.parent_id.as_deref())
            .chain(m.client_id.as_deref()),
        )?;
        let (tx, rx) = oneshot::channel();
        self.submit(Job::Append(Box::new(m), tx))?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn import_message(&self, m: NewMessage) -> StoreResult<Appended> {
        check_text(
            [
                m.id.as_str(),
                &m.conversation_id,
                &m.author_id,
                &m.author_name,
                &m.content,
            ]
            .into_iter()
            .chain(m.parent_id.as_deref())
            .chain(m.client_id.as_deref()),
        )?;
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = Positions::lock(&tx, self.options.test_naive_positions).await?;
        if let Some(existing) = get_message_tx(&tx, &m.id, false).await? {
            return Ok(Appended::Duplicate(existing));
        }
        let p = positions.next(&tx).await?;
        // Odoo's clock is not ours; `sync` finds it by its position.
        let changed_at = now_millis().max(m.at);
        let attachments = serde_json::to_string(&m.attachments)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO messages (id, conversation_id, author_id, author_name, content, kind, \
                 attachments, parent_id, client_id, created_at, changed_at, seq, pos) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
            )
            .await?;
        tx.execute(
            &stmt,
            &[
                &m.id,
                &m.conversation_id,
                &m.author_id,
                &m.author_name,
                &m.content,
                &m.kind.as_str(),
                &attachments,
                &m.parent_id,
                &m.client_id,
                &m.at,
                &changed_at,
                &p,
            ],
        )
        .await?;
        let stmt = tx
            .prepare_cached(
                "UPDATE conversations SET last_activity_at = greatest(last_activity_at, $2) WHERE id = $1",
            )
            .await?;
        tx.execute(&stmt, &[&m.conversation_id, &changed_at])
            .await?;
        let stored = get_message_tx(&tx, &m.id, false)
            .await?
            .ok_or(StoreError::NotFound)?;
        positions.save(&tx).await?;
        tx.commit().await?;
        Ok(Appended::New(stored))
    }

    async fn message(&self, id: &str) -> StoreResult<Option<Message>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.id = $1"
            ))
            .await?;
        c.query_opt(&stmt, &[&id])
            .await?
            .map(|r| message(&r))
            .transpose()
    }

    async fn edit_message(&self, id: &str, content: String, at: Millis) -> StoreResult<Message> {
        check_text([content.as_str()])?;
        let ob = self.outbox_on();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = Positions::lock(&tx, self.options.test_naive_positions).await?;
        let p = positions.next(&tx).await?;
        let stmt = tx
            .prepare_cached(
                "UPDATE messages SET content = $2, edited_at = $3, changed_at = $3, pos = $4 \
                 WHERE id = $1 AND deleted_at IS NULL RETURNING conversation_id",
            )
            .await?;
        let room: String = tx
            .query_opt(&stmt, &[&id, &content, &at, &p])
            .await?
            .ok_or(StoreError::NotFound)?
            .get(0);
        if ob {
            let item = outbox_items::edit(id, &content, at);
            enqueue(&tx, &mut positions, Some(&room), item).await?;
        }
        let m = get_message_tx(&tx, id, false)
            .await?
            .ok_or(StoreError::NotFound)?;
        positions.save(&tx).await?;
        tx.commit().await?;
        self.signal_outbox();
        Ok(m)
    }

    async fn delete_message(&self, id: &str, at: Millis) -> StoreResult<Message> {
        let ob = self.outbox_on();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = Positions::lock(&tx, self.options.test_naive_positions).await?;
        let p = positions.next(&tx).await?;
        let stmt = tx
            .prepare_cached(
                "UPDATE messages SET deleted_at = $2, changed_at = $2, content = '', \
                 attachments = '[]', pos = $3 WHERE id = $1 AND deleted_at IS NULL \
                 RETURNING conversation_id",
            )
            .await?;
        let room: String = tx
            .query_opt(&stmt, &[&id, &at, &p])
            .await?
            .ok_or(StoreError::NotFound)?
            .get(0);
        if ob {
            enqueue(
                &tx,
                &mut positions,
                Some(&room),
                outbox_items::delete(id, at),
            )
            .await?;
        }
        let m = get_message_tx(&tx, id, false)
            .await?
            .ok_or(StoreError::NotFound)?;
        positions.save(&tx).await?;
        tx.commit().await?;
        self.signal_outbox();
        Ok(m)
    }

    async fn toggle_reaction(
        &self,
        id: &str,
        user_id: &str,
        emoji: &str,
        at: Millis,
    ) -> StoreResult<(Message, Reactions)> {
        check_text([user_id, emoji])?;
        let ob = self.outbox_on();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = if ob {
            Some(Positions::lock(&tx, self.options.test_naive_positions).await?)
        } else {
            None
        };
        // The row lock makes concurrent toggles of one message take turns.
        let mut message = get_message_tx(&tx, id, true)
            .await?
            .ok_or(StoreError::NotFound)?;
        if message.deleted_at.is_some() {
            return Err(StoreError::NotFound);
        }
        let users = message.reactions.entry(emoji.to_owned()).or_default();
        let added = if let Some(at) = users.iter().position(|u| u == user_id) {
            users.remove(at);
            if users.is_empty() {
                message.reactions.remove(emoji);
            }
            false
        } else {
            users.push(user_id.to_owned());
            true
        };
        if let Some(mut p) = positions.take() {
            let item = outbox_items::reaction(id, user_id, emoji, added);
            enqueue(&tx, &mut p, Some(&message.room_id), item).await?;
            p.save(&tx).await?;
        }
        let json = serde_json::to_string(&message.reactions)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let stmt = tx
            .prepare_cached(
                "UPDATE messages SET reactions = $2, changed_at = greatest(changed_at, $3) WHERE id = $1",
            )
            .await?;
        tx.execute(&stmt, &[&id, &json, &at]).await?;
        tx.commit().await?;
        self.signal_outbox();
        let reactions = message.reactions.clone();
        Ok((message, reactions))
    }

    async fn history(
        &self,
        conversation_id: &str,
        page: Page,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let limit = page.limit.clamp(1, 100);
        let (cond, order, cursor) = match (&page.before, &page.after) {
            (_, Some(after)) => ("m.id > $2", "ASC", after.clone()),
            (Some(before), None) => ("m.id < $2", "DESC", before.clone()),
            (None, None) => ("$2 = ''", "DESC", String::new()),
        };
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 AND {cond} \
             AND m.deleted_at IS NULL ORDER BY m.id {order} LIMIT $3"
        );
        let c = self.client().await?;
        let stmt = c.prepare_cached(&sql).await?;
        let mut messages = c
            .query(&stmt, &[&conversation_id, &cursor, &((limit + 1) as i64)])
            .await?
            .iter()
            .map(message)
            .collect::<StoreResult<Vec<_>>>()?;
        let has_more = messages.len() > limit;
        messages.truncate(limit);
        Ok((messages, has_more))
    }

    async fn sync(
        &self,
        user_id: &str,
        since: &str,
        limit: usize,
    ) -> StoreResult<(Vec<Message>, bool)> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id IN \
                 (SELECT conversation_id FROM participants WHERE user_id = $1) \
                 AND m.pos > coalesce((SELECT s.seq FROM messages s WHERE s.id = $2), 0) \
                 ORDER BY m.pos LIMIT $3"
            ))
            .await?;
        let mut messages = c
            .query(&stmt, &[&user_id, &since, &((limit + 1) as i64)])
            .await?
            .iter()
            .map(message)
            .collect::<StoreResult<Vec<_>>>()?;
        let has_more = messages.len() > limit;
        messages.truncate(limit);
        Ok((messages, has_more))
    }

    async fn transcript(&self, conversation_id: &str) -> StoreResult<Vec<Message>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = $1 \
                 AND m.deleted_at IS NULL ORDER BY m.id"
            ))
            .await?;
        c.query(&stmt, &[&conversation_id])
            .await?
            .iter()
            .map(message)
            .collect()
    }

    async fn mark_read(
        &self,
        conversation_id: &str,
        user_id: &str,
        message_id: &str,
        at: Millis,
    ) -> StoreResult<()> {
        let ob = self.outbox_on();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let mut positions = if ob {
            Some(Positions::lock(&tx, self.options.test_naive_positions).await?)
        } else {
            None
        };
        let stmt = tx
            .prepare_cached("SELECT conversation_id FROM messages WHERE id = $1")
            .await?;
        let in_room: Option<String> = tx.query_opt(&stmt, &[&message_id]).await?.map(|r| r.get(0));
        if in_room.as_deref() != Some(conversation_id) {
            return Err(StoreError::NotFound);
        }
        let stmt = tx
            .prepare_cached(
                "UPDATE participants SET last_read_id = $3, last_read_at = $4 \
                 WHERE conversation_id = $1 AND user_id = $2 \
                 AND (last_read_id IS NULL OR last_read_id < $3)",
            )
            .await?;
        let moved = tx
            .execute(&stmt, &[&conversation_id, &user_id, &message_id, &at])
            .await?;
        if let (1, Some(mut p)) = (moved, positions.take()) {
            let item = outbox_items::read(conversation_id, message_id, user_id, at);
            enqueue(&tx, &mut p, Some(conversation_id), item).await?;
            p.save(&tx).await?;
        }
        tx.commit().await?;
        if moved == 1 {
            self.signal_outbox();
        }
        Ok(())
    }

    async fn newest_message_id(&self, conversation_id: &str) -> StoreResult<Option<String>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("SELECT max(id) FROM messages WHERE conversation_id = $1")
            .await?;
        Ok(c.query_one(&stmt, &[&conversation_id]).await?.get(0))
    }

    async fn outbox_peek(&self, limit: usize) -> StoreResult<Vec<OutboxItem>> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(StoreError::Closed);
        }
        let mut d = self.drainer.lock().await;
        let Some(client) = self.drain_client(&mut d).await? else {
            return Ok(Vec::new());
        };
        let stmt = client
            .prepare("SELECT seq, item FROM outbox ORDER BY seq LIMIT $1")
            .await?;
        let rows = client.query(&stmt, &[&(limit as i64)]).await?;
        rows.iter()
            .map(|r| {
                let seq: i64 = get(r, 0)?;
                let text: String = get(r, 1)?;
                let item = serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("outbox item {seq}: {e}")))?;
                Ok(OutboxItem { seq, item })
            })
            .collect()
    }

    async fn outbox_done(&self, seqs: &[i64]) -> StoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        let c = self.client().await?;
        let stmt = c
            .prepare_cached("DELETE FROM outbox WHERE seq = ANY($1)")
            .await?;
        c.execute(&stmt, &[&seqs]).await?;
        Ok(())
    }

    async fn outbox_park(&self, seq: i64, code: &str, reason: &str) -> StoreResult<()> {
        let (code, reason) = (code.replace('\0', ""), reason.replace('\0', ""));
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let stmt = tx
            .prepare_cached(
                "INSERT INTO dead_letters (seq, item, code, reason, parked_at) \
                 SELECT seq, item, $2, $3, $4 FROM outbox WHERE seq = $1 \
                 ON CONFLICT (seq) DO UPDATE SET item = excluded.item, code = excluded.code, \
                 reason = excluded.reason, parked_at = excluded.parked_at",
            )
            .await?;
        tx.execute(&stmt, &[&seq, &code, &reason, &now_millis()])
            .await?;
        let stmt = tx
            .prepare_cached("DELETE FROM outbox WHERE seq = $1")
            .await?;
        tx.execute(&stmt, &[&seq]).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn outbox_last_dead(&self) -> StoreResult<Option<(String, String)>> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT coalesce(code, ''), coalesce(reason, '') FROM dead_letters \
                 ORDER BY parked_at DESC, seq DESC LIMIT 1",
            )
            .await?;
        match c.query_opt(&stmt, &[]).await? {
            Some(r) => Ok(Some((get(&r, 0)?, get(&r, 1)?))),
            None => Ok(None),
        }
    }

    async fn outbox_requeue(&self, uuids: &[String]) -> StoreResult<u64> {
        let uuids = uuids.to_vec();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The original seq puts an item back where it was in the order: a
        // refused conversation goes before its refused messages again.
        let back = tx
            .prepare_cached(
                "INSERT INTO outbox (seq, conversation_id, item, created_at) \
                 SELECT seq, item::jsonb ->> 'conversation_id', item, $2 FROM dead_letters \
                 WHERE item::jsonb ->> 'uuid' = ANY($1) ON CONFLICT (seq) DO NOTHING",
            )
            .await?;
        tx.execute(&back, &[&uuids, &now_millis()]).await?;
        let gone = tx
            .prepare_cached(
                "DELETE FROM dead_letters WHERE item::jsonb ->> 'uuid' = ANY($1) \
                 AND seq IN (SELECT seq FROM outbox)",
            )
            .await?;
        let moved = tx.execute(&gone, &[&uuids]).await?;
        tx.commit().await?;
        Ok(moved)
    }

    async fn outbox_counts(&self) -> StoreResult<(u64, u64)> {
        let c = self.client().await?;
        let stmt = c
            .prepare_cached(
                "SELECT (SELECT count(*) FROM outbox), (SELECT count(*) FROM dead_letters)",
            )
            .await?;
        let r = c.query_one(&stmt, &[]).await?;
        let (a, b): (i64, i64) = (get(&r, 0)?, get(&r, 1)?);
        Ok((a.max(0) as u64, b.max(0) as u64))
    }

    async fn record_transcript(
        &self,
        conversation_id: &str,
        at: Millis,
        window_ms: Millis,
        max: u32,
    ) -> StoreResult<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Nodes counting at once take turns on the conversation's row.
        let stmt = tx
            .prepare_cached("SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE")
            .await?;
        tx.query_opt(&stmt, &[&conversation_id]).await?;
        let stmt = tx
            .prepare_cached(
                "SELECT count(*) FROM transcripts_sent WHERE conversation_id = $1 AND sent_at > $2",
            )
            .await?;
        let recent: i64 = tx
            .query_one(&stmt, &[&conversation_id, &(at - window_ms)])
            .await?
            .get(0);
        if recent >= max as i64 {
            return Ok(false);
        }
        let stmt = tx
            .prepare_cached(
                "INSERT INTO transcripts_sent (conversation_id, sent_at) VALUES ($1, $2)",
            )
            .await?;
        tx.execute(&stmt, &[&conversation_id, &at]).await?;
        tx.commit().await?;
        Ok(true)
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
    }
}
