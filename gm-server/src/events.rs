//! Live events for the `/api/v1/events` stream: a broadcast bus each event carries the
//! permission needed to see it on.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::auth::Permission;

/// One live event.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LiveEvent {
    /// What happened, dotted (`game_server.connected`, `audit.appended`, …).
    pub kind: String,
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// Details.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
    /// Who may see it.
    #[serde(skip)]
    pub permission: Option<Permission>,
}

/// The bus; cheap to clone. Slow subscribers lose old events (and are told how many).
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<LiveEvent>,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus {
            tx: broadcast::channel(1024).0,
        }
    }
}

impl EventBus {
    /// Publishes an event to whoever listens now.
    pub fn publish(&self, kind: &str, permission: Permission, data: serde_json::Value) {
        self.publish_with(kind, permission, || data);
    }

    /// Publishes an event whose data is built only when someone listens: for events on a
    /// request's path, such as every audit append.
    pub fn publish_with(
        &self,
        kind: &str,
        permission: Permission,
        data: impl FnOnce() -> serde_json::Value,
    ) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let data = data();
        let _ = self.tx.send(LiveEvent {
            kind: kind.to_string(),
            at_ms: crate::store::now_ms(),
            data,
            permission: Some(permission),
        });
    }

    /// A new subscription.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.tx.subscribe()
    }
}
