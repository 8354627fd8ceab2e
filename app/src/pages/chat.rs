//! The chat page: header, message list, composer. Its live state comes from [`crate::live`].

use crate::auth::Logout;
use crate::live::outbox::{Entry, State, MAX_ATTEMPTS};
use crate::live::{new_client_id, Live, Status};
use crate::protocol::{ChatMessage, MessageKind, RoomName, User, UserId, MAX_TEXT_CHARS};
use leptos::html::Div;
use leptos::prelude::*;

#[component]
pub fn ChatPage(user: User, instance: String, logout: ServerAction<Logout>) -> impl IntoView {
    let room = RoomName::lobby();
    let live = Live::new(room.clone());
    // Effects run only in the browser: the socket opens after hydration, never during SSR.
    Effect::new(move |_| live.open());
    on_cleanup(move || live.close());
    // Back online: do not wait for the backoff.
    let online = window_event_listener(leptos::ev::online, move |_| live.retry_now());
    on_cleanup(move || online.remove());

    let me = user.id;
    let list = NodeRef::<Div>::new();
    // Keep the newest message in view.
    Effect::new(move |_| {
        live.messages.track();
        if let Some(el) = list.get() {
            el.set_scroll_top(el.scroll_height());
        }
    });

    // Set when this browser cannot make random message ids: then nothing may be sent (see
    // `NoRandomIds`). Checked up front so the user learns it before typing, not after.
    let no_ids = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if let Err(e) = new_client_id() {
            no_ids.set(Some(e.to_string()));
        }
    });

    let draft = RwSignal::new(String::new());
    let send = move || {
        let text = draft.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        match new_client_id() {
            Ok(client_id) => {
                if live.send(&text, client_id) {
                    draft.set(String::new());
                }
            }
            // The draft stays in the composer: nothing was sent.
            Err(e) => no_ids.set(Some(e.to_string())),
        }
    };

    view! {
        <div class="chat">
            <header class="chat-header">
                <div class="room">
                    <span class="brand">"Switchboard"</span>
                    <span class="room-name">"#" {room.to_string()}</span>
                </div>
                <div class="who">
                    <span class="me" data-testid="me">{user.name.to_string()}</span>
                    <span class="instance" title="The instance your live connection is on">
                        <span class=move || format!("dot {}", live.status.get().css())></span>
                        <span data-testid="socket-instance">
                            {move || live.instance.get().unwrap_or_else(|| "…".to_owned())}
                        </span>
                    </span>
                    <ActionForm action=logout attr:class="logout">
                        <button type="submit">"Log out"</button>
                    </ActionForm>
                </div>
            </header>
            <StatusBanner live />
            <Show when=move || no_ids.with(Option::is_some)>
                <div class="banner error" role="alert" data-testid="no-random-ids">
                    {move || no_ids.get().unwrap_or_default()}
                </div>
            </Show>
            <div class="messages" node_ref=list role="log" aria-live="polite" data-testid="messages">
                <For
                    each=move || live.messages.get().into_values()
                    key=|m| m.id
                    children=move |m| view! { <MessageRow m me /> }
                />
                // Keyed by state too: an entry that changes state is drawn afresh.
                <For
                    each=move || live.outbox.with(|outbox| outbox.entries().to_vec())
                    key=|entry| (entry.client_id, entry.state.clone())
                    children=move |entry| view! { <OutboxRow entry live /> }
                />
            </div>
            <form
                class="composer"
                on:submit=move |ev| {
                    ev.prevent_default();
                    send();
                }
            >
                <textarea
                    data-testid="composer"
                    rows="1"
                    maxlength=MAX_TEXT_CHARS
                    placeholder="Message #lobby"
                    title="Enter sends, Shift+Enter starts a new line, /me for actions"
                    prop:value=move || draft.get()
                    on:input=move |ev| draft.set(event_target_value(&ev))
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
                        no_ids.with(Option::is_some) || draft.with(|d| d.trim().is_empty())
                    }
                >
                    "Send"
                </button>
            </form>
            <p class="served-by">"Page served by " <code data-testid="page-instance">{instance}</code></p>
        </div>
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
        <Show when=move || live.gap.get()>
            <div class="banner" role="status" data-testid="gap">
                "Some messages from while you were away are no longer available."
                <button class="dismiss" on:click=move |_| live.gap.set(false) aria-label="Dismiss">
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

/// A message the server has not confirmed: sending, retrying, or failed with the reason and
/// what the user can do about it.
#[component]
fn OutboxRow(entry: Entry, live: Live) -> impl IntoView {
    let client_id = entry.client_id;
    match entry.state {
        State::Sending => view! {
            <div class="msg mine pending" data-testid="pending">
                <span class="text">{entry.text}</span>
                <span class="at">"sending…"</span>
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

#[component]
fn MessageRow(m: ChatMessage, me: UserId) -> impl IntoView {
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
            <span class="text">{m.text}</span>
        }
        .into_any(),
        MessageKind::Me => view! { <span class="text">"* " {name} " " {m.text}</span> }.into_any(),
        MessageKind::Join => view! { <span class="text">{who(&m)} " joined"</span> }.into_any(),
        MessageKind::Leave => view! { <span class="text">{who(&m)} " left"</span> }.into_any(),
    };
    view! {
        <div class=class data-id=m.id.to_string() data-kind=m.kind.as_str()>
            {body}
            <time class="at">{crate::live::clock_time(m.at)}</time>
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
