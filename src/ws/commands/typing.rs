//! `typing`: "alice is typing…", passed on to the room on every instance; never answered.

use super::Connection;
use crate::ws::rooms::Rooms;
use app::protocol::RoomName;
use std::time::Duration;
use tokio::time::Instant;

/// A socket's typing signals for one room beyond one in this time are ignored.
const TYPING_LIMIT: Duration = Duration::from_secs(1);

impl Connection {
    /// A `typing` frame: passed on to the room on every instance, at most once a second per
    /// socket and room; nothing is answered (and a failure only loses the signal).
    pub(super) async fn typing(&self, rooms: &mut Rooms, room: &RoomName) {
        let Some(joined) = rooms.find(room) else {
            return;
        };
        let now = Instant::now();
        if joined
            .typed_at
            .is_some_and(|at| now.duration_since(at) < TYPING_LIMIT)
        {
            return;
        }
        joined.typed_at = Some(now);
        if let Err(e) = self.state.signals.typing(room, &self.sign_in.user).await {
            tracing::debug!(error = %e, %room, "could not pass on a typing signal");
        }
    }
}
