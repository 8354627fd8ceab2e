//! The message box: Enter sends, Shift+Enter starts a new line, typing tells the room. A message
//! goes to the outbox (`crate::live::outbox`) with a random id of its own, so a resend after a
//! reconnect is recognised; a browser that cannot make one may not send at all, and says so.
//! What is typed is the room's draft (`super::drafts`): it stays with the room.
//!
//! The box can also be answering a message (a reply, shown with its quote above the box) or
//! changing one of the reader's own ([`Composing`]); Escape, or the bar's "Cancel", goes back to
//! a new message. Up in an empty box edits the reader's last message in the room. Typing `@`
//! offers the room's people to mention (`super::mentioning`).

use super::chat;
use crate::live::{new_client_id, now_ms};
use crate::protocol::{MessageId, Quote, MAX_TEXT_CHARS};
use leptos::prelude::*;

/// What the message box is writing.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Composing {
    /// A new message (the room's draft).
    #[default]
    New,
    /// A reply to the message quoted.
    Reply(Quote),
    /// A new text for the reader's message `id`; `text` is what the box holds.
    Edit { id: MessageId, text: String },
}

#[component]
pub fn Composer() -> impl IntoView {
    let chat = chat();
    let titles = super::members::titles();
    let (live, current, no_ids, scroll, drafts, composing) = (
        chat.live,
        chat.current,
        chat.no_ids,
        chat.scroll,
        chat.drafts,
        chat.composing,
    );
    let me = chat.me;
    let editing = move || matches!(composing.get(), Composing::Edit { .. });
    let text = move || match composing.get() {
        Composing::Edit { text, .. } => text,
        _ => drafts.text(&current.get()),
    };
    let send = move || {
        let room = current.get_untracked();
        match composing.get_untracked() {
            Composing::Edit { id, text } => {
                if live.edit(id, &text) {
                    composing.set(Composing::New);
                }
                return;
            }
            Composing::New | Composing::Reply(_) => {}
        }
        let text = untrack(|| drafts.text(&room));
        if text.trim().is_empty() {
            return;
        }
        let reply_to = match composing.get_untracked() {
            Composing::Reply(quote) => Some(quote.id),
            _ => None,
        };
        match new_client_id() {
            Ok(client_id) => {
                if live.send(&text, client_id, reply_to) {
                    drafts.set(&room, String::new());
                    composing.set(Composing::New);
                    scroll.sent();
                }
            }
            // The draft stays in the composer: nothing was sent.
            Err(e) => no_ids.set(Some(e.to_string())),
        }
    };
    // Up in an empty box: edit the reader's last message here, as most chats do.
    let edit_last = move || {
        let last = live.chat.with_untracked(|chat| {
            chat.current()
                .messages
                .values()
                .rev()
                .find(|m| m.user.id == me && m.is_said())
                .map(|m| (m.id, m.text.clone()))
        });
        if let Some((id, text)) = last {
            composing.set(Composing::Edit { id, text });
        }
    };
    let mentioning = super::mentioning::Mentioning::new(Signal::derive(text));
    // The text with the mention being typed completed to `handle`.
    let took = Callback::new(move |handle: String| {
        let completed = super::mentioning::complete(&untrack(text), &handle);
        match composing.get_untracked() {
            Composing::Edit { id, .. } => composing.set(Composing::Edit {
                id,
                text: completed,
            }),
            _ => drafts.set(&current.get_untracked(), completed),
        }
    });
    let label = move || match composing.get() {
        Composing::Edit { .. } => "Edit your message".to_owned(),
        Composing::Reply(quote) => format!("Reply to {}", quote.user.name),
        Composing::New => format!("Message {}", titles.label(&current.get())),
    };
    view! {
        <form
            class="composer"
            on:submit=move |ev| {
                ev.prevent_default();
                send();
            }
        >
            <ComposingBar composing />
            <super::mentioning::MentionList mentioning took />
            <textarea
                id="composer"
                data-testid="composer"
                rows="1"
                maxlength=MAX_TEXT_CHARS
                aria-label=label
                placeholder=label
                title="Enter sends, Shift+Enter starts a new line, /me for actions, Up edits your last message"
                prop:value=text
                on:input=move |ev| {
                    let value = event_target_value(&ev);
                    if let Composing::Edit { id, .. } = composing.get_untracked() {
                        composing.set(Composing::Edit { id, text: value });
                        return;
                    }
                    drafts.set(&current.get_untracked(), value);
                    live.typed(now_ms());
                }
                on:keydown=move |ev| {
                    let (used, taken) = mentioning.key(&ev.key());
                    if used {
                        ev.prevent_default();
                        if let Some(handle) = taken {
                            took.run(handle);
                        }
                        return;
                    }
                    if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
                        ev.prevent_default();
                        send();
                    } else if ev.key() == "Escape" && composing.get_untracked() != Composing::New {
                        ev.prevent_default();
                        composing.set(Composing::New);
                    } else if ev.key() == "ArrowUp"
                        && composing.get_untracked() == Composing::New
                        && drafts.is_blank(&current.get_untracked())
                    {
                        ev.prevent_default();
                        edit_last();
                    }
                }
            ></textarea>
            <button
                type="submit"
                disabled=move || {
                    no_ids.with(Option::is_some)
                        || match composing.get() {
                            Composing::Edit { text, .. } => text.trim().is_empty(),
                            _ => drafts.is_blank(&current.get()),
                        }
                }
            >
                {move || if editing() { "Save" } else { "Send" }}
            </button>
        </form>
    }
}

/// Above the box while it answers or changes a message: which one, and "Cancel".
#[component]
fn ComposingBar(composing: RwSignal<Composing>) -> impl IntoView {
    let said = move || {
        match composing.get() {
        Composing::New => None,
        Composing::Reply(quote) => Some(view! {
            <span class="composing-what">"Replying to " <b>{quote.user.name.to_string()}</b></span>
            <span class="composing-quote">{quote.text}</span>
        }.into_any()),
        Composing::Edit { .. } => Some(view! {
            <span class="composing-what">"Editing your message"</span>
        }.into_any()),
    }
    };
    view! {
        <Show when=move || composing.with(|c| *c != Composing::New)>
            <div class="composing" data-testid="composing">
                {said}
                <button
                    type="button"
                    class="cancel"
                    on:click=move |_| {
                        composing.set(Composing::New);
                        super::actions::focus_composer();
                    }
                >
                    "Cancel"
                </button>
            </div>
        </Show>
    }
}
