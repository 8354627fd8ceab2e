//! Autocomplete for `@handle` in the message box: while the text ends in a mention being typed,
//! the people of the room whose handles start with it are offered (who is here first, then who
//! spoke, most recent first). Up and Down choose, Tab or Enter takes the choice, Escape closes
//! the list; a click takes one too.

use crate::live::state::Room;
use crate::protocol::{mention_at_end, User, UserId};
use leptos::prelude::*;

/// Most people offered at once.
const OFFERED: usize = 6;

/// The people of `room` (not `me`, guests have no handle) whose handles start with `typed`.
pub fn candidates(room: &Room, me: UserId, typed: &str) -> Vec<User> {
    let typed = typed.to_lowercase();
    let speakers = room.messages.values().rev().map(|m| &m.user);
    let mut found: Vec<User> = Vec::new();
    for user in room.online.iter().chain(speakers) {
        if found.len() == OFFERED {
            break;
        }
        let Some(handle) = &user.handle else {
            continue;
        };
        let fits = user.id != me && handle.as_str().to_lowercase().starts_with(&typed);
        if fits && !found.iter().any(|u| u.id == user.id) {
            found.push(user.clone());
        }
    }
    found
}

/// `text` with the mention being typed at its end completed to `handle`, and a space after it.
pub fn complete(text: &str, handle: &str) -> String {
    let typed = mention_at_end(text).map_or(0, str::len);
    format!("{}{handle} ", &text[..text.len() - typed])
}

/// Where the mention being typed at the end of `text` starts (its `@`), if one is.
fn mention_start(text: &str) -> Option<usize> {
    mention_at_end(text).map(|typed| text.len() - typed.len() - 1)
}

/// What the list offers now and which entry is chosen.
#[derive(Clone, Copy)]
pub struct Mentioning {
    text: Signal<String>,
    pub offered: Memo<Vec<User>>,
    pub chosen: RwSignal<usize>,
    /// Where the mention starts that Escape closed the list for: it stays closed until
    /// another mention is typed.
    closed: RwSignal<Option<usize>>,
}

impl Mentioning {
    /// The list over what `text` holds.
    pub fn new(text: Signal<String>) -> Self {
        let context = super::chat();
        let (live, me) = (context.live, context.me);
        let offered = Memo::new(move |_| {
            let text = text.get();
            let Some(typed) = mention_at_end(&text) else {
                return Vec::new();
            };
            live.chat.with(|chat| candidates(chat.current(), me, typed))
        });
        Self {
            text,
            offered,
            chosen: RwSignal::new(0),
            closed: RwSignal::new(None),
        }
    }

    pub fn is_open(self) -> bool {
        !self.offered.with(Vec::is_empty)
            && self
                .text
                .with(|text| self.closed.get() != mention_start(text))
    }

    /// A key in the box: returns the handle to complete to when the key took an entry, and
    /// whether the list used the key.
    pub fn key(self, key: &str) -> (bool, Option<String>) {
        if !untrack(|| self.is_open()) {
            return (false, None);
        }
        let count = self.offered.with_untracked(Vec::len);
        match key {
            "ArrowDown" => self.chosen.update(|i| *i = (*i + 1) % count),
            "ArrowUp" => self.chosen.update(|i| *i = (*i + count - 1) % count),
            "Escape" => self
                .closed
                .set(self.text.with_untracked(|t| mention_start(t))),
            "Tab" | "Enter" => return (true, Some(self.take(self.chosen.get_untracked()))),
            _ => return (false, None),
        }
        (true, None)
    }

    /// The handle of entry `index`.
    fn take(self, index: usize) -> String {
        self.chosen.set(0);
        self.offered.with_untracked(|offered| {
            offered
                .get(index.min(offered.len().saturating_sub(1)))
                .and_then(|u| u.handle.as_ref())
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
    }
}

/// The list, above the box; `took` completes the text to the handle clicked.
#[component]
pub fn MentionList(mentioning: Mentioning, took: Callback<String>) -> impl IntoView {
    let entries = move || {
        mentioning
            .offered
            .get()
            .into_iter()
            .enumerate()
            .map(|(i, user)| {
                let handle = user.handle.as_ref().map(|h| h.to_string()).unwrap_or_default();
                let chosen = move || mentioning.chosen.get() == i;
                let label = format!("@{handle}");
                view! {
                    <li role="option" aria-selected=move || chosen().to_string() class:chosen=chosen>
                        <button
                            type="button"
                            tabindex="-1"
                            // Before the box loses the focus to the button.
                            on:mousedown=move |ev| {
                                ev.prevent_default();
                                took.run(mentioning.take(i));
                            }
                        >
                            <b>{label}</b>
                            " "
                            {user.name.to_string()}
                        </button>
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <Show when=move || mentioning.is_open()>
            <ul class="mention-list" role="listbox" aria-label="People to mention" data-testid="mention-list">
                {entries}
            </ul>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    use super::{complete, mention_start};

    #[test]
    fn a_mention_being_typed_starts_at_its_at() {
        assert_eq!(mention_start("hi @ad"), Some(3));
        assert_eq!(mention_start("@"), Some(0));
        assert_eq!(mention_start("hi @ada and"), None);
    }

    #[test]
    fn completing_replaces_what_was_typed_of_the_handle() {
        assert_eq!(complete("hi @ad", "ada"), "hi @ada ");
        assert_eq!(complete("@", "bob"), "@bob ");
    }
}
