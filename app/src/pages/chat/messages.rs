//! One message as the list shows it ([`MessageRow`]), one the server has not confirmed yet
//! ([`OutboxRow`]), and how the list groups them: under a day's separator, and without the
//! sender's name when a message continues their turn ([`rows`]).

use super::{chat, Hydrated};
use crate::live::outbox::{Entry, State, MAX_ATTEMPTS};
use crate::pages::days::Day;
use crate::protocol::{ChatMessage, MessageKind, UserId};
use leptos::prelude::*;

/// A message as the list shows it: under its day's separator if it is the first of its day, and
/// without its sender's name if it continues their turn.
#[derive(Clone)]
pub struct Row {
    pub message: ChatMessage,
    pub grouped: bool,
    /// The label of the day it starts.
    pub day: Option<String>,
}

pub fn rows<'a>(
    messages: impl Iterator<Item = &'a ChatMessage>,
    local: bool,
    today: Day,
) -> Vec<Row> {
    let mut previous: Option<(&ChatMessage, Day)> = None;
    messages
        .map(|m| {
            let day = Day::of(m.at, local);
            let new_day = previous.is_none_or(|(_, d)| d != day);
            let grouped = !new_day && previous.is_some_and(|(p, _)| continues(p, m));
            previous = Some((m, day));
            Row {
                message: m.clone(),
                grouped,
                day: new_day.then(|| day.label(today)),
            }
        })
        .collect()
}

/// A message the server has not confirmed: sending, retrying, or failed with the reason and
/// what the user can do about it.
#[component]
pub fn OutboxRow(entry: Entry) -> impl IntoView {
    let live = chat().live;
    let client_id = entry.client_id;
    match entry.state {
        State::Sending => view! {
            <div class="msg mine pending" data-testid="pending">
                <span class="text">{entry.text}</span>
                <span class="at">"sending…"</span>
            </div>
        }
        .into_any(),
        // Slowed down (or behind one that was): waiting its turn, not failing.
        State::Retrying {
            attempt: 0, reason, ..
        } => view! {
            <div class="msg mine pending waiting" data-testid="pending" title=reason>
                <span class="text">{entry.text}</span>
                <span class="at">"waiting…"</span>
            </div>
        }
        .into_any(),
        State::Retrying {
            attempt, reason, ..
        } => view! {
            <div
                class="msg mine pending retrying"
                data-testid="pending"
                title=format!("{reason} (attempt {attempt} of {MAX_ATTEMPTS} refused)")
            >
                <span class="text">{entry.text}</span>
                <span class="at">"retrying…"</span>
            </div>
        }
        .into_any(),
        State::Failed { reason } => view! {
            <div class="msg mine failed" data-testid="failed">
                <span class="text">{entry.text}</span>
                <span class="at">"not sent"</span>
                <div class="failure">
                    <span class="reason" data-testid="failed-reason">{reason}</span>
                    <span class="actions">
                        <button
                            type="button"
                            data-testid="retry-send"
                            on:click=move |_| live.retry_send(client_id)
                        >
                            "Retry"
                        </button>
                        <button
                            type="button"
                            class="secondary"
                            data-testid="discard-send"
                            on:click=move |_| live.discard_send(client_id)
                        >
                            "Discard"
                        </button>
                    </span>
                </div>
            </div>
        }
        .into_any(),
    }
}

/// Who a join or leave notice is about: "alice", "alice and bob", "alice, bob and 12 others".
fn who(m: &ChatMessage) -> String {
    let Some(others) = &m.others else {
        return m.user.name.to_string();
    };
    let mut names: Vec<&str> = std::iter::once(m.user.name.as_str())
        .chain(others.users.iter().map(|u| u.name.as_str()))
        .collect();
    let last = match others.more {
        0 => names.pop().unwrap_or_default().to_owned(),
        1 => "1 other".to_owned(),
        more => format!("{more} others"),
    };
    if names.is_empty() {
        last
    } else {
        format!("{} and {last}", names.join(", "))
    }
}

