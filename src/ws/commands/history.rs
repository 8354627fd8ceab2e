//! `history`: the page of a room's older messages before an id (the client scrolled up).

use super::Connection;
use crate::ws::rooms::{not_joined, Rooms};
use app::protocol::{ErrorCode, MessageId, RoomName, ServerMsg, HISTORY_PAGE};

impl Connection {
    /// A `history` request: the page of `room` before `before`.
    pub(super) async fn older(
        &self,
        rooms: &Rooms,
        room: RoomName,
        before: MessageId,
    ) -> ServerMsg {
        if !rooms.contains(&room) {
            let message = not_joined(&room);
            return ServerMsg::about_room(ErrorCode::WrongRoom, message, room);
        }
        match self.state.log.older(&room, before, HISTORY_PAGE).await {
            Ok(messages) => ServerMsg::History {
                complete: messages.len() < HISTORY_PAGE,
                room,
                before,
                messages,
            },
            Err(e) => {
                tracing::warn!(error = %e, %room, "could not read older history");
                let message = "Older messages are unavailable right now.";
                ServerMsg::about_room(ErrorCode::Unavailable, message, room)
            }
        }
    }
}
