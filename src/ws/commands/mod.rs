//! The client's commands, one file each: [`send`] (a message, or a reply), [`amend`] (an edit
//! or a reaction), [`join`] (and leave), [`history`] (an older page), [`typing`] and [`read`]
//! (a read mark). [`Connection::dispatch`] routes a decoded frame
//! to its command; the requests that cost reads and subscriptions are paced per socket here.

mod amend;
mod history;
mod join;
mod read;
mod send;
mod typing;

use super::rooms::Rooms;
use super::transport::{send_msg, SendFailed, Transport};
use super::Connection;
use crate::rate::{LocalBucket, Rate};
use app::protocol::{ClientMsg, ServerMsg};
use std::time::Duration;

pub(super) use read::send_read_mark;
use send::Held;

/// Joins, leaves, history requests and read marks one socket may make: 10 a second, 20 at once (enough to
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
        | ClientMsg::History { room, .. }
        | ClientMsg::Read { room, .. } = &command
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
        // What to answer; an edit or a reaction that went through is answered by its record.
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
                Some(self.say(rooms, pace, said).await)
            }
            ClientMsg::Edit { room, id, text } => {
                let change = Ok(amend::Change::Edit(text));
                self.amend(rooms, room, id, change).await
            }
            ClientMsg::React {
                room,
                id,
                emoji,
                on,
            } => {
                let change = amend::reaction(&emoji, on);
                self.amend(rooms, room, id, change).await
            }
            ClientMsg::Join { room, after } => {
                return Box::pin(self.join(socket, rooms, room, after)).await
            }
            ClientMsg::Typing { room } => {
                self.typing(rooms, &room).await;
                return Ok(());
            }
            ClientMsg::History { room, before } => Some(self.older(rooms, room, before).await),
            ClientMsg::Leave { room } => Some(self.leave(rooms, room).await),
            ClientMsg::Read { room, id } => self.read(rooms, room, id).await,
            // Costs no backend call: answered however busy the backend is.
            ClientMsg::Ping => Some(ServerMsg::Heartbeat),
        };
        match reply {
            Some(reply) => send_msg(socket, &reply).await,
            None => Ok(()),
        }
    }

    /// Takes a token from the user's `bucket` (`message`, `amend`), shared by all their sockets
    /// and instances, at the rate set for messages. Returns the wait in milliseconds when there
    /// was none; a limiter that cannot be reached limits nothing.
    async fn user_rate_wait(&self, bucket: &str) -> Option<u64> {
        let key = format!("{bucket}:{}", self.sign_in.user.id);
        let rate = self.state.settings.limits.messages;
        match self.state.limiter.take(&key, rate).await {
            Ok(None) => None,
            Ok(Some(wait)) => Some(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1)),
            Err(e) => {
                tracing::warn!(error = %e, "rate limiter unavailable; not limiting");
                None
            }
        }
    }
}
