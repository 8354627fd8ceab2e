//! What a room's moderators have beside the member list: the topic, the people the room bans
//! (with "Unban"), and the moderation log. The calls are in [`crate::conversations`]; the
//! server checks every one of them, so what is offered here is a convenience, never the rule.

use super::members::{call, unfolding};
use super::ChatContext;
use crate::conversations::{moderation_log, set_topic, unban, LogLine, MAX_TOPIC_CHARS};
use crate::live::{clock_time, now_ms};
use crate::pages::days::Day;
use crate::protocol::{RoomName, User};
use leptos::prelude::*;

/// The topic, and for a moderator a form that sets it.
#[component]
pub fn Topic(
    topic: Signal<String>,
    moderates: Signal<bool>,
    /// Told when the topic changed, to read the room again.
    changed: Callback<()>,
    problem: RwSignal<Option<String>>,
) -> impl IntoView {
    let ChatContext { current, .. } = super::chat();
    let draft = RwSignal::new(String::new());
    // Said once the server took it, until the next keystroke.
    let saved = RwSignal::new(false);
    // The form starts from the topic the room has, and follows it until the reader types.
    Effect::new(move |_| draft.set(topic.get()));
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = set_topic(current.get_untracked(), draft.get_untracked());
        call(problem, request, move |_| {
            problem.set(None);
            saved.set(true);
            changed.run(());
        });
    };
    view! {
        <Show
            when=move || moderates.get()
            fallback=move || {
                view! {
                    <Show when=move || topic.with(|t| !t.is_empty())>
                        <p class="topic" data-testid="topic">{move || topic.get()}</p>
                    </Show>
                }
            }
        >
            <form class="set-topic" on:submit=save data-testid="set-topic">
                <label for="room-topic">"Topic"</label>
                <div class="join-row">
                    <input
                        id="room-topic"
                        maxlength=MAX_TOPIC_CHARS.to_string()
                        autocomplete="off"
                        placeholder="What this room is for"
                        prop:value=move || draft.get()
                        on:input=move |ev| {
                            saved.set(false);
                            draft.set(event_target_value(&ev));
                        }
                    />
                    <button type="submit">"Set"</button>
                </div>
                <p class="muted" role="status">{move || saved.get().then_some("Topic set.")}</p>
            </form>
        </Show>
    }
    .into_any()
}

/// The people the room bans, each with "Unban" (shown to moderators, who alone get the list).
#[component]
pub fn Banned(
    banned: Signal<Vec<User>>,
    changed: Callback<()>,
    problem: RwSignal<Option<String>>,
) -> impl IntoView {
    let ChatContext { current, .. } = super::chat();
    view! {
        <Show when=move || banned.with(|b| !b.is_empty())>
            <h3>"Banned"</h3>
            <ul data-testid="banned">
                <For
                    each=move || banned.get()
                    key=|user| user.id
                    children=move |user| {
                        let id = user.id;
                        let label = format!("Unban {}", user.name);
                        let lift = move |_| {
                            call(problem, unban(current.get_untracked(), id), move |()| {
                                problem.set(None);
                                changed.run(());
                            });
                        };
                        view! {
                            <li>
                                <span class="member-name">{user.name.to_string()}</span>
                                " "
                                <super::people::Badge user=user.clone() />
                                <span class="member-actions">
                                    <button type="button" on:click=lift aria-label=label>
                                        "Unban"
                                    </button>
                                </span>
                            </li>
                        }
                    }
                />
            </ul>
        </Show>
    }
    .into_any()
}

/// The moderation log, read when opened (and again each time).
#[component]
pub fn Log(room: Signal<RoomName>) -> impl IntoView {
    let show = |lines: Vec<LogLine>| {
        let today = Day::of(now_ms(), true);
        view! {
            <ol data-testid="moderation-log">
                {lines
                    .into_iter()
                    .map(|line| {
                        let at = format!(
                            "{}, {}",
                            Day::of(line.at_ms, true).label(today),
                            clock_time(line.at_ms),
                        );
                        view! {
                            <li>
                                <span>{said(&line)}</span>
                                " "
                                <span class="muted">{at}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ol>
        }
    };
    let load = move || moderation_log(room.get_untracked());
    unfolding(
        "moderation-log",
        "Moderation log",
        "Nothing yet.",
        load,
        show,
    )
    .into_any()
}

/// A log line in words: "ada banned bo".
fn said(line: &LogLine) -> String {
    let name = |user: &Option<User>| match user {
        Some(user) => match &user.handle {
            Some(handle) => format!("{} (@{handle})", user.name),
            None => user.name.to_string(),
        },
        None => "a deleted account".to_owned(),
    };
    let actor = name(&line.actor);
    let target = name(&line.target);
    let detail = line.detail.clone().unwrap_or_default();
    match line.action.as_str() {
        "delete_message" => format!("{actor} deleted a message"),
        "remove_member" => format!("{actor} removed {target}"),
        "ban" => format!("{actor} banned {target}"),
        "unban" => format!("{actor} lifted the ban on {target}"),
        "topic" if detail.is_empty() => format!("{actor} cleared the topic"),
        "topic" => format!("{actor} set the topic to “{detail}”"),
        "role" => format!("{actor} made {target} {detail}"),
        other => format!("{actor}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::said;
    use crate::conversations::LogLine;
    use crate::protocol::{Handle, User, UserId, UserName};

    fn person(name: &str) -> Option<User> {
        Some(User {
            id: UserId(uuid::Uuid::from_u128(name.bytes().map(u128::from).sum())),
            name: UserName::parse(name).unwrap(),
            handle: Some(Handle::parse(name).unwrap()),
        })
    }

    #[test]
    fn a_log_line_says_who_did_what_to_whom() {
        let line = |action: &str, target, detail: Option<&str>| LogLine {
            actor: person("ada"),
            action: action.to_owned(),
            target,
            detail: detail.map(str::to_owned),
            at_ms: 0,
        };
        assert_eq!(
            said(&line("ban", person("bo"), None)),
            "ada (@ada) banned bo (@bo)"
        );
        assert_eq!(
            said(&line("role", person("cy"), Some("moderator"))),
            "ada (@ada) made cy (@cy) moderator"
        );
        assert_eq!(
            said(&line("topic", None, Some("Plans"))),
            "ada (@ada) set the topic to “Plans”"
        );
        assert_eq!(
            said(&line("remove_member", None, None)),
            "ada (@ada) removed a deleted account"
        );
    }
}
