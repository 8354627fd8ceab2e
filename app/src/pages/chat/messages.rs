//! One message as the list shows it ([`MessageRow`]), one the server has not confirmed yet
//! ([`OutboxRow`]), and how the list groups them: under a day's separator, and without the
//! sender's name when a message continues their turn ([`rows`]).

use super::{chat, Hydrated};
use crate::live::outbox::{Entry, State, MAX_ATTEMPTS};
use crate::pages::days::Day;
use crate::protocol::{
    mentions_handle, ChatMessage, Handle, MessageId, MessageKind, Quote, UserId,
};
use leptos::prelude::*;

/// A message as the list shows it: under its day's separator if it is the first of its day, and
/// without its sender's name if it continues their turn. Notices of who came and went that
/// follow each other with nobody speaking between them fold into one row.
#[derive(Clone)]
pub struct Row {
    pub message: ChatMessage,
    pub grouped: bool,
    /// The label of the day it starts.
    pub day: Option<String>,
    /// For a row of notices: what it says ("ana and ben joined", "cy left"), and the last
    /// notice folded into it (so the row is drawn afresh when it grows).
    pub notice: Option<(Vec<Said>, MessageId)>,
}

/// One part of a row of notices: who (`"ana and ben"`) did what (`"joined"` or `"left"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Said {
    pub who: String,
    pub verb: &'static str,
}

pub fn rows<'a>(
    messages: impl Iterator<Item = &'a ChatMessage>,
    local: bool,
    today: Day,
) -> Vec<Row> {
    let mut rows: Vec<(Row, Option<Fold>)> = Vec::new();
    let mut previous: Option<(&ChatMessage, Day)> = None;
    for m in messages.filter(|m| m.is_shown()) {
        let day = Day::of(m.at, local);
        let new_day = previous.is_none_or(|(_, d)| d != day);
        let notice = !m.kind.is_said();
        if let (false, true, Some((_, Some(fold)))) = (new_day, notice, rows.last_mut()) {
            fold.add(m);
            previous = Some((m, day));
            continue;
        }
        let grouped = !new_day && previous.is_some_and(|(p, _)| continues(p, m));
        previous = Some((m, day));
        let row = Row {
            message: m.clone(),
            grouped,
            day: new_day.then(|| day.label(today)),
            notice: None,
        };
        rows.push((row, notice.then(|| Fold::new(m))));
    }
    rows.into_iter()
        .filter_map(|(mut row, fold)| {
            if let Some(fold) = fold {
                // Everyone in it came back or went again: the row has nothing to say.
                row.notice = Some((fold.text()?, fold.through));
            }
            Some(row)
        })
        .collect()
}

/// Notices in a row, folded: each person once, as they stand at the end. Someone who left and
/// came back between two messages was never away for the reader, so they are not named.
struct Fold {
    /// Everyone the notices name, in the order they first appear.
    people: Vec<Person>,
    /// Notices folded so far.
    count: usize,
    /// Unnamed people in crowd notices: joined, left.
    more: (u32, u32),
    /// The last notice folded in.
    through: MessageId,
}

/// One person in a [`Fold`].
struct Person {
    id: UserId,
    name: String,
    /// Here at the end of the fold (their last notice was a join).
    here: bool,
    /// Their first notice in the fold was a leave.
    left_first: bool,
    /// When they last came or went: the count of the fold's notices by then.
    last: usize,
}

impl Fold {
    fn new(first: &ChatMessage) -> Self {
        let mut fold = Fold {
            people: Vec::new(),
            count: 0,
            more: (0, 0),
            through: first.id,
        };
        fold.add(first);
        fold
    }

    fn add(&mut self, m: &ChatMessage) {
        let joined = m.kind == MessageKind::Join;
        let users = std::iter::once(&m.user).chain(m.others.iter().flat_map(|o| &o.users));
        self.count += 1;
        for user in users {
            match self.people.iter_mut().find(|p| p.id == user.id) {
                Some(person) => {
                    person.here = joined;
                    person.last = self.count;
                }
                None => self.people.push(Person {
                    id: user.id,
                    name: user.name.to_string(),
                    here: joined,
                    left_first: !joined,
                    last: self.count,
                }),
            }
        }
        let more = m.others.as_ref().map_or(0, |o| o.more);
        if joined {
            self.more.0 += more;
        } else {
            self.more.1 += more;
        }
        self.through = m.id;
    }

    fn text(&self) -> Option<Vec<Said>> {
        // The latest first: in a long fold, the names worth reading are of those who just
        // came or went.
        let named = |here: bool| -> Vec<&str> {
            let mut people: Vec<&Person> = self
                .people
                .iter()
                // Left, then back: not news.
                .filter(|p| p.here == here && !(here && p.left_first))
                .collect();
            people.sort_by_key(|p| std::cmp::Reverse(p.last));
            people.into_iter().map(|p| p.name.as_str()).collect()
        };
        let parts: Vec<Said> = [
            (named(true), self.more.0, "joined"),
            (named(false), self.more.1, "left"),
        ]
        .into_iter()
        .filter_map(|(names, more, verb)| {
            Some(Said {
                who: people(&names, more)?,
                verb,
            })
        })
        .collect();
        (!parts.is_empty()).then_some(parts)
    }
}

