//! Reactions: the chips under a message (each emoji, how many chose it, pressed when the reader
//! did; a click turns the reader's on or off) and the palette "React" opens.
//!
//! A click sends the state it wants (`react` with `on`), never a toggle: two tabs clicking at
//! once, or a frame sent again, leave the count right. The chip changes when the server's
//! `reacted` record comes back, as it does for everyone else.

use super::chat;
use crate::protocol::{MessageId, Reaction, UserId};
use leptos::prelude::*;

/// The reactions the palette offers, with the name each is read out and shown by.
pub const PALETTE: [(&str, &str); 6] = [
    ("👍", "thumbs up"),
    ("❤️", "heart"),
    ("😂", "laughing"),
    ("🎉", "party"),
    ("😮", "surprised"),
    ("😢", "sad"),
];

/// How many names a chip's tooltip lists before "and N more".
const NAMED: usize = 8;

/// Who reacted, for a chip's tooltip and its accessible name: "ana, ben and 3 more".
pub fn who(reaction: &Reaction, me: UserId) -> String {
    let mut names: Vec<String> = reaction
        .users
        .iter()
        .take(NAMED)
        .map(|u| match u.id == me {
            true => "you".to_owned(),
            false => u.name.to_string(),
        })
        .collect();
    let more = reaction.users.len().saturating_sub(NAMED);
    if more > 0 {
        names.push(format!("{more} more"));
    }
    match names.len() {
        0 => String::new(),
        1 => names.remove(0),
        n => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

/// The chips of a message's reactions.
#[component]
pub fn Reactions(id: MessageId, reactions: Vec<Reaction>) -> impl IntoView {
    let context = chat();
    let (live, me) = (context.live, context.me);
    let chips = reactions
        .into_iter()
        .map(|reaction| {
            let mine = reaction.users.iter().any(|u| u.id == me);
            let count = reaction.users.len();
            let visible = format!("{} {count}", reaction.emoji);
            let label = format!("{visible}: {}", who(&reaction, me));
            let emoji = reaction.emoji.to_string();
            view! {
                <button
                    type="button"
                    class="reaction"
                    class:mine=mine
                    aria-pressed=mine.to_string()
                    aria-label=label.clone()
                    title=label
                    on:click=move |_| {
                        live.react(id, &emoji, !mine);
                    }
                >
                    {visible}
                </button>
            }
        })
        .collect_view();
    view! { <div class="reactions" data-testid="reactions">{chips}</div> }
}

/// The emoji to react with; a choice turns the reader's reaction on (or leaves it on) and
/// closes the palette, and so does Escape.
#[component]
pub fn Palette(id: MessageId, picking: RwSignal<bool>) -> impl IntoView {
    let live = chat().live;
    let group = NodeRef::<leptos::html::Div>::new();
    // The first choice takes the focus, so the keyboard goes on from the button that opened it.
    Effect::new(move |_| {
        if let Some(first) = group.get().and_then(|g| g.first_element_child()) {
            super::focus(&first);
        }
    });
    let choices = PALETTE
        .iter()
        .map(|(emoji, name)| {
            view! {
                <button
                    type="button"
                    title=*name
                    on:click=move |_| {
                        picking.set(false);
                        live.react(id, emoji, true);
                    }
                >
                    {*emoji}
                </button>
            }
        })
        .collect_view();
    view! {
        <div
            class="palette"
            node_ref=group
            role="group"
            aria-label="Reactions"
            on:keydown=move |ev| {
                if ev.key() == "Escape" {
                    picking.set(false);
                }
            }
        >
            {choices}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::who;
    use crate::protocol::{Emoji, Reaction, User, UserId, UserName};

    fn user(n: u128, name: &str) -> User {
        User {
            id: UserId(uuid::Uuid::from_u128(n)),
            name: UserName::parse(name).unwrap(),
            handle: None,
        }
    }

    #[test]
    fn a_chip_says_who_reacted() {
        let reaction = |users| Reaction {
            emoji: Emoji::parse("👍").unwrap(),
            users,
        };
        let me = UserId(uuid::Uuid::from_u128(1));
        assert_eq!(who(&reaction(vec![user(1, "me")]), me), "you");
        assert_eq!(
            who(&reaction(vec![user(2, "ana"), user(1, "me")]), me),
            "ana and you"
        );
        let crowd = (2..14).map(|n| user(n, &format!("u{n}"))).collect();
        assert_eq!(
            who(&reaction(crowd), me),
            "u2, u3, u4, u5, u6, u7, u8, u9 and 4 more"
        );
    }
}
