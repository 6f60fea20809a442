//! Store factories: each test gets a fresh database of its backend, and may
//! open several handles on it (separate connections, as separate nodes have).
//!
//! PostgreSQL: the server at `CHAT_STORE_TEST_PG` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`, which `scripts/test.sh`
//! starts when it is down); each test creates its own database and drops it
//! when done.

use async_trait::async_trait;
use chat_store::postgres::{PgOptions, PgStore};
use chat_store::sqlite::SqliteStore;
use chat_store::Store;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[async_trait]
pub trait Backend: Send + Sync {
    /// A new handle on this test's database, with its own connections.
    async fn open(&self) -> Arc<dyn Store>;
    /// A handle whose commits wait a random time up to `max` (holding what
    /// the commit holds), so that several handles' commits interleave.
    async fn open_delayed(&self, max: Duration) -> Arc<dyn Store>;
    /// How a child process finds this database: (backend, location).
    fn locate(&self) -> (&'static str, String);
}

/// Opens a handle from a child process's [`Backend::locate`].
pub async fn open_located(kind: &str, at: &str) -> Arc<dyn Store> {
    match kind {
        "sqlite" => Arc::new(SqliteStore::open(std::path::Path::new(at)).expect("open sqlite")),
        _ => Arc::new(PgStore::open(at).await.expect("open postgres")),
    }
}

pub struct Sqlite {
    dir: tempfile::TempDir,
}

pub fn sqlite() -> Sqlite {
    Sqlite {
        dir: tempfile::tempdir().expect("temp dir"),
    }
}

#[async_trait]
impl Backend for Sqlite {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(SqliteStore::open(self.dir.path()).expect("open sqlite"))
    }
    async fn open_delayed(&self, max: Duration) -> Arc<dyn Store> {
        let s = SqliteStore::open(self.dir.path()).expect("open sqlite");
        s.set_test_commit_delay(max);
        Arc::new(s)
    }
    fn locate(&self) -> (&'static str, String) {
        ("sqlite", self.dir.path().display().to_string())
    }
}

pub struct Postgres {
    admin: String,
    name: String,
    url: String,
    naive: bool,
}

fn admin_url() -> String {
    std::env::var("CHAT_STORE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn admin_client(admin: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(admin, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin} ({e}); start it \
                 (scripts/test.sh does: pg_ctlcluster … main start) or set CHAT_STORE_TEST_PG"
            )
        });
    tokio::spawn(conn);
    client
}

/// A fresh database for one test.
pub async fn postgres() -> Postgres {
    postgres_with(false).await
}

/// A fresh database whose handles take positions before commit (the bug the
/// contract's concurrency test must catch).
pub async fn postgres_naive() -> Postgres {
    postgres_with(true).await
}

async fn postgres_with(naive: bool) -> Postgres {
    static N: AtomicU32 = AtomicU32::new(0);
    let admin = admin_url();
    let name = format!(
        "chat_test_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        chat_core::clock::now_millis() % 1_000_000
    );
    admin_client(&admin)
        .await
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create the test database");
    let url = pg_url(&admin, &name);
    Postgres {
        admin,
        name,
        url,
        naive,
    }
}

/// `admin` with its database name replaced.
fn pg_url(admin: &str, db: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    format!("{}/{db}{query}", &base[..path_start])
}

impl Postgres {
    fn options(&self, delay: Option<Duration>) -> PgOptions {
        PgOptions {
            pool_size: 4,
            test_naive_positions: self.naive,
            test_commit_delay: delay,
        }
    }
}

#[async_trait]
impl Backend for Postgres {
    async fn open(&self) -> Arc<dyn Store> {
        Arc::new(
            PgStore::open_with(&self.url, self.options(None))
                .await
                .expect("open postgres"),
        )
    }
    async fn open_delayed(&self, max: Duration) -> Arc<dyn Store> {
        Arc::new(
            PgStore::open_with(&self.url, self.options(Some(max)))
                .await
                .expect("open postgres"),
        )
    }
    fn locate(&self) -> (&'static str, String) {
        ("postgres", self.url.clone())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // The test's runtime may be gone or busy: drop the database from a
        // thread of its own. FORCE ends the handles' leftover connections.
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let c = admin_client(&admin).await;
                if let Err(e) = c
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                {
                    eprintln!("could not drop test database {name}: {e}");
                }
            });
        });
        let _ = done.join();
    }
}
