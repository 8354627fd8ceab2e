//! The keyboard: Escape closes the rooms drawer, Alt+↑ and Alt+↓ move to the previous or next
//! room; and the focus follows the drawer, so a keyboard user is never left on a hidden element.

use super::{focus, ChatContext};
use crate::pages::path_of_room;
use leptos::html::{Button, Nav};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

/// The drawer takes the focus when it opens (on its current room), and gives it back to its
/// button when it closes with the focus inside.
pub fn drawer_focus(drawer: RwSignal<bool>, nav: NodeRef<Nav>, toggle: NodeRef<Button>) {
    Effect::new(move |was_open: Option<bool>| {
        let open = drawer.get();
        let Some(nav) = nav.get_untracked() else {
            return open;
        };
        if open {
            // Once the drawer is drawn open (hidden elements take no focus).
            request_animation_frame(move || {
                if let Ok(Some(link)) = nav.query_selector("li.current a") {
                    focus(&link);
                }
            });
        } else if was_open == Some(true) {
            let inside = document()
                .active_element()
                .is_none_or(|active| nav.contains(Some(&active)));
            if let (true, Some(toggle)) = (inside, toggle.get_untracked()) {
                let _ = toggle.focus();
            }
        }
        open
    });
}

/// Escape closes the drawer; Alt+Up and Alt+Down move to the previous or next room.
pub fn shortcuts(chat: ChatContext) {
    let ChatContext { live, drawer, .. } = chat;
    let navigate = use_navigate();
    let keys = window_event_listener(leptos::ev::keydown, move |ev| {
        if ev.key() == "Escape" && drawer.get_untracked() {
            drawer.set(false);
        } else if ev.alt_key() && (ev.key() == "ArrowUp" || ev.key() == "ArrowDown") {
            ev.prevent_default();
            let next = live.chat.with_untracked(|chat| {
                let rooms = chat.rooms();
                let at = rooms.iter().position(|r| r.name == chat.current().name)?;
                let to = if ev.key() == "ArrowUp" {
                    at.checked_sub(1)?
                } else {
                    at + 1
                };
                rooms.get(to).map(|r| r.name.clone())
            });
            if let Some(room) = next {
                navigate(&path_of_room(&room), Default::default());
            }
        }
    });
    on_cleanup(move || keys.remove());
}
