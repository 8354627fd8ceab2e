//! The message box: Enter sends, Shift+Enter starts a new line, typing tells the room. A message
//! goes to the outbox (`crate::live::outbox`) with a random id of its own, so a resend after a
//! reconnect is recognised; a browser that cannot make one may not send at all, and says so.
//! What is typed is the room's draft (`super::drafts`): it stays with the room.

use super::chat;
use crate::live::{new_client_id, now_ms};
use crate::protocol::MAX_TEXT_CHARS;
use leptos::prelude::*;

#[component]
pub fn Composer() -> impl IntoView {
    let chat = chat();
    let titles = super::members::titles();
    let (live, current, no_ids, scroll, drafts) = (
        chat.live,
        chat.current,
        chat.no_ids,
        chat.scroll,
        chat.drafts,
    );
    let send = move || {
        let room = current.get_untracked();
        let text = untrack(|| drafts.text(&room));
        if text.trim().is_empty() {
            return;
        }
        match new_client_id() {
            Ok(client_id) => {
                if live.send(&text, client_id) {
                    drafts.set(&room, String::new());
                    scroll.sent();
                }
            }
            // The draft stays in the composer: nothing was sent.
            Err(e) => no_ids.set(Some(e.to_string())),
        }
    };
    view! {
        <form
            class="composer"
            on:submit=move |ev| {
                ev.prevent_default();
                send();
            }
        >
            <textarea
                id="composer"
                data-testid="composer"
                rows="1"
                maxlength=MAX_TEXT_CHARS
                aria-label=move || format!("Message {}", titles.label(&current.get()))
                placeholder=move || format!("Message {}", titles.label(&current.get()))
                title="Enter sends, Shift+Enter starts a new line, /me for actions"
                prop:value=move || drafts.text(&current.get())
                on:input=move |ev| {
                    drafts.set(&current.get_untracked(), event_target_value(&ev));
                    live.typed(now_ms());
                }
                on:keydown=move |ev| {
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        send();
                    }
                }
            ></textarea>
            <button
                type="submit"
                disabled=move || {
                    no_ids.with(Option::is_some) || drafts.is_blank(&current.get())
                }
            >
                "Send"
            </button>
        </form>
    }
}