/// At most this many people are named in one row of notices; the rest are counted.
const NAMED: usize = 5;

/// "alice", "alice and bob", "alice, bob and 12 others"; None for nobody.
fn people(names: &[&str], more: u32) -> Option<String> {
    let (named, beyond) = names.split_at(names.len().min(NAMED));
    let more = more + beyond.len() as u32;
    let mut named: Vec<&str> = named.to_vec();
    let last = match more {
        0 => named.pop()?.to_owned(),
        1 => "1 other".to_owned(),
        more => format!("{more} others"),
    };
    Some(if named.is_empty() {
        last
    } else {
        format!("{} and {last}", named.join(", "))
    })
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

/// A message's text with its web addresses as links that open in a new tab without giving the
/// new page a handle on this one, and its mentions marked (the reader's own stand out).
fn linked(text: &str, me: Option<&Handle>) -> Vec<AnyView> {
    crate::pages::links::pieces(text)
        .into_iter()
        .map(|piece| match piece {
            crate::pages::links::Piece::Text(text) => text.to_owned().into_any(),
            crate::pages::links::Piece::Mention(named) => {
                let mine = me.is_some_and(|me| mentions_handle(named, me));
                view! { <span class="mention" class:me=mine>{named.to_owned()}</span> }.into_any()
            }
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
    previous.kind.is_said()
        && next.kind.is_said()
        && previous.user.id == next.user.id
        && next.at.saturating_sub(previous.at) < TURN_MS
}

#[component]
pub fn MessageRow(
    m: ChatMessage,
    me: UserId,
    grouped: bool,
    /// What a row of notices says (see [`Row::notice`]).
    notice: Option<Vec<Said>>,
) -> impl IntoView {
    let at = m.at;
    let hydrated = use_context::<Hydrated>();
    let mine = m.user.id == me;
    let handle = use_context::<super::ChatContext>().and_then(|c| c.handle.get_value());
    let for_me = !mine && super::alerts::mentions_me(&m, handle.as_ref());
    let class = match (m.kind, mine) {
        _ if m.deleted && mine => "msg deleted mine",
        _ if m.deleted => "msg deleted",
        // A record is never a row (see `rows`).
        (MessageKind::Join | MessageKind::Leave, _) => "msg notice",
        (kind, _) if kind.is_record() => "msg notice",
        (MessageKind::Me, true) => "msg action mine",
        (MessageKind::Me, false) => "msg action",
        (_, true) => "msg mine",
        (_, false) => "msg",
    };
    let name = m.user.name.to_string();
    let edited = m.edited.map(|id| {
        let when = format!("Edited at {}", crate::live::clock_time(id.at()));
        view! { <span class="edited" title=when>" (edited)"</span> }
    });
    let quote = m
        .reply
        .as_deref()
        .cloned()
        .map(|quote| view! { <QuoteOf quote /> });
    let body = match m.kind {
        _ if m.deleted => view! {
            <span class="author">{name} " " <super::people::Badge user=m.user.clone() /></span>
            <span class="gone">"Message deleted"</span>
        }
        .into_any(),
        MessageKind::Me => view! {
            {quote}
            <span class="text">"* " {name} " " {linked(&m.text, handle.as_ref())} {edited}</span>
        }
        .into_any(),
        kind if kind.is_said() => view! {
            <span class="author">{name} " " <super::people::Badge user=m.user.clone() /></span>
            {quote}
            <span class="text">{linked(&m.text, handle.as_ref())} {edited}</span>
        }
        .into_any(),
        _ => {
            let parts = notice
                .unwrap_or_default()
                .into_iter()
                .enumerate()
                .map(|(i, said)| {
                    let Said { who, verb } = said;
                    view! { {(i > 0).then_some(", ")}<span class=verb>{who} " " {verb}</span> }
                });
            view! { <span class="text">{parts.collect_view()}</span> }.into_any()
        }
    };
    let reactions = (!m.reactions.is_empty()).then(|| {
        view! { <super::reactions::Reactions id=m.id reactions=m.reactions.clone() /> }
    });
    // Not on a deleted message's mark: there is nothing left to do with it.
    let actions = m
        .is_said()
        .then(|| view! { <super::actions::Actions m=m.clone() mine /> });
    view! {
        <div class=class class:grouped=grouped class:for-me=for_me data-id=m.id.to_string() data-kind=m.kind.as_str()>
            {body}
            <time class="at">
                {move || {
                    if let Some(Hydrated(hydrated)) = hydrated {
                        hydrated.track();
                    }
                    crate::live::clock_time(at)
                }}
            </time>
            {reactions}
            {actions}
        </div>
    }
}

/// What a reply answers, above its text: a click goes to the original (loading older history
/// until it is there).
#[component]
fn QuoteOf(quote: Quote) -> impl IntoView {
    let context = chat();
    let id = quote.id;
    let author = quote.user.name.to_string();
    let said = match quote.deleted {
        true => view! { <span class="gone">"Message deleted"</span> }.into_any(),
        false => view! { <span class="quoted">{quote.text.clone()}</span> }.into_any(),
    };
    view! {
        <button
            type="button"
            class="quote"
            title="Go to the message it answers"
            on:click=move |_| context.scroll.seek(id)
        >
            "Replying to " <b>{author}</b> " " {said}
        </button>
    }
}

/// What makes a row look different from how it was drawn: a change makes it new (see the list's
/// keys in `super::conversation`).
pub fn look(m: &ChatMessage) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    m.deleted.hash(&mut hasher);
    m.edited.hash(&mut hasher);
    for reaction in &m.reactions {
        reaction.emoji.hash(&mut hasher);
        for user in &reaction.users {
            user.id.hash(&mut hasher);
        }
    }
    if let Some(quote) = &m.reply {
        (quote.deleted, &quote.text).hash(&mut hasher);
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::{rows, Row};
    use crate::pages::days::Day;
    use crate::protocol::{
        ChatMessage, Draft, MessageId, MessageKind, Others, RoomName, User, UserId, UserName,
    };

    fn user(name: &str) -> User {
        User {
            id: UserId(uuid::Uuid::from_u128(name.bytes().map(u128::from).sum())),
            name: UserName::parse(name).unwrap(),
            handle: None,
        }
    }

    fn message(id: u64, kind: MessageKind, names: &[&str], more: u32) -> ChatMessage {
        let draft = Draft {
            others: (names.len() > 1 || more > 0).then(|| Others {
                users: names[1..].iter().map(|n| user(n)).collect(),
                more,
            }),
            ..Draft::new(user(names[0]), kind, "hi")
        };
        draft.into_message(RoomName::lobby(), MessageId { ms: id, seq: 0 })
    }

    fn said(list: &[ChatMessage]) -> Vec<String> {
        rows(list.iter(), false, Day::of(0, false))
            .into_iter()
            .map(
                |Row {
                     message, notice, ..
                 }| match notice {
                    Some((parts, _)) => parts
                        .iter()
                        .map(|p| format!("{} {}", p.who, p.verb))
                        .collect::<Vec<_>>()
                        .join(", "),
                    None => message.text,
                },
            )
            .collect()
    }

    use MessageKind::{Join, Leave, Text};

    #[test]
    fn notices_name_a_crowd_briefly() {
        let one = |names: &[&str], more| said(&[message(1, Join, names, more)]);
        assert_eq!(one(&["alice"], 0), ["alice joined"]);
        assert_eq!(one(&["alice", "bob"], 0), ["alice and bob joined"]);
        assert_eq!(
            one(&["alice", "bob", "carol"], 0),
            ["alice, bob and carol joined"]
        );
        assert_eq!(one(&["alice", "bob"], 1), ["alice, bob and 1 other joined"]);
        assert_eq!(
            one(&["alice", "bob"], 12),
            ["alice, bob and 12 others joined"]
        );
        assert_eq!(
            one(&["a", "b", "c", "d", "e", "f", "g"], 0),
            ["a, b, c, d, e and 2 others joined"]
        );
        let many: Vec<ChatMessage> = ["a", "b", "c", "d", "e", "f", "g"]
            .iter()
            .enumerate()
            .map(|(i, name)| message(i as u64 + 1, Join, &[name], 0))
            .collect();
        assert_eq!(
            said(&many),
            ["g, f, e, d, c and 2 others joined"],
            "the latest named"
        );
    }

    #[test]
    fn notices_in_a_row_fold_into_one_and_someone_back_before_anyone_spoke_was_never_away() {
        let cases: [(&[ChatMessage], &[&str]); 2] = [
            (
                &[
                    message(1, Join, &["ana"], 0),
                    message(2, Join, &["ben"], 0),
                    message(3, Leave, &["cy"], 0),
                    message(4, Text, &["ana"], 0),
                    message(5, Leave, &["ben"], 0),
                ],
                &["ben and ana joined, cy left", "hi", "ben left"],
            ),
            (
                &[
                    message(1, Text, &["ana"], 0),
                    message(2, Leave, &["ben"], 0),
                    message(3, Join, &["ben"], 0),
                    message(4, Join, &["cy"], 0),
                ],
                &["hi", "cy joined"],
            ),
        ];
        for (list, expected) in cases {
            assert_eq!(said(list), expected);
        }
        let back = [
            message(1, Leave, &["ben"], 0),
            message(2, Join, &["ben"], 0),
        ];
        assert_eq!(said(&back), Vec::<String>::new(), "nothing to say: no row");
        let went = [
            message(1, Join, &["ben"], 0),
            message(2, Leave, &["ben"], 0),
        ];
        assert_eq!(said(&went), ["ben left"]);
    }
}
