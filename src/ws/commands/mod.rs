//! The client's commands, one file each: [`send`] (a message, or a reply), [`amend`] (an edit
//! or a reaction), [`join`] (and leave), [`history`] (an older page) and [`typing`]. [`Connection::dispatch`] routes a decoded frame
//! to its command; the requests that cost reads and subscriptions are paced per socket here.

mod amend;
mod history;
mod join;
mod send;
mod typing;

use super::rooms::Rooms;
use super::transport::{send_msg, SendFailed, Transport};
use super::Connection;
use crate::rate::{LocalBucket, Rate};
use app::protocol::{ClientMsg, ServerMsg};
use std::time::Duration;

use send::Held;

/// Joins, leaves and history requests one socket may make: 10 a second, 20 at once (enough to
/// rejoin every open room after a reconnect).
const REQUEST_RATE: Rate = Rate {
    interval: Duration::from_millis(100),
    burst: 20,
};

/// How fast one socket goes: its requests' bucket, and the message its others wait behind.
pub struct Pace {
    requests: LocalBucket,
    held: Option<Held>,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            requests: LocalBucket::new(REQUEST_RATE),
            held: None,
        }
    }
}

impl Connection {
    /// Handles one command: a `send` gets its one answer (an `ack`, or an `error` that names its
    /// `client_id`), a `join` or `leave` changes the socket's rooms.
    pub(super) async fn dispatch<T: Transport>(
        &self,
        socket: &mut T,
        rooms: &mut Rooms,
        pace: &mut Pace,
        command: ClientMsg,
    ) -> Result<(), SendFailed> {
        if let ClientMsg::Join { room, .. }
        | ClientMsg::Leave { room }
        | ClientMsg::History { room, .. } = &command
        {
            if let Err(limited) = pace.requests.take(crate::clock::unix_ms()) {
                self.state.metrics.rate_limited_requests.inc();
                let refusal = ServerMsg::rate_limited(
                    "Too many requests on this connection; try again shortly.",
                    None,
                    Some(room.clone()),
                    limited.retry_after_ms(),
                );
                return send_msg(socket, &refusal).await;
            }
        }
        let reply = match command {
            ClientMsg::Send {
                room,
                text,
                client_id,
                reply_to,
            } => {
                // Typing after a message is typing a new one: its first signal goes at once.
                if let Some(joined) = rooms.find(&room) {
                    joined.typed_at = None;
                }
                let said = send::Sent {
                    room,
                    text,
                    client_id,
                    reply_to,
                };
                self.say(rooms, pace, said).await
            }
            ClientMsg::Edit { room, id, text } => {
                let change = Ok(amend::Change::Edit(text));
                match self.amend(rooms, room, id, change).await {
                    Some(refusal) => refusal,
                    None => return Ok(()),
                }
            }
            ClientMsg::React {
                room,
                id,
                emoji,
                on,
            } => match self
                .amend(rooms, room, id, amend::reaction(&emoji, on))
                .await
            {
                Some(refusal) => refusal,
                None => return Ok(()),
            },
            ClientMsg::Join { room, after } => {
                return Box::pin(self.join(socket, rooms, room, after)).await
            }
            ClientMsg::Typing { room } => {
                self.typing(rooms, &room).await;
                return Ok(());
            }
            ClientMsg::History { room, before } => self.older(rooms, room, before).await,
            ClientMsg::Leave { room } => self.leave(rooms, room).await,
        };
        send_msg(socket, &reply).await
    }
}
