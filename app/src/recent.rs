//! The recent messages of the room a page opens on, rendered by the server into the first
//! response: the chat shows at once (even before the WASM loads), and the socket then resumes
//! after the last message rendered, so the hand-over has no gap and no duplicate.

use crate::auth::AuthError;
use crate::protocol::{ChatMessage, RoomName};
use leptos::prelude::*;

/// The room's last messages (oldest first), for a logged-in session; nothing otherwise, or when
/// history cannot be read (the socket's catch-up then sends it).
#[server(endpoint = "recent")]
pub async fn recent(room: RoomName) -> Result<Vec<ChatMessage>, AuthError> {
    let session = leptos_axum::extract::<tower_sessions::Session>()
        .await
        .map_err(|_| AuthError::Unavailable)?;
    if crate::session::user(&session)
        .await
        .ok()
        .flatten()
        .is_none()
    {
        return Ok(Vec::new());
    }
    let Some(source) = use_context::<ssr::Recent>() else {
        return Ok(Vec::new());
    };
    Ok(source.0.recent(room).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "could not render recent messages");
        Vec::new()
    }))
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use crate::protocol::{ChatMessage, RoomName};
    use std::{future::Future, pin::Pin, sync::Arc};

    /// Where the server reads a room's recent messages from (provided as context by the server).
    pub trait Source: Send + Sync + 'static {
        fn recent(
            &self,
            room: RoomName,
        ) -> Pin<Box<dyn Future<Output = Result<Vec<ChatMessage>, String>> + Send + '_>>;
    }

    #[derive(Clone)]
    pub struct Recent(pub Arc<dyn Source>);
}