/// A message's text with its web addresses as links that open in a new tab without giving the
/// new page a handle on this one.
fn linked(text: &str) -> Vec<AnyView> {
    crate::pages::links::pieces(text)
        .into_iter()
        .map(|piece| match piece {
            crate::pages::links::Piece::Text(text) => text.to_owned().into_any(),
            crate::pages::links::Piece::Link(url) => view! {
                <a href=url.to_owned() target="_blank" rel="noopener noreferrer">{url.to_owned()}</a>
            }
            .into_any(),
        })
        .collect()
}

/// Whether `next` continues `previous`'s turn: the same person talking, within a few minutes, so
/// it is shown without repeating their name.
fn continues(previous: &ChatMessage, next: &ChatMessage) -> bool {
    const TURN_MS: u64 = 5 * 60 * 1000;
    let talk = |m: &ChatMessage| matches!(m.kind, MessageKind::Text | MessageKind::Me);
    talk(previous)
        && talk(next)
        && previous.user.id == next.user.id
        && next.at.saturating_sub(previous.at) < TURN_MS
}

#[component]
pub fn MessageRow(m: ChatMessage, me: UserId, grouped: bool) -> impl IntoView {
    let at = m.at;
    let hydrated = use_context::<Hydrated>();
    let mine = m.user.id == me;
    let class = match (m.kind, mine) {
        (MessageKind::Join | MessageKind::Leave, _) => "msg notice",
        (MessageKind::Me, true) => "msg action mine",
        (MessageKind::Me, false) => "msg action",
        (MessageKind::Text, true) => "msg mine",
        (MessageKind::Text, false) => "msg",
    };
    let name = m.user.name.to_string();
    let body = match m.kind {
        MessageKind::Text => view! {
            <span class="author">{name}</span>
            <span class="text">{linked(&m.text)}</span>
        }
        .into_any(),
        MessageKind::Me => {
            view! { <span class="text">"* " {name} " " {linked(&m.text)}</span> }.into_any()
        }
        MessageKind::Join => view! { <span class="text">{who(&m)} " joined"</span> }.into_any(),
        MessageKind::Leave => view! { <span class="text">{who(&m)} " left"</span> }.into_any(),
    };
    view! {
        <div class=class class:grouped=grouped data-id=m.id.to_string() data-kind=m.kind.as_str()>
            {body}
            <time class="at">
                {move || {
                    if let Some(Hydrated(hydrated)) = hydrated {
                        hydrated.track();
                    }
                    crate::live::clock_time(at)
                }}
            </time>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::who;
    use crate::protocol::{ChatMessage, MessageKind, Others, RoomName, User, UserId, UserName};

    fn notice(names: &[&str], more: u32) -> ChatMessage {
        let user = |name: &str| User {
            id: UserId(uuid::Uuid::nil()),
            name: UserName::parse(name).unwrap(),
        };
        ChatMessage {
            id: "1-0".parse().unwrap(),
            room: RoomName::lobby(),
            user: user(names[0]),
            text: String::new(),
            kind: MessageKind::Join,
            at: 1,
            client_id: None,
            others: (names.len() > 1 || more > 0).then(|| Others {
                users: names[1..].iter().map(|n| user(n)).collect(),
                more,
            }),
        }
    }

    #[test]
    fn notices_name_a_crowd_briefly() {
        assert_eq!(who(&notice(&["alice"], 0)), "alice");
        assert_eq!(who(&notice(&["alice", "bob"], 0)), "alice and bob");
        assert_eq!(
            who(&notice(&["alice", "bob", "carol"], 0)),
            "alice, bob and carol"
        );
        assert_eq!(who(&notice(&["alice", "bob"], 1)), "alice, bob and 1 other");
        assert_eq!(
            who(&notice(&["alice", "bob"], 12)),
            "alice, bob and 12 others"
        );
    }
}
