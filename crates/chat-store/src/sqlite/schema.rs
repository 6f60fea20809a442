//! Schema migrations, applied in order at start-up. `PRAGMA user_version` records
//! how many have run; a migration is never edited once released, only appended.

use rusqlite::Connection;

pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: the core chat schema.
    r#"
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        role TEXT NOT NULL,
        email TEXT,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        name TEXT,
        created_by TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_activity_at INTEGER NOT NULL,
        -- "a\nb" (sorted ids) for direct conversations: one per pair, enforced here.
        direct_key TEXT UNIQUE,
        visitor_id TEXT,
        visitor_name TEXT,
        visitor_email TEXT,
        query_type TEXT,
        department TEXT,
        agent_id TEXT,
        status TEXT,
        started_at INTEGER,
        ended_at INTEGER,
        rating INTEGER,
        rating_comment TEXT
    );
    CREATE INDEX conversations_support ON conversations(status, started_at) WHERE kind = 'support';
    CREATE TABLE participants (
        conversation_id TEXT NOT NULL REFERENCES conversations(id),
        user_id TEXT NOT NULL,
        joined_at INTEGER NOT NULL,
        last_read_id TEXT,
        last_read_at INTEGER,
        PRIMARY KEY (conversation_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX participants_user ON participants(user_id);
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        conversation_id TEXT NOT NULL REFERENCES conversations(id),
        author_id TEXT NOT NULL,
        author_name TEXT NOT NULL,
        content TEXT NOT NULL,
        kind TEXT NOT NULL,
        attachments TEXT NOT NULL DEFAULT '[]',
        parent_id TEXT,
        client_id TEXT,
        created_at INTEGER NOT NULL,
        edited_at INTEGER,
        deleted_at INTEGER,
        -- the latest of created/edited/deleted/reacted: what `sync` scans by.
        changed_at INTEGER NOT NULL,
        reactions TEXT NOT NULL DEFAULT '{}'
    ) WITHOUT ROWID;
    CREATE INDEX messages_room ON messages(conversation_id, id);
    CREATE INDEX messages_changed ON messages(conversation_id, changed_at);
    CREATE UNIQUE INDEX messages_client ON messages(author_id, client_id) WHERE client_id IS NOT NULL;
    CREATE TABLE transcripts_sent (
        conversation_id TEXT NOT NULL,
        sent_at INTEGER NOT NULL
    );
    CREATE INDEX transcripts_sent_conv ON transcripts_sent(conversation_id, sent_at);
    "#,
    // 2: the write-behind outbox to Odoo, written in the same transaction as
    // the change it describes, and where items Odoo refused for good are parked.
    r#"
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        conversation_id TEXT,
        item TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE dead_letters (
        seq INTEGER PRIMARY KEY,
        item TEXT NOT NULL,
        code TEXT,
        reason TEXT,
        parked_at INTEGER NOT NULL
    );
    "#,
    // 3: a new message no longer enters a per-room index by `changed_at`.
    // `sync` finds new messages by id (`messages_room`) and only needs this
    // index for messages edited or deleted since; indexing every message
    // dirtied one more leaf page per room in each group commit (with one
    // message per room per commit, ≈1 of the 3–4 WAL frames a message cost).
    r#"
    DROP INDEX messages_changed;
    CREATE INDEX messages_revised ON messages(conversation_id, changed_at)
        WHERE edited_at IS NOT NULL OR deleted_at IS NOT NULL;
    "#,
    // 4: the sync cursor is a commit-ordered position, not the message id
    // (docs/protocol.md, "The sync cursor"): `seq` is where a message was
    // created, `pos` where it last changed (created, edited or deleted), both
    // taken from the one-row counter `positions` inside the writing
    // transaction. Existing messages: their ids were made by the one writer in
    // commit order, so id order is their creation order; edits and deletions
    // so far get positions after every message, in the order they happened,
    // so a cursor from before the upgrade still finds them.
    r#"
    CREATE TABLE positions (id INTEGER PRIMARY KEY CHECK (id = 1), v INTEGER NOT NULL);
    ALTER TABLE messages ADD COLUMN seq INTEGER;
    ALTER TABLE messages ADD COLUMN pos INTEGER;
    UPDATE messages SET seq = o.n, pos = o.n
        FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM messages) AS o
        WHERE o.id = messages.id;
    UPDATE messages SET pos = o.n + (SELECT coalesce(max(seq), 0) FROM messages)
        FROM (SELECT id, row_number() OVER (ORDER BY changed_at, id) AS n FROM messages
              WHERE edited_at IS NOT NULL OR deleted_at IS NOT NULL) AS o
        WHERE o.id = messages.id;
    INSERT INTO positions (id, v) SELECT 1, coalesce(max(pos), 0) FROM messages;
    DROP INDEX messages_revised;
    CREATE INDEX messages_pos ON messages(conversation_id, pos);
    "#,
    // 5: the page a support visitor came from (the agent's visitor panel).
    r#"
    ALTER TABLE conversations ADD COLUMN page_url TEXT;
    "#,
    // 6: what the gateway kept in files of its own (`media.db`, `notify.db`)
    // moves into the store, so that every node sees it: attachment metadata
    // (the bytes stay files, by SHA-256, see chat_media::Blobs), the rooms
    // an attachment was sent in, Web Push subscriptions and the
    // notification windows.
    r#"
    CREATE TABLE attachments (
        id TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL,
        name TEXT NOT NULL,
        mime TEXT NOT NULL,
        size INTEGER NOT NULL,
        uploader TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        attached_at INTEGER,
        thumbnail INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX attachments_sha256 ON attachments(sha256);
    CREATE INDEX attachments_unattached ON attachments(created_at) WHERE attached_at IS NULL;
    CREATE INDEX attachments_uploader ON attachments(uploader, created_at);
    CREATE TABLE attachment_rooms (
        attachment_id TEXT NOT NULL REFERENCES attachments(id) ON DELETE CASCADE,
        room_id TEXT NOT NULL,
        PRIMARY KEY (attachment_id, room_id)
    ) WITHOUT ROWID;
    CREATE TABLE push_subscriptions (
        endpoint TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        p256dh TEXT NOT NULL,
        auth TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX push_subscriptions_user ON push_subscriptions(user_id, created_at);
    CREATE TABLE notify_windows (
        user_id TEXT NOT NULL,
        conversation_id TEXT NOT NULL,
        opened_at INTEGER NOT NULL,
        PRIMARY KEY (user_id, conversation_id)
    ) WITHOUT ROWID;
    "#,
    // 7: fewer pages written per new message (issue 15). `messages_pos`
    // held every message under its room, so each new message dirtied one
    // more leaf page per room in its group commit, beside `messages_room`'s:
    // with one message per room per commit, about 3.1 WAL frames (4 KiB
    // each) per message. Now a new message enters `messages_new`, ordered
    // by its creation position across all rooms, so the messages of one
    // commit share its last leaf; only edited or deleted messages (whose
    // `pos` moved past their `seq`) are indexed by room and position, in
    // `messages_changed`. About 1.9 frames per message. `sync` reads the two
    // (see sqlite/history.rs); what it returns is unchanged.
    r#"
    DROP INDEX messages_pos;
    CREATE INDEX messages_new ON messages(seq, conversation_id);
    CREATE INDEX messages_changed ON messages(conversation_id, pos) WHERE pos <> seq;
    "#,
];

/// Brings the database to the newest schema, one transaction per migration.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let done: usize = conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if done > 0 && done < MIGRATIONS.len() {
        // Said before, not only after: an upgrade may rebuild an index over
        // every stored message (migration 7 does), and the gateway does not
        // listen until it is done.
        tracing::info!(
            from = done,
            to = MIGRATIONS.len(),
            "upgrading the database schema; on a large database this can take a while"
        );
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied schema migration");
    }
    Ok(())
}

pub fn version() -> usize {
    MIGRATIONS.len()
}
