//! Who is typing in a room: ephemeral, never stored. Typing signals from every instance gather
//! here and go to the room's sockets as one `typing` frame per [`super::window::FRAME_WINDOW`] at most,
//! naming who typed since the last one; clients show each name for a few seconds.

use super::window::{Flush, Window};
use app::protocol::{RoomName, ServerMsg, User};
use axum::extract::ws::Utf8Bytes;
use tokio::time::Instant;

/// Most typists a frame names: beyond a few, the page says "several people are typing".
pub const MAX_NAMED: usize = 10;

#[derive(Default)]
pub struct RoomTyping {
    /// Who typed since the last frame, each once, in the order they typed.
    typists: Vec<User>,
    window: Window,
}

impl RoomTyping {
    /// `user` is typing.
    pub fn typed(&mut self, user: User, now: Instant) -> Flush {
        if self.typists.len() < MAX_NAMED && !self.typists.iter().any(|u| u.id == user.id) {
            self.typists.push(user);
        }
        self.window.changed(now)
    }

    /// The frame naming who typed since the last one, if anyone did.
    pub fn flush(&mut self, room: &RoomName, now: Instant) -> Option<Utf8Bytes> {
        self.window.flushed(now, !self.typists.is_empty());
        if self.typists.is_empty() {
            return None;
        }
        let frame = ServerMsg::Typing {
            room: room.clone(),
            users: std::mem::take(&mut self.typists),
        };
        Some(frame.to_json().into())
    }
}
