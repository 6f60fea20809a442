//! Wiring: configuration → store → directory → Socket.IO + HTTP → serve until
//! SIGTERM/SIGINT, then close sockets cleanly and flush the store.

use crate::auth::Authenticator;
use crate::config::Config;
use crate::events::connection::{authenticate, on_connect};
use crate::fanout::{Fanout, Sockets};
use crate::people::People;
use crate::state::{App, Parts};
use anyhow::Context;
use axum::http::{HeaderValue, Method};
use chat_core::directory::DirectoryFile;
use chat_store::Store;
use socketioxide::adapter::Adapter;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;
use socketioxide_core::adapter::DefinedAdapter;
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The demo directory (`--demo`): a few users of every role, a course, agents.
const DEMO_DIRECTORY: &str = include_str!("../demo/directory.json");

pub async fn run(mut config: Config) -> anyhow::Result<()> {
    let node_id = crate::node::resolve(config.node_id.as_deref())?;
    config.node_id = Some(node_id.clone());
    let clustered = config.redis_url.as_deref().is_some_and(|u| !u.is_empty());
    let metrics = crate::metrics::install(&node_id, clustered)?;
    crate::cluster::drops::show_zeros();
    let Assembled {
        app, router, feeds, ..
    } = assemble(config.clone(), metrics).await?;
    let store = app.store.clone();

    crate::feeds::spawn(&app, feeds);

    let router = router
        .layer(tower::util::MapRequestLayer::new(detach_from_read_buffer))
        .layer(cors(&config)?);

    let addr = SocketAddr::new(config.bind_host(), config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(%local, demo = config.demo, node = %node_id, "seitech-chat gateway started");
    // The one line on stdout: test harnesses and scripts read the address here.
    println!("seitech-chat listening on http://{local}");

    // Not axum::serve: it has no header-read or idle timeout (slowloris).
    crate::listener::serve(
        listener,
        router,
        crate::listener::Timeouts {
            header: std::time::Duration::from_secs(config.http_header_timeout_secs.max(1)),
            idle: std::time::Duration::from_secs(config.http_idle_timeout_secs.max(1)),
        },
        shutdown_signal(app.clone()),
    )
    .await;

    crate::feeds::leave(&app).await;
    crate::lifecycle::flush_broadcasts(&app).await;
    store.flush().await.ok();
    store.close();
    tracing::info!("stopped cleanly");
    Ok(())
}

/// A node put together and ready for sockets, not yet listening.
pub struct Assembled {
    pub app: App,
    /// The HTTP routes with the Socket.IO layer.
    pub router: axum::Router,
    /// The Socket.IO handle on one node (`None` with `REDIS_URL`, whose
    /// adapter is another type): in-process tests connect sockets through it.
    pub io: Option<SocketIo>,
    /// What other nodes cause here, for [`crate::feeds::spawn`].
    pub(crate) feeds: crate::shared_state::Feeds,
}

/// Puts a node together: the store, the directory, the shared state, the
/// app and its Socket.IO handlers, restored and ready (see [`prepare`]).
/// `config.node_id` should be resolved already; `metrics`: the recorder's
/// handle, which [`run`] installs process-wide and a test need not.
pub async fn assemble(
    mut config: Config,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) -> anyhow::Result<Assembled> {
    let node_id = crate::node::resolve(config.node_id.as_deref())?;
    config.node_id = Some(node_id.clone());
    let secret = match (&config.jwt_secret, config.demo) {
        (Some(s), _) if !s.is_empty() => s.clone(),
        (_, true) => {
            tracing::warn!(
                file = %config.data_dir.join(crate::auth::DEMO_SECRET_FILE).display(),
                "demo mode without JWT_SECRET: using the demo secret kept in the data directory"
            );
            crate::auth::demo_secret(&config.data_dir)
                .context("cannot keep the demo secret in the data directory")?
        }
        _ => anyhow::bail!(
            "JWT_SECRET is not set. Set JWT_SECRET (or --jwt-secret) to the secret the Odoo addon signs tokens with, or run with --demo to try the gateway locally."
        ),
    };
    let directory = load_directory(&config)?;

    let store = open_store(&config).await?;
    store
        .upsert_users(
            directory
                .users
                .iter()
                .map(|u| chat_store::UserRecord {
                    id: u.id.clone(),
                    name: u.name.clone(),
                    role: u.role,
                    email: u.email.clone(),
                })
                .collect(),
        )
        .await?;
    let people = People::new(&directory, store.all_users().await?);
    import_legacy_files(&config, store.as_ref()).await?;
    let media_dir = config.media_dir.as_ref().unwrap_or(&config.data_dir);

    let builder = SocketIo::builder()
        .max_payload(config.max_packet_bytes)
        .ws_max_message_size(config.max_packet_bytes as usize)
        // Idle sockets should cost little: tungstenite's default read buffer is
        // 128 KiB. 1 KiB holds a typical chat packet in one read (4 KiB cost
        // 3 KB more RSS per idle socket); bigger frames grow the buffer as
        // needed, read 1 KiB per syscall.
        .ws_read_buffer_size(1024)
        // A burst from one client (its acks plus the echoes of its messages)
        // or a busy room must fit; beyond it the socket is disconnected, never
        // skipped silently (crate::deliver). See docs/protocol.md.
        .max_buffer_size(config.socket_buffer_packets as usize);
    let media = Arc::new(
        chat_media::Blobs::open(media_dir)
            .with_context(|| {
                format!(
                    "cannot open the attachment directory in {}",
                    media_dir.display()
                )
            })?
            .with_decode_limits(
                chat_media::DecodeLimits::for_pixels(config.max_image_pixels),
                config.max_concurrent_decodes,
            ),
    );
    let notifier = Arc::new(crate::notifier::Notifier::new(&config)?);
    let mailer = match &config.smtp_url {
        Some(url) => {
            Some(crate::mail::Mailer::new(url, &config.mail_from).context("SMTP_URL / MAIL_FROM")?)
        }
        None => None,
    };
    let odoo = crate::odoo::OdooBridge::from_config(&config)?;
    let desk = crate::support::open(&config).await?;
    // Presence, typing, limits, cache invalidation: in this process, or in
    // Redis with REDIS_URL (crate::shared_state).
    let (shared, feeds) = crate::shared_state::open(&config, &node_id).await?;
    let parts = |fanout: Arc<dyn Fanout>| Parts {
        auth: Authenticator::new(secret.as_bytes()),
        config: config.clone(),
        store: store.clone(),
        people,
        media,
        url_signer: chat_media::UrlSigner::new(secret.as_bytes()),
        notifier,
        metrics,
        mailer,
        odoo,
        node_id: node_id.clone(),
        fanout,
        desk,
        shared,
    };

    // One node (the in-process adapter) or one of several (Redis). Either
    // way the handlers are the same; see crate::fanout.
    let (app, router, io) = match config.redis_url.as_deref().filter(|u| !u.is_empty()) {
        None => {
            let (layer, io) = builder.build_layer();
            let app = App::new(parts(Arc::new(Sockets::new(io.clone()))));
            prepare(&app, &store, &directory).await?;
            register(&io, &app);
            let router = crate::http::routes(app.clone()).layer(layer);
            (app, router, Some(io))
        }
        Some(url) => {
            if config.database_url.as_deref().is_none_or(str::is_empty) {
                tracing::warn!("REDIS_URL without DATABASE_URL: this node keeps its own SQLite store, so history and sync differ between nodes; set DATABASE_URL for a cluster");
            }
            let (redis, adapter) = crate::cluster::Redis::connect(url).await?;
            redis.check_node_id(&node_id).await?;
            let (layer, io) = builder
                .with_adapter::<crate::cluster::ClusterAdapter>(adapter)
                .build_layer();
            let fanout = redis.start(io.clone(), &node_id);
            let app = App::new(parts(fanout.clone()));
            prepare(&app, &store, &directory).await?;
            register(&io, &app).await.map_err(|e| {
                anyhow::anyhow!("cannot subscribe to the cluster's Redis channels: {e}")
            })?;
            fanout.serving();
            tracing::info!("cluster: Redis adapter ready");
            let router = crate::http::routes(app.clone()).layer(layer);
            (app, router, None)
        }
    };
    Ok(Assembled {
        app,
        router,
        io,
        feeds,
    })
}

/// Gets the app ready before any socket connects: Odoo, the broadcast
/// channels and their members, the support desk, the sweepers.
async fn prepare(
    app: &App,
    store: &Arc<dyn Store>,
    directory: &DirectoryFile,
) -> anyhow::Result<()> {
    if let Some(odoo) = &app.odoo {
        store.enable_outbox();
        crate::odoo::spawn(app, store.outbox_signal());
        match odoo.client.api_version().await {
            Ok(v) if v.min_compatible > odoo_rpc::gateway_api::API_VERSION => {
                anyhow::bail!(
                    "Odoo's seitech_chat API needs version {} or newer; this gateway speaks {}",
                    v.min_compatible,
                    odoo_rpc::gateway_api::API_VERSION
                )
            }
            Ok(_) => odoo.refresh_agents(app).await,
            Err(e) => {
                tracing::warn!(error = %e, "Odoo is not reachable yet; the outbox keeps everything until it is");
                odoo.record_error(&e);
            }
        }
    }
    crate::events::conversations::ensure_channels(app).await?;
    // Directory users join their audiences' channels, in one write per channel.
    let signed_in: Vec<_> = directory
        .users
        .iter()
        .filter(|u| u.role != chat_core::Role::Public)
        .collect();
    let everyone: Vec<String> = signed_in.iter().map(|u| u.id.clone()).collect();
    store
        .add_participants(&crate::events::conversations::channel_id(None), &everyone)
        .await?;
    for role in [
        chat_core::Role::Student,
        chat_core::Role::Instructor,
        chat_core::Role::Admin,
        chat_core::Role::SupportAgent,
    ] {
        let ids: Vec<String> = signed_in
            .iter()
            .filter(|u| u.role == role)
            .map(|u| u.id.clone())
            .collect();
        store
            .add_participants(&crate::events::conversations::channel_id(Some(role)), &ids)
            .await?;
    }
    crate::support::restore(app).await?;
    crate::attachments::spawn_sweeper(app);
    let swept = app.clone();
    crate::limits::spawn_sweeper(move || {
        swept.abuse.sweep();
        swept.rate_limits.sweep();
    });
    Ok(())
}

/// The store: PostgreSQL when `DATABASE_URL` is set, else SQLite in `DATA_DIR`.
async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    match config.database_url.as_deref().filter(|u| !u.is_empty()) {
        Some(url) => {
            let store = chat_store::postgres::PgStore::open(url)
                .await
                .context("cannot open the PostgreSQL store (DATABASE_URL)")?;
            tracing::info!("store: PostgreSQL");
            Ok(Arc::new(store))
        }
        None => {
            let store = chat_store::sqlite::SqliteStore::open_with(
                &config.data_dir,
                config.sqlite_synchronous,
            )
            .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
            store
                .set_max_page_count(config.store_max_bytes.div_ceil(4096))
                .await
                .context("STORE_MAX_BYTES")?;
            Ok(Arc::new(store))
        }
    }
}

