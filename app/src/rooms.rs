//! The rooms a person has open. They belong to the person, not to a page: the server keeps them
//! (the socket records each room it enters and each one the person closes), and every page of
//! theirs, after a reload, in another tab or on another instance, opens them all, so news in
//! any of them reaches the person wherever they read.

#[cfg(feature = "ssr")]
pub mod ssr {
    use crate::calls::Pending;
    use crate::protocol::{RoomName, UserId};
    use leptos::prelude::use_context;
    use std::sync::Arc;

    /// Where the server reads a person's open rooms (it provides one as context).
    pub trait RoomLists: Send + Sync + 'static {
        fn rooms(&self, user: UserId) -> Pending<'_, Result<Vec<RoomName>, String>>;
    }

    #[derive(Clone)]
    pub struct OpenRooms(pub Arc<dyn RoomLists>);

    /// The rooms `user` has open, oldest first; none when they cannot be read (the page then
    /// opens the room it shows and the lobby, as for a new person).
    pub async fn of(user: UserId) -> Vec<RoomName> {
        let Some(OpenRooms(lists)) = use_context::<OpenRooms>() else {
            return Vec::new();
        };
        lists.rooms(user).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not read the user's open rooms");
            Vec::new()
        })
    }
}
