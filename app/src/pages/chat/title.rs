//! The tab's title: the room, and the count of unread messages in every room that is not muted
//! (the room on screen's too, while the tab is hidden), so a glance at the tab says there is
//! something to read. The count follows the person's read marks, so reading in another tab or
//! on another device clears it here too.

use super::alerts::Muted;
use crate::live::Live;
use crate::protocol::{RoomError, RoomName};
use leptos::prelude::*;

/// The title, as a closure for `<Title text=…/>`.
pub fn title(
    room: Memo<Result<RoomName, RoomError>>,
    live: Live,
    muted: Muted,
) -> impl Fn() -> String + Send + Sync + 'static {
    // Read with `try_`: on the server the document head is rendered after the page's own
    // signals may have been disposed.
    move || {
        let name = match room.try_get() {
            Some(Ok(room)) => format!("#{room} · Switchboard"),
            Some(Err(_)) => return "No such room · Switchboard".to_owned(),
            None => return "Switchboard".to_owned(),
        };
        let unread = live
            .chat
            .try_with(|chat| chat.unread(|room| muted.has(room)));
        if let Some(unread @ 1..) = unread {
            format!("({unread}) {name}")
        } else {
            name
        }
    }
}
