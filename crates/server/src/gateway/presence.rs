//! Announces users coming online and going offline, one change at a time on a task of its own, so that the
//! announcements of one user can never overtake each other (a late "offline" after a quick "online" again)
//! and the dispatcher never waits for the store.

use std::sync::Arc;

use parley_core::{Parley, UserId};
use tokio::sync::mpsc;

/// Starts the announcer; it stops when the returned sender is dropped.
pub(crate) fn start(parley: Arc<Parley>) -> mpsc::UnboundedSender<(UserId, bool)> {
    let (changes, queue) = mpsc::unbounded_channel();
    tokio::spawn(announce(parley, queue));
    changes
}

async fn announce(parley: Arc<Parley>, mut changes: mpsc::UnboundedReceiver<(UserId, bool)>) {
    while let Some((user_id, online)) = changes.recv().await {
        let announced = if online {
            parley.came_online(user_id).await
        } else {
            parley.went_offline(user_id).await
        };
        if let Err(error) = announced {
            tracing::warn!(%user_id, error = &error as &dyn std::error::Error, "presence update failed");
        }
    }
}
