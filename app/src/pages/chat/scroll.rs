//! Where the reader is in the message list: new messages keep a reader at the newest one there,
//! a reader scrolled up is told that new ones arrived below, a room switch goes back to where the
//! reader was in that room, and a page of older messages arriving above does not move what they
//! are reading. A reply's quote takes the reader to the message it answers ([`Scroll::seek`]),
//! loading older pages until it is there.

use crate::live::Live;
use crate::protocol::{MessageId, RoomName, UserId};
use leptos::html::Div;
use leptos::prelude::*;

/// How close to the bottom (in pixels) counts as "at the bottom": new messages keep such a
/// reader at the newest one.
const BOTTOM_SLACK: i32 = 40;
/// Scrolled this close to the top (in pixels), the page asks for older messages.
const NEAR_TOP: i32 = 80;

/// Whether the list is scrolled to (within [`BOTTOM_SLACK`] of) its newest message.
fn is_at_bottom(list: &leptos::web_sys::Element) -> bool {
    list.scroll_height() - list.scroll_top() - list.client_height() <= BOTTOM_SLACK
}

/// The message list's scrolling state (handles only: `Copy`).
#[derive(Clone, Copy)]
pub struct Scroll {
    /// The list's element.
    pub list: NodeRef<Div>,
    /// Whether the reader is at the newest message (then new ones keep them there).
    at_bottom: StoredValue<bool>,
    /// New messages arrived below while the reader was scrolled up.
    pub unseen: RwSignal<bool>,
    /// The newest message of the room on screen, when the list last changed.
    newest: StoredValue<Option<MessageId>>,
    /// While an older page loads: how far the reader was from the bottom.
    anchor: StoredValue<Option<i32>>,
    /// The room the list showed when it last changed.
    shown_room: StoredValue<Option<RoomName>>,
    /// The message the reader asked to be taken to, until it is on screen.
    seeking: RwSignal<Option<MessageId>>,
}

impl Scroll {
    pub fn new() -> Self {
        Self {
            list: NodeRef::new(),
            at_bottom: StoredValue::new(true),
            unseen: RwSignal::new(false),
            newest: StoredValue::new(None),
            anchor: StoredValue::new(None),
            shown_room: StoredValue::new(None),
            seeking: RwSignal::new(None),
        }
    }

    /// Takes the reader to message `id` of the room on screen: at once if it is loaded, else
    /// once the older pages that hold it are (see [`Scroll::follow`]). Said in the banner if
    /// the room no longer has it.
    pub fn seek(self, id: MessageId) {
        self.seeking.set(Some(id));
    }

    /// Loads older pages until the message sought is there, then shows it.
    fn follow_seek(self, live: Live) {
        Effect::new(move |_| {
            let Some(id) = self.seeking.get() else { return };
            let (here, oldest, end, loading) = live.chat.with(|chat| {
                let room = chat.current();
                let here = room.messages.get(&id).is_some_and(|m| m.is_shown());
                let oldest = room.messages.keys().next().copied();
                (here, oldest, room.history_end, room.loading_older)
            });
            if here {
                self.seeking.set(None);
                // A frame later than the list's own scrolling (which keeps the reader's place
                // when a page arrives above), so that it does not undo this.
                request_animation_frame(move || request_animation_frame(move || show_message(id)));
            } else if end || oldest.is_none_or(|oldest| oldest < id) {
                self.seeking.set(None);
                live.error.set(Some(
                    "That message is no longer in the room's history.".to_owned(),
                ));
            } else if !loading {
                self.load_older(live);
            }
        });
    }

    /// How far down the list is scrolled now, if it is drawn.
    pub fn position(self) -> Option<i32> {
        self.list.get_untracked().map(|el| el.scroll_top())
    }

    /// After the list changes: on a room switch, back to where the reader was in that room (or
    /// the newest message); after an older page, where the reader was; otherwise follow new
    /// messages if the reader was at the newest, and always the reader's own (a phone's
    /// scrolling may have carried them off the bottom since they sent it).
    pub fn follow(self, live: Live, me: UserId) {
        self.follow_seek(live);
        Effect::new(move |_| {
            let (name, saved, loading, last, mine) = live.chat.with(|chat| {
                let room = chat.current();
                let newest = room.messages.values().next_back();
                (
                    room.name.clone(),
                    room.scroll,
                    room.loading_older,
                    room.last_seen(),
                    newest.is_some_and(|m| m.user.id == me && m.client_id.is_some()),
                )
            });
            let arrived = self.newest.get_value() != last;
            self.newest.set_value(last);
            // Kept for the frame below, not only in `at_bottom`: a scroll event the browser
            // fires before that frame (a phone's bounce) would otherwise undo it.
            let own = arrived && mine;
            if own {
                self.at_bottom.set_value(true);
            }
            let Some(el) = self.list.get() else { return };
            let switched = self
                .shown_room
                .with_value(|shown| shown.as_ref() != Some(&name));
            let restore = self.anchor.get_value().filter(|_| !loading && !switched);
            if switched {
                self.shown_room.set_value(Some(name));
            }
            if switched || restore.is_some() {
                self.anchor.set_value(None);
            }
            // After the list's rows are laid out (their own effects may run after this one).
            request_animation_frame(move || {
                if switched {
                    el.set_scroll_top(saved.unwrap_or_else(|| el.scroll_height()));
                } else if let Some(from_bottom) = restore {
                    el.set_scroll_top(el.scroll_height() - from_bottom);
                } else if own || self.at_bottom.get_value() {
                    el.set_scroll_top(el.scroll_height());
                } else if arrived {
                    self.unseen.set(true);
                }
                self.at_bottom.set_value(is_at_bottom(&el));
                if switched || self.at_bottom.get_value() {
                    self.unseen.set(false);
                }
            });
        });
    }

    /// Asks for the page of messages before the oldest shown, keeping the reader's place.
    pub fn load_older(self, live: Live) {
        if let Some(el) = self.list.get_untracked() {
            if live.load_older() {
                self.anchor
                    .set_value(Some(el.scroll_height() - el.scroll_top()));
            }
        }
    }

    /// Jumps to the newest message.
    pub fn to_bottom(self) {
        if let Some(el) = self.list.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
        self.unseen.set(false);
    }

    /// The reader scrolled: note whether they are at the newest message, and near the top ask
    /// for older ones.
    pub fn scrolled(self, live: Live) {
        if let Some(el) = self.list.get_untracked() {
            let bottom = is_at_bottom(&el);
            self.at_bottom.set_value(bottom);
            if bottom {
                self.unseen.set(false);
            }
            if el.scroll_top() < NEAR_TOP {
                self.load_older(live);
            }
        }
    }

    /// The reader sent a message: the list follows it down.
    pub fn sent(self) {
        self.at_bottom.set_value(true);
    }
}

/// Scrolls message `id` into view, gives it the focus and marks it for a moment.
fn show_message(id: MessageId) {
    let selector = format!("[data-id=\"{id}\"]");
    let Ok(Some(row)) = document().query_selector(&selector) else {
        return;
    };
    row.scroll_into_view();
    let _ = row.set_attribute("tabindex", "-1");
    super::focus(&row);
    let _ = row.class_list().add_1("sought");
    set_timeout(
        move || {
            let _ = row.class_list().remove_1("sought");
        },
        std::time::Duration::from_millis(1500),
    );
}
