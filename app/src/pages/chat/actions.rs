//! What a reader can do with a message of the conversation, on a line under it: answer it
//! ("Reply"), react to it ("React", then an emoji), change it ("Edit", on their own) and take it
//! back ("Delete", on their own, and on any for the room's moderators).
//!
//! Reply and Edit hand the message to the composer ([`Composing`]); a reaction and a deletion go
//! at once. On a screen with a pointer the line shows while the message is hovered or holds the
//! focus (it stays in the tab order), on a touch screen always.

use super::chat;
use super::composer::Composing;
use super::reactions::Palette;
use crate::protocol::{ChatMessage, Quote};
use leptos::prelude::*;

#[component]
pub fn Actions(m: ChatMessage, mine: bool) -> impl IntoView {
    let context = chat();
    let name = m.user.name.to_string();
    let picking = RwSignal::new(false);
    let quote = StoredValue::new(Quote::of(&m));
    let reply = move |_| {
        context.composing.set(Composing::Reply(quote.get_value()));
        focus_composer();
    };
    let (id, text) = (m.id, StoredValue::new(m.text.clone()));
    let edit = move |_| {
        context.composing.set(Composing::Edit {
            id,
            text: text.get_value(),
        });
        focus_composer();
    };
    let reply_label = format!("Reply to this message by {name}");
    let react_label = format!("React to this message by {name}");
    view! {
        <div class="actions">
            <button type="button" class="action" on:click=reply aria-label=reply_label>
                "Reply"
            </button>
            <button
                type="button"
                class="action"
                aria-label=react_label
                aria-expanded=move || picking.get().to_string()
                on:click=move |_| picking.update(|open| *open = !*open)
            >
                "React"
            </button>
            {mine
                .then(|| {
                    view! {
                        <button
                            type="button"
                            class="action"
                            on:click=edit
                            aria-label="Edit this message"
                        >
                            "Edit"
                        </button>
                    }
                })}
            <DeleteButton m=m.clone() mine />
            <Show when=move || picking.get()>
                <Palette id picking />
            </Show>
        </div>
    }
}

/// Puts the keyboard focus in the message box.
pub fn focus_composer() {
    if let Ok(Some(composer)) = document().query_selector("#composer") {
        super::focus(&composer);
    }
}

/// "Delete" on the reader's own message, and on any for the room's moderators. It asks first
/// (the answer has the focus; Escape or "Cancel" keeps the message); then the message is gone
/// for everyone once the server says so (the socket brings the deletion back to this page too).
/// A refusal goes to the banner.
#[component]
fn DeleteButton(m: ChatMessage, mine: bool) -> impl IntoView {
    let live = chat().live;
    let titles = super::members::titles();
    let room = m.room.clone();
    let may_delete = move || mine || titles.0.with(|t| t.get(&room).is_some_and(|r| r.moderates));
    let asking = RwSignal::new(false);
    let confirm = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(button) = confirm.get() {
            let _ = button.focus();
        }
    });
    let (room, id) = (m.room.clone(), m.id);
    let delete = Callback::new(move |()| {
        asking.set(false);
        let room = room.clone();
        leptos::task::spawn_local(async move {
            if let Err(e) = crate::conversations::delete_message(room, id).await {
                live.error.set(Some(format!("Not deleted: {e}")));
            }
        });
    });
    let name = m.user.name.to_string();
    let label = StoredValue::new(format!("Delete this message by {name}"));
    let confirm_label = StoredValue::new(format!("Delete for everyone: the message by {name}"));
    view! {
        <Show when=may_delete.clone()>
            <Show
                when=move || asking.get()
                fallback=move || {
                    view! {
                        <button
                            type="button"
                            class="action delete"
                            on:click=move |_| asking.set(true)
                            aria-label=label.get_value()
                        >
                            "Delete"
                        </button>
                    }
                }
            >
                <span
                    class="confirm-delete"
                    on:keydown=move |ev| {
                        if ev.key() == "Escape" {
                            asking.set(false);
                        }
                    }
                >
                    <button
                        type="button"
                        node_ref=confirm
                        on:click=move |_| delete.run(())
                        aria-label=confirm_label.get_value()
                    >
                        "Delete for everyone"
                    </button>
                    <button type="button" on:click=move |_| asking.set(false)>
                        "Cancel"
                    </button>
                </span>
            </Show>
        </Show>
    }
}
