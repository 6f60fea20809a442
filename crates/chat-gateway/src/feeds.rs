//! What other nodes cause here, once the app exists: users whose presence
//! changed without a socket of this node are settled and announced, cached
//! copies are dropped on invalidations; and a clean stop takes this node's
//! counts out of the totals. The shared state itself is chosen in
//! shared_state.rs, below the app; this is the part that needs the app.

use crate::shared_state::Feeds;
use crate::state::App;
use chat_cluster::invalidation::Invalidated;

/// Handles what other nodes cause here: users whose presence changed without
/// a socket of this node (a dead node's users, counted out by this node's
/// reaper; a node that counted its sockets again) are settled and announced;
/// invalidations drop cached copies.
pub fn spawn(app: &App, feeds: Feeds) {
    if let Some(mut crossed) = feeds.crossed {
        let app = app.clone();
        tokio::spawn(async move {
            while let Some(c) = crossed.recv().await {
                // Guests are never announced (as on one node).
                if c.set != chat_cluster::presence::SET || chat_core::UserId::is_guest_id(&c.key) {
                    continue;
                }
                if !app.presence.is_online(&c.key).await {
                    crate::comings::stop_typing(&app, &c.key).await;
                }
                crate::comings::settle_presence(&app, &c.key).await;
            }
        });
    }
    if let Some(mut invalidated) = feeds.invalidated {
        let app = app.clone();
        tokio::spawn(async move {
            while let Some(what) = invalidated.recv().await {
                app.rooms.invalidated(&what);
                if let (Invalidated::User(id), Some(odoo)) = (&what, &app.odoo) {
                    odoo.forget_user(id);
                }
            }
        });
    }
}

/// A clean stop: this node's counts leave the totals (its sockets are closed
/// by now, so normally nothing is left) and it unregisters.
pub async fn leave(app: &App) {
    let Some(cluster) = &app.cluster else {
        return;
    };
    match cluster.counts.leave().await {
        Ok(left) => {
            for c in left {
                if c.set == chat_cluster::presence::SET && !chat_core::UserId::is_guest_id(&c.key) {
                    crate::comings::settle_presence(app, &c.key).await;
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not leave the cluster cleanly; the others count this node out when its heartbeat expires")
        }
    }
}
