//! The recent messages of the room a page opens on, rendered by the server into the first
//! response: the chat shows at once (even before the WASM loads), and the socket then resumes
//! after the last message rendered, so the hand-over has no gap and no duplicate.

use crate::calls::CallError;
use crate::protocol::{ChatMessage, RoomName};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A room's last messages, oldest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentPage {
    pub messages: Vec<ChatMessage>,
    /// They are all the history the room keeps (fewer than a page), so the page need not ask
    /// for older ones. False when unknown.
    pub complete: bool,
}

/// The room's last page of messages, for a logged-in session that may read the room; nothing
/// otherwise (a private room an outsider names renders as empty as one that does not exist),
/// or when history cannot be read (the socket's catch-up then sends it).
#[server(endpoint = "recent")]
pub async fn recent(room: RoomName) -> Result<RecentPage, CallError> {
    let session = leptos_axum::extract::<tower_sessions::Session>()
        .await
        .map_err(|_| CallError::Unavailable)?;
    let Some(user) = crate::session::user(&session).await.ok().flatten() else {
        return Ok(RecentPage::default());
    };
    let Some(source) = use_context::<ssr::Recent>() else {
        return Ok(RecentPage::default());
    };
    match source.0.recent(user, room).await {
        Ok(messages) => Ok(RecentPage {
            complete: messages.len() < crate::protocol::HISTORY_PAGE,
            messages,
        }),
        Err(e) => {
            tracing::warn!(error = %e, "could not render recent messages");
            Ok(RecentPage::default())
        }
    }
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use crate::calls::Pending;
    use crate::protocol::{ChatMessage, RoomName, User};
    use std::sync::Arc;

    /// Where the server reads a room's last [`HISTORY_PAGE`](crate::protocol::HISTORY_PAGE)
    /// messages from (provided as context by the server): none for a room `user` may not read.
    pub trait Source: Send + Sync + 'static {
        fn recent(
            &self,
            user: User,
            room: RoomName,
        ) -> Pending<'_, Result<Vec<ChatMessage>, String>>;
    }

    #[derive(Clone)]
    pub struct Recent(pub Arc<dyn Source>);
}
