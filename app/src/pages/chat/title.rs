//! The tab's title: the room, and while the tab is hidden the count of what arrived since (with
//! the other rooms' unread messages), so a glance at the tab says there is something to read.

use crate::live::Live;
use crate::protocol::{MessageId, RoomError, RoomName, UserId};
use leptos::prelude::*;

/// The title, as a closure for `<Title text=…/>`.
pub fn title(
    room: Memo<Result<RoomName, RoomError>>,
    live: Live,
    me: UserId,
) -> impl Fn() -> String + Send + Sync + 'static {
    // While the tab is hidden: the newest message id seen before it was hidden.
    let hidden_at = RwSignal::new(None::<Option<MessageId>>);
    let visibility = window_event_listener(leptos::ev::visibilitychange, move |_| {
        let hidden = document().hidden();
        let last = live.chat.with_untracked(|chat| chat.current().last_seen());
        hidden_at.set(hidden.then_some(last));
    });
    on_cleanup(move || visibility.remove());
    // Read with `try_`: on the server the document head is rendered after the page's own
    // signals may have been disposed.
    move || {
        let name = match room.try_get() {
            Some(Ok(room)) => format!("#{room} · Switchboard"),
            Some(Err(_)) => return "No such room · Switchboard".to_owned(),
            None => return "Switchboard".to_owned(),
        };
        let hidden = hidden_at.try_get().flatten();
        let unread = live.chat.try_with(|chat| {
            let here = hidden.map_or(0, |mark| {
                chat.current()
                    .messages
                    .values()
                    .filter(|m| mark.is_none_or(|mark| m.id > mark))
                    .filter(|m| m.user.id != me && m.is_said())
                    .count() as u32
            });
            here + chat.unread()
        });
        if let Some(unread @ 1..) = unread {
            format!("({unread}) {name}")
        } else {
            name
        }
    }
}
