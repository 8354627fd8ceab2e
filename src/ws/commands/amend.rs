//! `edit` and `react`: changes to a message of the room, each stored as a record in the room's
//! log (so every socket, resume and history page converges on it) and answered by that record
//! arriving like any message; a refusal is an `error` naming the message (`target`), and
//! changes nothing.

use super::Connection;
use crate::backend::Amended;
use crate::ws::rooms::{not_joined, Rooms};
use app::protocol::{Draft, Emoji, ErrorCode, MessageId, RoomName, Said, ServerMsg};

/// A change the user asked for, checked: what to store.
pub enum Change {
    Edit(String),
    React(Emoji, bool),
}

impl Connection {
    /// Makes `change` to message `id` of `room`, if the user may. Returns the refusal to send,
    /// or nothing: the record itself is the answer (none comes when nothing changed).
    pub(super) async fn amend(
        &self,
        rooms: &Rooms,
        room: RoomName,
        id: MessageId,
        change: Result<Change, String>,
    ) -> Option<ServerMsg> {
        let metrics = &self.state.metrics;
        let refuse = |code, message: String| {
            metrics.amendments_refused.inc();
            Some(ServerMsg::about_message(
                code,
                message,
                Some(room.clone()),
                Some(id),
            ))
        };
        if !rooms.contains(&room) {
            return refuse(ErrorCode::WrongRoom, not_joined(&room));
        }
        let user = self.sign_in.user.clone();
        let (record, only_by) = match change {
            Err(why) => return refuse(ErrorCode::InvalidReaction, why),
            Ok(Change::Edit(text)) => match Said::parse(&text) {
                Ok(said) => (Draft::edit(user.clone(), id, said.text), Some(user.id)),
                Err(e) => return refuse(ErrorCode::InvalidText, format!("Not changed: {e}.")),
            },
            Ok(Change::React(emoji, on)) => (Draft::reaction(user, id, emoji, on), None),
        };
        if let Some(ms) = self.user_rate_wait("amend").await {
            metrics.amendments_refused.inc();
            return Some(ServerMsg::Error {
                code: ErrorCode::RateLimited,
                message: format!("Too fast; try again in {:.1} s.", ms as f64 / 1000.0),
                client_id: None,
                room: Some(room),
                retry_after_ms: Some(ms),
                target: Some(id),
            });
        }
        match self.state.log.amend(&room, &record, only_by).await {
            Ok(Amended::Stored(_)) => {
                metrics.amendments_stored.inc();
                None
            }
            Ok(Amended::Unchanged) => None,
            Ok(Amended::NotFound) => refuse(
                ErrorCode::NoSuchMessage,
                format!(
                    "#{room} has no message {id} that can take this: it may have been deleted."
                ),
            ),
            Ok(Amended::NotTheirs) => refuse(
                ErrorCode::NotYours,
                "Only its author can edit a message.".to_owned(),
            ),
            Ok(Amended::TooMany) => refuse(
                ErrorCode::InvalidReaction,
                format!(
                    "A message can have at most {} different reactions.",
                    app::protocol::MAX_REACTIONS
                ),
            ),
            Err(e) => {
                tracing::warn!(error = %e, %room, message = %id, "could not change a message");
                refuse(
                    ErrorCode::Unavailable,
                    "Not changed: the chat backend is unavailable. Try again.".to_owned(),
                )
            }
        }
    }
}

/// The reaction a `react` frame names, checked.
pub fn reaction(emoji: &str, on: bool) -> Result<Change, String> {
    Emoji::parse(emoji)
        .map(|emoji| Change::React(emoji, on))
        .map_err(|e| format!("Not a reaction: {e}."))
}
