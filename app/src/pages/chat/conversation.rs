//! The room on screen: its banners (the connection, a gap in history, the last error), the
//! message list with the outbox below it, who is typing, and the composer.
//!
//! The list re-renders only when the room's messages change: a typing frame, a presence change
//! or a clock tick touches the chat state too, but the rows read it through [`Messages`], a memo
//! of what the list shows, so none of those rebuild or re-diff the list.

use super::composer::Composer;
use super::messages::{look, rows, MessageRow, OutboxRow, Row};
use super::{chat, ChatContext, Hydrated};
use crate::live::state::Chat;
use crate::live::{Live, Status};
use crate::pages::days::Day;
use crate::protocol::{MessageId, RoomName};
use leptos::prelude::*;

/// What the message list shows of the room on screen: which room, how many messages, and the
/// first and last id. Messages only ever arrive (live at the end, older pages at the start), so
/// any change to them changes this.
#[derive(Clone, PartialEq)]
struct Messages {
    room: RoomName,
    count: usize,
    first: Option<MessageId>,
    last: Option<MessageId>,
}

#[component]
pub fn Conversation() -> impl IntoView {
    let ChatContext {
        live,
        me,
        current,
        clock,
        no_ids,
        scroll,
        unsent,
        ..
    } = chat();
    let typing = move || {
        let now = clock.get();
        live.chat.with(|chat| {
            let typists = chat.current().typists(now);
            let names: Vec<&str> = typists.iter().map(|u| u.name.as_str()).collect();
            typing_text(&names)
        })
    };
    // Days are the reader's once the page is hydrated (UTC before, as on the server); today is
    // unknown (the clock reads 0) until then, so no label says "Today" before it is sure.
    let hydrated = use_context::<Hydrated>().map(|Hydrated(h)| h);
    let local = move || hydrated.is_some_and(|h| h.get());
    let today = Memo::new(move |_| Day::of(clock.get(), local()));
    let messages = Memo::new(move |_| {
        live.chat.with(|chat| {
            let room = chat.current();
            Messages {
                room: room.name.clone(),
                count: room.messages.len(),
                first: room.messages.keys().next().copied(),
                last: room.messages.keys().next_back().copied(),
            }
        })
    });
    let rows = move || {
        // Read, not only tracked: a memo computes (and so follows the chat) only when read.
        messages.with(|_| ());
        let local = local();
        let today = today.get();
        live.chat.with_untracked(|chat| {
            let room = chat.current();
            // A room nobody has written in shows its quiet state, with who is here: lines
            // saying who came and went beside it would contradict it.
            if room.history_end && room.is_quiet() {
                return Vec::new();
            }
            rows(room.messages.values(), local, today)
        })
    };
    let pending = Memo::new(move |_| live.chat.with(|chat| chat.pending().to_vec()));
    // Above the first message that was unread when the reader came (see `ReadMark`).
    let divider = Memo::new(move |_| live.chat.with(|chat| chat.current().read.divider));
    view! {
        <StatusBanner live />
        <Show when=move || no_ids.with(Option::is_some)>
            <div class="banner error" role="alert" data-testid="no-random-ids">
                {move || no_ids.get().unwrap_or_default()}
            </div>
        </Show>
        <div class="messages-wrap">
        <div
            class="messages"
            node_ref=scroll.list
            role="log"
            aria-live="polite"
            tabindex="0"
            aria-label=move || format!("Messages in #{}", current.get())
            data-testid="messages"
            on:scroll=move |_| scroll.scrolled(live)
        >
            <HistoryEdge live current />
            <For
                each=rows
                // A change (an edit, a deletion, a reaction) makes a new row.
                key=|row| {
                    let through = row.notice.as_ref().map(|(_, through)| *through);
                    (row.message.room.clone(), row.message.id, look(&row.message), row.grouped, row.day.clone(), through)
                }
                children=move |row| {
                    let Row { message, grouped, day, notice } = row;
                    let notice = notice.map(|(parts, _)| parts);
                    let id = message.id;
                    view! {
                        {move || (divider.get() == Some(id)).then(|| view! {
                            <div class="unread-divider" role="separator" aria-label="New messages" data-testid="unread-divider">
                                <span>"New messages"</span>
                            </div>
                        })}
                        {day.map(|label| {
                            // A separator's own text is not read out: its label is.
                            let spoken = label.clone();
                            view! {
                                <div class="day" role="separator" aria-label=spoken>
                                    <span>{label}</span>
                                </div>
                            }
                        })}
                        <MessageRow m=message me grouped notice />
                    }
                }
            />
            // Keyed by state too: an entry that changes state is drawn afresh.
            <For
                each=move || pending.get()
                key=|entry| (entry.client_id, entry.state.clone())
                children=move |entry| view! { <OutboxRow entry /> }
            />
            <Show when=move || unsent.unkept.get() && !pending.with(Vec::is_empty)>
                <p class="unkept" role="status" data-testid="unkept">
                    "Kept in this tab only until sent: the browser's storage is full or turned off, so a reload would lose them."
                </p>
            </Show>
        </div>
            <Show when=move || scroll.unseen.get()>
                <button
                    type="button"
                    class="new-messages"
                    data-testid="new-messages"
                    on:click=move |_| scroll.to_bottom()
                >
                    "New messages ↓"
                </button>
            </Show>
        </div>
        <div class="typing" data-testid="typing" aria-live="polite">{typing}</div>
        <Composer />
    }
    .into_any()
}

