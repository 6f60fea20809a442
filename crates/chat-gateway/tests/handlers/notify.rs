//! `push:subscribe` / `push:unsubscribe` (crate::notify): guests get no
//! notifications, and an endpoint that is no public https URL is refused.

use crate::harness::Node;
use chat_core::Role;
use serde_json::json;

/// Keys of the right sizes (65-byte uncompressed point, 16-byte secret), base64url.
fn keys() -> serde_json::Value {
    json!({
        "p256dh": "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "auth": "AAAAAAAAAAAAAAAAAAAAAA",
    })
}

#[tokio::test]
async fn guests_do_not_subscribe_to_notifications() {
    let node = Node::start().await;
    let mut guest = node.guest().await;
    guest
        .fails(
            "forbidden",
            "push:subscribe",
            json!({ "endpoint": "https://push.example.org/1", "keys": keys() }),
        )
        .await;
    guest
        .fails(
            "forbidden",
            "push:unsubscribe",
            json!({ "endpoint": "https://push.example.org/1" }),
        )
        .await;
    let kept = node.app.store.push_subscriptions(&guest.user_id).await;
    assert!(kept.expect("the store answers").is_empty());
}

#[tokio::test]
async fn an_endpoint_that_is_no_public_https_url_is_refused() {
    let node = Node::start().await;
    let mut ada = node.user("1", Role::Student).await;
    for endpoint in [
        "http://push.example.org/1",
        "https://127.0.0.1/1",
        "https://10.0.0.8/1",
        "not a url",
    ] {
        ada.fails(
            "invalid",
            "push:subscribe",
            json!({ "endpoint": endpoint, "keys": keys() }),
        )
        .await;
    }
    ada.fails("invalid", "push:unsubscribe", json!({ "endpoint": 5 }))
        .await;
    let kept = node.app.store.push_subscriptions("1").await;
    assert!(kept.expect("the store answers").is_empty());
}
