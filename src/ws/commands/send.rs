//! `send`: a message from the user, limited across their sockets and instances, stored and
//! published in one step, answered by `ack` or by an `error` that names its `client_id`. A
//! reply quotes the message it answers, as the log has it (never as the frame says).

use super::{Connection, Pace};
use crate::ws::rooms::{not_joined, Rooms};
use app::protocol::{ClientId, Draft, ErrorCode, MessageId, Quote, RoomName, Said, ServerMsg};
use std::time::Duration;

/// A socket's message that was slowed down: the socket's other messages wait until it is sent
/// again (or, from a client that never sends it again, [`HELD_AT_MOST`] past its wait).
pub struct Held {
    client_id: ClientId,
    until_ms: u64,
}

const HELD_AT_MOST: Duration = Duration::from_secs(5);

/// A `send` frame's fields.
pub struct Sent {
    pub room: RoomName,
    pub text: String,
    pub client_id: ClientId,
    pub reply_to: Option<MessageId>,
}

impl Connection {
    /// Stores what the user said in `room` and returns the answer: `ack` or `error`.
    pub(super) async fn say(&self, rooms: &Rooms, pace: &mut Pace, sent: Sent) -> ServerMsg {
        let Sent {
            room,
            text,
            client_id,
            reply_to,
        } = sent;
        let metrics = &self.state.metrics;
        metrics.messages_received.inc();
        let refuse = |code, message: String| {
            metrics.messages_refused.inc();
            ServerMsg::refused(code, message, Some(client_id))
        };
        if !rooms.contains(&room) {
            return refuse(ErrorCode::WrongRoom, not_joined(&room));
        }
        let said = match Said::parse(&text) {
            Ok(said) => said,
            Err(e) => return refuse(ErrorCode::InvalidText, format!("Not sent: {e}.")),
        };
        if let Some(ms) = self.over_message_rate(pace, client_id).await {
            metrics.messages_refused.inc();
            metrics.rate_limited_messages.inc();
            return ServerMsg::rate_limited(
                format!(
                    "You are sending too fast; this one goes out in {:.1} s.",
                    ms as f64 / 1000.0
                ),
                Some(client_id),
                None,
                ms,
            );
        }
        let reply = match reply_to {
            None => None,
            Some(original) => match self.quote(&room, original, client_id).await {
                Ok(quote) => Some(Box::new(quote)),
                Err(refusal) => {
                    metrics.messages_refused.inc();
                    return refusal;
                }
            },
        };
        let draft = Draft {
            client_id: Some(client_id),
            reply,
            ..Draft::new(self.sign_in.user.clone(), said.kind, said.text)
        };
        match self.state.log.append(&room, &draft).await {
            Ok(appended) => {
                if appended.duplicate {
                    metrics.messages_duplicate.inc();
                } else {
                    metrics.messages_stored.inc();
                }
                ServerMsg::Ack {
                    client_id,
                    id: appended.id,
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, %room, "could not store a message");
                metrics.messages_refused.inc();
                unavailable(
                    "Not sent: the chat backend is unavailable. Retrying…",
                    Some(client_id),
                )
            }
        }
    }

    /// The quote of message `original` of `room`, which the reply sent with `client_id`
    /// answers: something said that is still there. The refusal names both.
    async fn quote(
        &self,
        room: &RoomName,
        original: MessageId,
        client_id: ClientId,
    ) -> Result<Quote, ServerMsg> {
        let (code, message) = match self.state.log.message(room, original).await {
            Ok(Some(message)) if message.is_said() => return Ok(Quote::of(&message)),
            Ok(_) => (
                ErrorCode::NoSuchMessage,
                format!("Not sent: the message it answers is no longer in #{room}."),
            ),
            Err(e) => {
                tracing::warn!(error = %e, %room, "could not read the message a reply answers");
                (
                    ErrorCode::Unavailable,
                    "Not sent: the chat backend is unavailable. Retrying…".to_owned(),
                )
            }
        };
        Err(ServerMsg::Error {
            code,
            message,
            client_id: Some(client_id),
            room: Some(room.clone()),
            retry_after_ms: None,
            target: Some(original),
        })
    }

    /// Takes a token from the user's message bucket (shared by all their sockets and
    /// instances). Returns how long to wait when there was none. If the limiter cannot be
    /// reached the message goes through: storing it needs the same backend, and will say so.
    ///
    /// Once a message of the socket was slowed down, the socket's other messages are refused too
    /// (without asking the limiter) until that one comes again: a client that sent several at
    /// once gets them all back to send again in order, and a later one is never stored before
    /// an earlier one. Returns the wait in milliseconds.
    async fn over_message_rate(&self, pace: &mut Pace, client_id: ClientId) -> Option<u64> {
        let now = crate::clock::unix_ms();
        if let Some(held) = pace.held.take() {
            let expired = now
                > held
                    .until_ms
                    .saturating_add(HELD_AT_MOST.as_millis() as u64);
            if held.client_id != client_id && !expired {
                let wait = held.until_ms.saturating_sub(now).max(1);
                pace.held = Some(held);
                return Some(wait);
            }
        }
        let ms = self.user_rate_wait("message").await?;
        pace.held = Some(Held {
            client_id,
            until_ms: now + ms,
        });
        Some(ms)
    }
}

fn unavailable(message: &str, client_id: Option<ClientId>) -> ServerMsg {
    ServerMsg::refused(ErrorCode::Unavailable, message, client_id)
}