/// The top of the message list: where older messages load, or where the room's history begins;
/// for a room with no messages, that it is loading or that it is empty.
#[component]
fn HistoryEdge(live: Live, current: Memo<RoomName>) -> impl IntoView {
    let ChatContext { scroll, me, .. } = chat();
    let titles = super::members::titles();
    // Who else is here, for a room nobody has written in yet.
    let here = move || {
        live.chat.with(|chat| {
            let room = chat.current();
            let others: Vec<&str> = room
                .online
                .iter()
                .filter(|u| u.id != me)
                .map(|u| u.name.as_str())
                .collect();
            let unlisted = room
                .online_count
                .unwrap_or(0)
                .saturating_sub(room.online.len() as u32);
            quiet_text(&others, unlisted)
        })
    };
    #[derive(Clone, Copy, PartialEq)]
    enum Edge {
        /// Nothing to show yet: the room's messages are on their way.
        Loading,
        /// Nobody has said anything in the room (there may be notices of who came and went).
        Empty,
        Beginning,
        LoadingOlder,
        MayHaveOlder,
    }
    let edge = Memo::new(move |_| {
        live.chat.with(|chat| {
            let room = chat.current();
            let empty = room.messages.is_empty();
            let quiet = room.is_quiet();
            match (empty, room.history_end, room.loading_older) {
                (_, true, _) if quiet => Edge::Empty,
                (true, false, _) => Edge::Loading,
                (_, true, _) => Edge::Beginning,
                (_, _, true) => Edge::LoadingOlder,
                _ => Edge::MayHaveOlder,
            }
        })
    });
    view! {
        <div class="history-edge" data-testid="history-edge">
            {move || match edge.get() {
                Edge::Loading => {
                    view! {
                        <div class="room-state" role="status" data-testid="room-loading">
                            <span class="spinner" aria-hidden="true"></span>
                            <span>{format!("Loading #{}…", current.get())}</span>
                        </div>
                    }
                        .into_any()
                }
                Edge::Empty => {
                    view! {
                        <div class="room-state empty" data-testid="room-empty">
                            <p class="headline">{format!("{} is quiet", titles.label(&current.get()))}</p>
                            <p>{here}</p>
                        </div>
                    }
                        .into_any()
                }
                Edge::Beginning => {
                    view! { <span>{format!("This is the beginning of {}.", titles.label(&current.get()))}</span> }
                        .into_any()
                }
                Edge::LoadingOlder => view! { <span>"Loading older messages…"</span> }.into_any(),
                Edge::MayHaveOlder => {
                    view! {
                        <button type="button" class="older" on:click=move |_| scroll.load_older(live)>
                            "Load older messages"
                        </button>
                    }
                        .into_any()
                }
            }}
        </div>
    }
}

/// The invitation of a room nobody has written in: who else is here (`unlisted` more than
/// `names`), and that everyone who opens the room will see the first message.
fn quiet_text(names: &[&str], unlisted: u32) -> String {
    let who = match (names, unlisted) {
        ([], 0) => {
            return "No messages yet. Say hello: everyone who opens this room sees it.".to_owned()
        }
        ([], n) => format!("{n} others are"),
        ([one], 0) => format!("{one} is"),
        ([one], n) => format!("{one} and {n} more are"),
        ([rest @ .., last], 0) => format!("{} and {last} are", rest.join(", ")),
        (all, n) => format!("{} and {n} more are", all.join(", ")),
    };
    format!("No messages yet. {who} here: say hello.")
}

/// "alice is typing…", "alice and bob are typing…", "several people are typing…".
fn typing_text(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => format!("{one} is typing…"),
        [one, two] => format!("{one} and {two} are typing…"),
        _ => "Several people are typing…".to_owned(),
    }
}

/// Connection state and the last error, above the messages.
#[component]
fn StatusBanner(live: Live) -> impl IntoView {
    view! {
        <Show when=move || !live.status.with(Status::is_connected)>
            <div class="banner" role="status" data-testid="status">
                <span>{move || live.status.get().describe()}</span>
                <Show when=move || matches!(live.status.get(), Status::Waiting { .. })>
                    <button class="retry" on:click=move |_| live.retry_now()>"Retry now"</button>
                </Show>
            </div>
        </Show>
        <Show when=move || live.chat.with(|chat| chat.current().gap)>
            <div class="banner" role="status" data-testid="gap">
                "Some messages from while you were away are no longer available."
                <button class="dismiss" on:click=move |_| live.chat.update(Chat::dismiss_gap) aria-label="Dismiss">
                    "×"
                </button>
            </div>
        </Show>
        <Show when=move || live.error.with(Option::is_some)>
            <div class="banner error" role="alert" data-testid="error">
                {move || live.error.get().unwrap_or_default()}
                <button class="dismiss" on:click=move |_| live.error.set(None) aria-label="Dismiss">
                    "×"
                </button>
            </div>
        </Show>
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn typing_reads_naturally() {
        use super::typing_text;
        assert_eq!(typing_text(&[]), "");
        assert_eq!(typing_text(&["alice"]), "alice is typing…");
        assert_eq!(typing_text(&["alice", "bob"]), "alice and bob are typing…");
        assert_eq!(typing_text(&["a", "b", "c"]), "Several people are typing…");
    }

    #[test]
    fn a_quiet_room_says_who_is_here() {
        use super::quiet_text;
        assert!(quiet_text(&[], 0).starts_with("No messages yet. Say hello"));
        assert_eq!(
            quiet_text(&["ben"], 0),
            "No messages yet. ben is here: say hello."
        );
        assert_eq!(
            quiet_text(&["ben", "cy", "di"], 0),
            "No messages yet. ben, cy and di are here: say hello."
        );
        assert_eq!(
            quiet_text(&["ben"], 4),
            "No messages yet. ben and 4 more are here: say hello."
        );
        assert_eq!(
            quiet_text(&[], 2),
            "No messages yet. 2 others are here: say hello."
        );
    }
}
