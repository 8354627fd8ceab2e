//! `read`: the person has read a room up to a message. Their read mark moves forward (never
//! back) in the backend, and the move reaches every socket of theirs in the room, on any
//! instance, as a `read` frame (this socket's included): that is the only answer.

use super::Connection;
use crate::ws::rooms::Rooms;
use crate::ws::transport::{send_msg, SendFailed, Transport};
use app::protocol::{ErrorCode, MessageId, RoomName, ServerMsg};

impl Connection {
    /// A `read` frame for a room of the socket. Nobody reads what they were not sent: a mark
    /// past the last message this socket sent from the room stops at that message.
    pub(super) async fn read(
        &self,
        rooms: &mut Rooms,
        room: RoomName,
        id: MessageId,
    ) -> Option<ServerMsg> {
        let Some(joined) = rooms.find(&room) else {
            return Some(ServerMsg::about_room(
                ErrorCode::WrongRoom,
                "You are not in that room.",
                room,
            ));
        };
        let id = id.min(joined.last_sent?);
        let marked = self.state.read_marks.mark(&room, self.sign_in.user.id, id);
        // Not worth a banner: this page shows the room read already. The mark is kept here and
        // stored when the backend is back (the room's feed says so), unless a later `read`
        // carries it further first.
        match marked.await {
            Ok(()) => joined.unsaved_mark = joined.unsaved_mark.filter(|unsaved| *unsaved > id),
            Err(e) => {
                tracing::warn!(error = %e, %room, "could not move a read mark: kept to store later");
                joined.unsaved_mark = joined.unsaved_mark.max(Some(id));
            }
        }
        None
    }

    /// Stores the read mark that `read` could not (the backend is back); kept for the next
    /// interruption's end if it fails again.
    pub(in crate::ws) async fn store_unsaved_mark(
        &self,
        room: &RoomName,
        unsaved: &mut Option<MessageId>,
    ) {
        let Some(id) = *unsaved else {
            return;
        };
        match self
            .state
            .read_marks
            .mark(room, self.sign_in.user.id, id)
            .await
        {
            Ok(()) => *unsaved = None,
            Err(e) => tracing::warn!(error = %e, %room, "could not store a kept read mark"),
        }
    }

    /// The person's read mark in `room`, if they have one: sent after the room's catch-up, and
    /// again after an interruption (which may have swallowed a move). A mark that cannot be
    /// read is `None`: the page counts from what it had.
    pub(in crate::ws) async fn read_mark_of(&self, room: &RoomName) -> Option<MessageId> {
        let user = self.sign_in.user.id;
        match self.state.read_marks.read_mark(room, user).await {
            Ok(mark) => mark,
            Err(e) => {
                tracing::warn!(error = %e, %room, "could not read a read mark");
                None
            }
        }
    }
}

/// Sends the person's read mark in `room` (see [`Connection::read_mark_of`]), if there is one.
pub(in crate::ws) async fn send_read_mark<T: Transport>(
    socket: &mut T,
    room: &RoomName,
    mark: Option<MessageId>,
) -> Result<(), SendFailed> {
    match mark {
        Some(id) => {
            let frame = ServerMsg::Read {
                room: room.clone(),
                id,
            };
            send_msg(socket, &frame).await
        }
        None => Ok(()),
    }
}
