//! What the reader was typing, room by room: it stays with its room when they switch rooms, and
//! in the browser's `localStorage` (one entry per account) so a reload, a closed tab or another
//! tab of theirs finds it too. Sending clears the room's draft; signing out clears them all, so a
//! shared computer keeps nothing of an account that left it.
//!
//! Each change is merged into what storage holds (read, change one room, write), so two tabs
//! typing in different rooms keep both drafts. Storage that is missing or full (a private
//! window, a quota) only costs the keeping across reloads: the drafts still follow the rooms.

use crate::protocol::{RoomName, UserId};
use crate::stored::Stored;
use leptos::prelude::*;

/// The most rooms whose drafts are kept; the least recently changed go first.
const MAX_ROOMS: usize = 50;

/// The drafts, by room, most recently changed last.
type Texts = Vec<(RoomName, String)>;

#[derive(Clone, Copy)]
pub struct Drafts {
    texts: RwSignal<Texts>,
    stored: Stored<Texts>,
}

impl Drafts {
    /// The drafts of `user`, read from storage once the page is hydrated (the server's page
    /// has none: they live in the browser).
    pub fn new(user: UserId) -> Self {
        let drafts = Self {
            texts: RwSignal::new(Vec::new()),
            stored: Stored::new("drafts", user),
        };
        Effect::new(move |_| drafts.texts.set(drafts.stored.read()));
        drafts
    }

    /// The draft of `room` (tracked).
    pub fn text(self, room: &RoomName) -> String {
        self.with(room, str::to_owned)
    }

    /// Whether `room` has nothing typed but spaces (tracked).
    pub fn is_blank(self, room: &RoomName) -> bool {
        self.with(room, |text| text.trim().is_empty())
    }

    /// `f` of the draft of `room` ("" when it has none), tracked.
    fn with<R>(self, room: &RoomName, f: impl FnOnce(&str) -> R) -> R {
        self.texts.with(|texts| {
            let found = texts.iter().find(|(r, _)| r == room);
            f(found.map_or("", |(_, text)| text.as_str()))
        })
    }

    /// Sets the draft of `room` (empty: there is none), here and in storage.
    pub fn set(self, room: &RoomName, text: String) {
        self.texts.update(|texts| put(texts, room, text.clone()));
        let mut stored = self.stored.read();
        put(&mut stored, room, text);
        // Storage that is missing or full keeps the drafts in the page only.
        let _ = self.stored.write(&stored);
    }

    /// Forgets every draft of this account, here and in storage (signing out).
    pub fn clear(self) {
        self.texts.set(Vec::new());
        let _ = self.stored.remove();
    }
}

/// Sets `room`'s draft in `texts`, as the most recent; an empty one is removed.
fn put(texts: &mut Texts, room: &RoomName, text: String) {
    texts.retain(|(r, _)| r != room);
    if !text.is_empty() {
        texts.push((room.clone(), text));
    }
    let over = texts.len().saturating_sub(MAX_ROOMS);
    texts.drain(..over);
}

#[cfg(test)]
mod tests {
    use super::{put, Texts, MAX_ROOMS};
    use crate::protocol::RoomName;

    fn room(name: &str) -> RoomName {
        RoomName::parse(name).unwrap()
    }

    #[test]
    fn a_draft_moves_to_the_end_when_changed_and_an_empty_one_is_gone() {
        let mut texts = Texts::new();
        put(&mut texts, &room("a"), "one".into());
        put(&mut texts, &room("b"), "two".into());
        put(&mut texts, &room("a"), "one more".into());
        assert_eq!(
            texts,
            vec![(room("b"), "two".into()), (room("a"), "one more".into())]
        );
        put(&mut texts, &room("b"), String::new());
        assert_eq!(texts, vec![(room("a"), "one more".into())]);
    }

    #[test]
    fn the_least_recently_changed_drafts_go_first() {
        let mut texts = Texts::new();
        for i in 0..MAX_ROOMS + 2 {
            put(&mut texts, &room(&format!("r{i}")), "x".into());
        }
        assert_eq!(texts.len(), MAX_ROOMS);
        assert_eq!(texts[0].0, room("r2"));
    }
}
