//! Wiring: configuration → store → directory → Socket.IO + HTTP → serve until
//! SIGTERM/SIGINT, then close sockets cleanly and flush the store.

use crate::auth::Authenticator;
use crate::config::Config;
use crate::events::connection::{authenticate, on_connect};
use crate::people::People;
use crate::state::{App, Parts};
use anyhow::Context;
use axum::http::{HeaderValue, Method};
use chat_core::directory::DirectoryFile;
use chat_store::Store;
use socketioxide::extract::{SocketRef, TryData};
use socketioxide::handler::ConnectHandler;
use socketioxide::SocketIo;
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The demo directory (`--demo`): a few users of every role, a course, agents.
const DEMO_DIRECTORY: &str = include_str!("../demo/directory.json");

pub async fn run(config: Config) -> anyhow::Result<()> {
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
    let metrics = crate::metrics::install()?;

    let (layer, io) = SocketIo::builder()
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
        .max_buffer_size(config.socket_buffer_packets as usize)
        .build_layer();
    let app = App::new(Parts {
        auth: Authenticator::new(secret.as_bytes()),
        config: config.clone(),
        store: store.clone(),
        people,
        media: Arc::new(
            chat_media::MediaStore::open(&config.data_dir)
                .with_context(|| {
                    format!(
                        "cannot open the attachment store in {}",
                        config.data_dir.display()
                    )
                })?
                .with_decode_limits(
                    chat_media::DecodeLimits::for_pixels(config.max_image_pixels),
                    config.max_concurrent_decodes,
                ),
        ),
        url_signer: chat_media::UrlSigner::new(secret.as_bytes()),
        notifier: Arc::new(crate::notify::Notifier::new(&config)?),

        metrics,
        mailer: match &config.smtp_url {
            Some(url) => Some(
                crate::mail::Mailer::new(url, &config.mail_from).context("SMTP_URL / MAIL_FROM")?,
            ),
            None => None,
        },
        odoo: crate::odoo::OdooBridge::from_config(&config)?,
        io: io.clone(),
    });
    if let Some(odoo) = &app.odoo {
        store.enable_outbox();
        crate::odoo::spawn(&app, store.outbox_signal());
        match odoo.client.api_version().await {
            Ok(v) if v.min_compatible > odoo_rpc::gateway_api::API_VERSION => {
                anyhow::bail!(
                    "Odoo's seitech_chat API needs version {} or newer; this gateway speaks {}",
                    v.min_compatible,
                    odoo_rpc::gateway_api::API_VERSION
                )
            }
            Ok(_) => odoo.refresh_agents(&app).await,
            Err(e) => {
                tracing::warn!(error = %e, "Odoo is not reachable yet; the outbox keeps everything until it is");
                odoo.record_error(&e);
            }
        }
    }
    crate::events::conversations::ensure_channels(&app).await?;
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
    crate::support::restore(&app).await?;
    crate::attachments::spawn_sweeper(&app);
    crate::limits::spawn_sweeper(&app);

    // Handlers get the app by capture: it holds the io handle, so it cannot be
    // given to the builder as socketioxide state.
    let (on_connect_app, auth_app) = (app.clone(), app.clone());
    let connect = move |s: SocketRef| on_connect(on_connect_app.clone(), s);
    let middleware = move |s: SocketRef, auth: TryData<serde_json::Value>| {
        authenticate(auth_app.clone(), s, auth)
    };
    io.ns("/", connect.with(middleware));

    let router = crate::http::routes(app.clone())
        .layer(layer)
        .layer(tower::util::MapRequestLayer::new(detach_from_read_buffer))
        .layer(cors(&config)?);

    let addr = SocketAddr::new(config.bind_host(), config.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    tracing::info!(%local, demo = config.demo, "seitech-chat gateway started");
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
        shutdown_signal(io.clone()),
    )
    .await;

    store.flush().await.ok();
    store.close();
    tracing::info!("stopped cleanly");
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

/// socketioxide keeps each socket's handshake request (`req_parts`) for the
/// socket's whole life. hyper parses the URI and the header values as slices
/// of its connection read buffer (8 KiB), and axum's router keeps a clone of
/// the URI as the `OriginalUri` extension, so keeping the request kept that
/// whole buffer alive: 8 KiB of every idle websocket (heaptrack; see
/// crates/chat-bench/results/profiles.md). Owned copies of the few bytes they
/// hold let the buffer go once the connection is upgraded.
fn detach_from_read_buffer(mut req: axum::extract::Request) -> axum::extract::Request {
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

async fn shutdown_signal(io: SocketIo) {
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
    tracing::info!("shutting down: closing sockets");
    io.close().await;
}
