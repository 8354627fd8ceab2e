//! What calls the reader back: a mention of them (`@handle`) or a direct message raises a
//! browser notification while the tab is hidden (permission is asked only when they click
//! "Turn on notifications", never on load), and rooms they mute stay quiet: no notification, no
//! count in the tab's title.
//!
//! Muted rooms are kept in the browser's `localStorage` per account, like the drafts, and other
//! tabs follow a change through the `storage` event.

use super::members::Titles;
use crate::conversations::RoomKind;
use crate::live::Live;
use crate::protocol::{mentions_handle, ChatMessage, Handle, RoomName, UserId};
use crate::stored::Stored;
use leptos::prelude::*;

/// The rooms the reader muted.
#[derive(Clone, Copy)]
pub struct Muted {
    rooms: RwSignal<Vec<RoomName>>,
    stored: Stored<Vec<RoomName>>,
}

impl Muted {
    /// The muted rooms of `user`, read once the page is hydrated and again whenever another tab
    /// changes them.
    pub fn new(user: UserId) -> Self {
        let muted = Self {
            rooms: RwSignal::new(Vec::new()),
            stored: Stored::new("muted", user),
        };
        Effect::new(move |_| {
            muted.rooms.set(muted.stored.read());
            let other_tab = window_event_listener(leptos::ev::storage, move |event| {
                if muted.stored.is(event.key().as_deref()) {
                    muted.rooms.set(muted.stored.read());
                }
            });
            on_cleanup(move || other_tab.remove());
        });
        muted
    }

    /// Whether `room` is muted (tracked).
    pub fn has(self, room: &RoomName) -> bool {
        self.rooms.with(|rooms| rooms.contains(room))
    }

    /// Mutes `room`, or unmutes it, here and in storage.
    pub fn toggle(self, room: &RoomName) {
        let mut rooms = self.stored.read();
        if let Some(at) = rooms.iter().position(|r| r == room) {
            rooms.remove(at);
        } else {
            rooms.push(room.clone());
        }
        // Storage that is missing or full keeps the choice for this page only.
        let _ = self.stored.write(&rooms);
        self.rooms.set(rooms);
    }
}

/// Whether `m` names the reader (`handle`) with an `@`.
pub fn mentions_me(m: &ChatMessage, handle: Option<&Handle>) -> bool {
    handle.is_some_and(|handle| m.is_said() && mentions_handle(&m.text, handle))
}

/// Raises a notification for each message that is news, while the tab is hidden, when it names
/// the reader or comes in a direct conversation, unless its room is muted (browser only).
pub fn notify(live: Live, handle: Option<Handle>, muted: Muted, titles: Titles) {
    Effect::new(move |_| {
        let Some(m) = live.news.get() else {
            return;
        };
        let direct = titles.0.with_untracked(|rooms| {
            rooms
                .get(&m.room)
                .is_some_and(|info| info.kind == RoomKind::Direct)
        });
        let calls = mentions_me(&m, handle.as_ref()) || direct;
        if !calls || muted.rooms.with_untracked(|rooms| rooms.contains(&m.room)) {
            return;
        }
        if !document().hidden() {
            return;
        }
        let place = titles.label_untracked(&m.room);
        raise(
            &format!("{} in {place}", m.user.name),
            &m.text,
            m.room.as_str(),
        );
    });
}

/// A notification, if the reader allowed them; one per room at a time (`tag`), the newest.
fn raise(title: &str, body: &str, tag: &str) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::web_sys::{Notification, NotificationOptions, NotificationPermission};
        if Notification::permission() != NotificationPermission::Granted {
            return;
        }
        let options = NotificationOptions::new();
        options.set_body(body);
        options.set_tag(tag);
        if let Err(e) = Notification::new_with_options(title, &options) {
            leptos::logging::warn!("switchboard: could not raise a notification: {e:?}");
        }
    }
    let _ = (title, body, tag);
}

/// Whether the reader can still be asked to allow notifications (they neither allowed nor
/// refused them yet, and the browser has them).
fn may_ask() -> bool {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsValue;
        let has =
            js_sys::Reflect::has(&window(), &JsValue::from_str("Notification")).unwrap_or(false);
        has && leptos::web_sys::Notification::permission()
            == leptos::web_sys::NotificationPermission::Default
    }
    #[cfg(not(feature = "hydrate"))]
    false
}

/// "Turn on notifications": shown while the browser may still ask; asking happens on the click.
/// The header has one, and a phone's rooms drawer another (`testid` tells them apart).
#[component]
pub fn NotifyButton(#[prop(default = "notify")] testid: &'static str) -> impl IntoView {
    let askable = RwSignal::new(false);
    Effect::new(move |_| askable.set(may_ask()));
    let ask = move |_| {
        #[cfg(feature = "hydrate")]
        if let Ok(asked) = leptos::web_sys::Notification::request_permission() {
            leptos::task::spawn_local(async move {
                let _ = wasm_bindgen_futures::JsFuture::from(asked).await;
                askable.set(may_ask());
            });
        }
    };
    view! {
        <Show when=move || askable.get()>
            <button
                type="button"
                class="secondary notify"
                data-testid=testid
                title="Be told of mentions and direct messages while this tab is in the background"
                on:click=ask
            >
                "Turn on notifications"
            </button>
        </Show>
    }
}

/// Mute or unmute the room on screen (in the header, and in a phone's rooms drawer).
#[component]
pub fn MuteButton(
    room: Memo<RoomName>,
    muted: Muted,
    #[prop(default = "mute")] testid: &'static str,
) -> impl IntoView {
    let is_muted = move || room.with(|room| muted.has(room));
    view! {
        <button
            type="button"
            class="secondary mute"
            data-testid=testid
            aria-pressed=move || is_muted().to_string()
            title="A muted room raises no notifications and adds nothing to the tab's count"
            on:click=move |_| room.with_untracked(|room| muted.toggle(room))
        >
            {move || if is_muted() { "Unmute" } else { "Mute" }}
        </button>
    }
}
