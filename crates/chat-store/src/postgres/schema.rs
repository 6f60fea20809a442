//! Versioned schema migrations of the PostgreSQL store, applied in order at
//! start-up. The table `schema_migrations` records which have run; a
//! migration is never edited once released, only appended. Several nodes may
//! start at once: the migrating transaction holds an advisory lock, so the
//! others wait and then find the work done.

use crate::StoreResult;
use deadpool_postgres::ClientWrapper;

/// Key of the advisory lock held while migrating ("chatmigr").
const MIGRATION_LOCK: i64 = 0x6368_6174_6d69_6772;

const MIGRATIONS: &[&str] = &[
    // 1: the chat schema, the SQLite store's as of its migration 4. Ids
    // compare byte-wise (COLLATE "C"), as in SQLite: UUIDv7 strings then sort
    // by time, whatever the database's locale.
    r#"
    CREATE TABLE users (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        email TEXT,
        updated_at BIGINT NOT NULL
    );
    CREATE TABLE conversations (
        id TEXT COLLATE "C" PRIMARY KEY,
        kind TEXT NOT NULL,
        name TEXT,
        created_by TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        last_activity_at BIGINT NOT NULL,
        -- "a\nb" (sorted ids) for direct conversations: one per pair, enforced here.
        direct_key TEXT COLLATE "C" UNIQUE,
        visitor_id TEXT,
        visitor_name TEXT,
        visitor_email TEXT,
        query_type TEXT,
        department TEXT,
        agent_id TEXT,
        status TEXT,
        started_at BIGINT,
        ended_at BIGINT,
        rating INTEGER,
        rating_comment TEXT
    );
    CREATE INDEX conversations_support ON conversations(status, started_at) WHERE kind = 'support';
    CREATE TABLE participants (
        conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations(id),
        user_id TEXT COLLATE "C" NOT NULL,
        joined_at BIGINT NOT NULL,
        last_read_id TEXT COLLATE "C",
        last_read_at BIGINT,
        PRIMARY KEY (conversation_id, user_id)
    );
    CREATE INDEX participants_user ON participants(user_id);
    CREATE TABLE messages (
        id TEXT COLLATE "C" PRIMARY KEY,
        conversation_id TEXT COLLATE "C" NOT NULL REFERENCES conversations(id),
        author_id TEXT COLLATE "C" NOT NULL,
        author_name TEXT NOT NULL,
        content TEXT NOT NULL,
        kind TEXT NOT NULL,
        attachments TEXT NOT NULL DEFAULT '[]',
        parent_id TEXT,
        client_id TEXT COLLATE "C",
        created_at BIGINT NOT NULL,
        edited_at BIGINT,
        deleted_at BIGINT,
        changed_at BIGINT NOT NULL,
        reactions TEXT NOT NULL DEFAULT '{}',
        -- positions (the sync cursor): where the message was created, and
        -- where it last changed (created, edited or deleted).
        seq BIGINT NOT NULL,
        pos BIGINT NOT NULL
    );
    CREATE INDEX messages_room ON messages(conversation_id, id);
    CREATE INDEX messages_pos ON messages(conversation_id, pos);
    -- Idempotent appends: one message per (author, clientId).
    CREATE UNIQUE INDEX messages_client ON messages(author_id, client_id) WHERE client_id IS NOT NULL;
    CREATE TABLE transcripts_sent (
        conversation_id TEXT COLLATE "C" NOT NULL,
        sent_at BIGINT NOT NULL
    );
    CREATE INDEX transcripts_sent_conv ON transcripts_sent(conversation_id, sent_at);
    -- The position counter: one row, incremented under its row lock, which
    -- the writing transaction holds until it commits (commit order).
    CREATE TABLE positions (id INTEGER PRIMARY KEY CHECK (id = 1), v BIGINT NOT NULL);
    INSERT INTO positions (id, v) VALUES (1, 0);
    -- Test only: positions handed out before commit (PgOptions::test_naive_positions),
    -- to show that the contract suite catches the skipped-message bug.
    CREATE SEQUENCE naive_positions;
    -- The write-behind outbox to Odoo; `seq` is a position too, so the
    -- drainer reads items in commit order.
    CREATE TABLE outbox (
        seq BIGINT PRIMARY KEY,
        conversation_id TEXT,
        item TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE TABLE dead_letters (
        seq BIGINT PRIMARY KEY,
        item TEXT NOT NULL,
        code TEXT,
        reason TEXT,
        parked_at BIGINT NOT NULL
    );
    "#,
    // 2: the page a support visitor came from (the agent's visitor panel).
    r#"
    ALTER TABLE conversations ADD COLUMN page_url TEXT;
    "#,
    // 3: attachment metadata, the rooms an attachment was sent in, Web Push
    // subscriptions and notification windows: what a single node kept in
    // `media.db` and `notify.db`, now shared by every node (the SQLite
    // store's migration 6).
    r#"
    CREATE TABLE attachments (
        id TEXT COLLATE "C" PRIMARY KEY,
        sha256 TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        mime TEXT NOT NULL,
        size BIGINT NOT NULL,
        uploader TEXT COLLATE "C" NOT NULL,
        created_at BIGINT NOT NULL,
        attached_at BIGINT,
        thumbnail BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX attachments_sha256 ON attachments(sha256);
    CREATE INDEX attachments_unattached ON attachments(created_at) WHERE attached_at IS NULL;
    CREATE INDEX attachments_uploader ON attachments(uploader, created_at);
    CREATE TABLE attachment_rooms (
        attachment_id TEXT COLLATE "C" NOT NULL REFERENCES attachments(id) ON DELETE CASCADE,
        room_id TEXT COLLATE "C" NOT NULL,
        PRIMARY KEY (attachment_id, room_id)
    );
    CREATE TABLE push_subscriptions (
        endpoint TEXT COLLATE "C" PRIMARY KEY,
        user_id TEXT COLLATE "C" NOT NULL,
        p256dh TEXT NOT NULL,
        auth TEXT NOT NULL,
        created_at BIGINT NOT NULL
    );
    CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id, created_at);
    CREATE TABLE notify_windows (
        user_id TEXT COLLATE "C" NOT NULL,
        conversation_id TEXT COLLATE "C" NOT NULL,
        opened_at BIGINT NOT NULL,
        PRIMARY KEY (user_id, conversation_id)
    );
    "#,
];

/// Brings the database to the newest schema, in one transaction.
pub async fn migrate(client: &mut ClientWrapper) -> StoreResult<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations \
         (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let done: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            &[],
        )
        .await?
        .get(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done.max(0) as usize) {
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
            &[&((i + 1) as i32), &chat_core::clock::now_millis()],
        )
        .await?;
        tracing::info!(version = i + 1, "applied PostgreSQL schema migration");
    }
    tx.commit().await?;
    Ok(())
}

pub fn version() -> usize {
    MIGRATIONS.len()
}
