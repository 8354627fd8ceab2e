//! `join` and `leave`: the rooms a socket is in beyond the one its URL names. A join enters the
//! room the same way the first room is entered (`Connection::enter`: catch-up included).

use super::Connection;
use crate::ws::rooms::{NotEntered, Rooms, MAX_ROOMS_PER_SOCKET};
use crate::ws::transport::{send_msg, SendFailed, Transport};
use app::protocol::{ErrorCode, MessageId, RoomName, ServerMsg};

impl Connection {
    /// A `join` frame: adds `room` to the socket, answered by `joined` and the room's catch-up.
    /// A room the socket is in already is answered by `joined` alone (it has been sent
    /// everything).
    pub(super) async fn join<T: Transport>(
        &self,
        socket: &mut T,
        rooms: &mut Rooms,
        room: RoomName,
        after: Option<MessageId>,
    ) -> Result<(), SendFailed> {
        if rooms.contains(&room) {
            return send_msg(socket, &ServerMsg::Joined { room }).await;
        }
        if rooms.len() >= MAX_ROOMS_PER_SOCKET {
            let refusal = ServerMsg::about_room(
                ErrorCode::TooManyRooms,
                format!(
                    "A socket can be in at most {MAX_ROOMS_PER_SOCKET} rooms; leave one first."
                ),
                room,
            );
            return send_msg(socket, &refusal).await;
        }
        if let Err(refused) = self.door(&room).await {
            return send_msg(socket, &refused).await;
        }
        let greeting = ServerMsg::Joined { room: room.clone() };
        match self.enter(socket, &room, after, greeting).await {
            Ok(entered) => {
                tracing::info!(%room, resume = after.is_some(), "joined a room");
                rooms.add(entered);
                Ok(())
            }
            // The client was told; the socket and its other rooms carry on.
            Err(NotEntered::Unavailable) => Ok(()),
            Err(NotEntered::SendFailed) => Err(SendFailed),
        }
    }

    /// A `leave` frame: takes `room` off the socket and off the user's open rooms (the person
    /// closed it), answered by `left` (also for a room the socket was not in: the client's view
    /// is right either way).
    pub(super) async fn leave(&self, rooms: &mut Rooms, room: RoomName) -> ServerMsg {
        if rooms.remove(&room) {
            tracing::info!(%room, "left a room");
        }
        let closed = self
            .state
            .room_lists
            .close(self.sign_in.user.id, &room)
            .await;
        if let Err(e) = closed {
            tracing::warn!(error = %e, %room, "could not take a room off the user's open rooms");
        }
        ServerMsg::Left { room }
    }

    /// The socket entered `room`: it is one of the user's open rooms, which every page of theirs
    /// opens. A failure is logged, not fatal: the socket is in the room either way.
    pub(crate) async fn opened(&self, room: &RoomName) {
        if let Err(e) = self.state.room_lists.open(self.sign_in.user.id, room).await {
            tracing::warn!(error = %e, %room, "could not record an open room");
        }
    }
}