/// Gateways before the store kept attachment metadata and push
/// subscriptions wrote them to `media.db` and `notify.db` in the data
/// directory: copied into the store once, then renamed `*.imported`.
async fn import_legacy_files(config: &Config, store: &dyn Store) -> anyhow::Result<()> {
    if let Some(n) = chat_media::legacy::import(&config.data_dir, store)
        .await
        .context("cannot import the old media.db into the store")?
    {
        tracing::info!(records = n, "imported media.db into the store");
    }
    if let Some(n) = chat_notify::legacy::import(&config.data_dir, store)
        .await
        .context("cannot import the old notify.db into the store")?
    {
        tracing::info!(subscriptions = n, "imported notify.db into the store");
    }
    Ok(())
}

/// socketioxide keeps each socket's handshake request (`req_parts`) for the
/// socket's whole life. hyper parses the URI and the header values as slices
/// of its connection read buffer (8 KiB), and axum's router keeps a clone of
/// the URI as the `OriginalUri` extension, so keeping the request kept that
/// whole buffer alive: 8 KiB of every idle websocket (heaptrack; see
/// crates/chat-bench/results/profiles.md). Owned copies of the few bytes they
/// hold let the buffer go once the connection is upgraded. Public for the
/// benchmarks' floor server (chat-bench's chat-floor), which must hold its
/// sockets as the gateway does.
pub fn detach_from_read_buffer(mut req: axum::extract::Request) -> axum::extract::Request {
    if !req.uri().path().starts_with("/socket.io") {
        return req;
    }
    if let Ok(uri) = req.uri().to_string().parse::<axum::http::Uri>() {
        req.extensions_mut()
            .insert(axum::extract::OriginalUri(uri.clone()));
        *req.uri_mut() = uri;
    }
    let headers = std::mem::take(req.headers_mut());
    let mut owned = axum::http::HeaderMap::with_capacity(headers.len());
    for (name, value) in headers.iter() {
        if let Ok(value) = HeaderValue::from_bytes(value.as_bytes()) {
            owned.append(name.clone(), value);
        }
    }
    *req.headers_mut() = owned;
    req
}

fn load_directory(config: &Config) -> anyhow::Result<DirectoryFile> {
    let mut dir = if config.demo {
        serde_json::from_str::<DirectoryFile>(DEMO_DIRECTORY).context("demo directory")?
    } else {
        DirectoryFile::default()
    };
    if let Some(path) = &config.directory_file {
        let file = DirectoryFile::load(path)?;
        dir.users
            .retain(|u| !file.users.iter().any(|f| f.id == u.id));
        dir.users.extend(file.users);
        dir.courses.extend(file.courses);
        dir.agents
            .retain(|a| !file.agents.iter().any(|f| f.user_id == a.user_id));
        dir.agents.extend(file.agents);
        dir.check()?;
    }
    Ok(dir)
}

fn cors(config: &Config) -> anyhow::Result<CorsLayer> {
    let origins = config
        .cors_origins()
        .into_iter()
        .map(|o| {
            HeaderValue::from_str(&o).with_context(|| format!("bad FRONTEND_URL origin {o:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
        ]))
}

/// Registers the default namespace's connect middleware and handler, for any
/// adapter. Returns the adapter's initialisation (nothing to wait for with
/// the local adapter; the Redis subscriptions with the Redis adapter).
fn register<A: Adapter + DefinedAdapter>(io: &SocketIo<A>, app: &App) -> A::InitRes {
    // Handlers get the app by capture: it holds the io handle, so it cannot be
    // given to the builder as socketioxide state.
    let (on_connect_app, auth_app) = (app.clone(), app.clone());
    let connect = move |s: SocketRef<A>| on_connect(on_connect_app.clone(), s);
    let middleware = move |s: SocketRef<A>, auth: TryData<serde_json::Value>| {
        authenticate(auth_app.clone(), s, auth)
    };
    io.ns("/", connect.with(middleware))
}

async fn shutdown_signal(app: App) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    crate::lifecycle::drain(&app).await;
}
