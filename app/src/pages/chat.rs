//! The chat page: header, message list, composer. Its live state comes from [`crate::live`].

use crate::auth::Logout;
use crate::live::outbox::{Entry, State, MAX_ATTEMPTS};
use crate::live::state::Chat;
use crate::live::{new_client_id, now_ms, Live, Status};
use crate::pages::days::Day;
use crate::pages::path_of_room;
use crate::protocol::{
    ChatMessage, MessageId, MessageKind, RoomError, RoomName, User, UserId, MAX_TEXT_CHARS,
};
use crate::recent::RecentPage;
use leptos::html::Div;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::{components::A, hooks::use_navigate};

/// How close to the bottom (in pixels) counts as "at the bottom": new messages keep such a
/// reader at the newest one.
const BOTTOM_SLACK: i32 = 40;
/// Scrolled this close to the top (in pixels), the page asks for older messages.
const NEAR_TOP: i32 = 80;

/// Moves the keyboard focus to `element` (if it can take it).
fn focus(element: &leptos::web_sys::Element) {
    use leptos::wasm_bindgen::JsCast;
    if let Some(element) = element.dyn_ref::<leptos::web_sys::HtmlElement>() {
        let _ = element.focus();
    }
}

/// Whether the list is scrolled to (within [`BOTTOM_SLACK`] of) its newest message.
fn is_at_bottom(list: &leptos::web_sys::Element) -> bool {
    list.scroll_height() - list.scroll_top() - list.client_height() <= BOTTOM_SLACK
}

#[component]
pub fn ChatPage(
    user: User,
    instance: String,
    logout: ServerAction<Logout>,
    /// The room the URL names (or why it cannot be one).
    room: Memo<Result<RoomName, RoomError>>,
    /// Its recent messages, rendered with the page.
    recent: RecentPage,
) -> impl IntoView {
    let live = Live::new(
        room.get_untracked().unwrap_or_else(|_| RoomName::lobby()),
        user.id,
    );
    live.chat
        .update_untracked(|chat| chat.rendered(recent.messages, recent.complete));
    // Times render in the reader's time zone, which only the browser knows: the server's page
    // says UTC, and every time is redrawn once hydrated.
    let hydrated = Hydrated(RwSignal::new(false));
    provide_context(hydrated);
    Effect::new(move |_| hydrated.0.set(true));
    // Effects run only in the browser: the socket opens after hydration, never during SSR.
    Effect::new(move |_| live.open());
    on_cleanup(move || live.close());
    // Back online: do not wait for the backoff.
    let online = window_event_listener(leptos::ev::online, move |_| live.retry_now());
    on_cleanup(move || online.remove());

    let me = user.id;
    let list = NodeRef::<Div>::new();
    // Whether the reader is at the newest message (then new ones keep them there).
    let at_bottom = StoredValue::new(true);
    // New messages arrived below while the reader was scrolled up.
    let unseen = RwSignal::new(false);
    let newest = StoredValue::new(None::<MessageId>);
    // The URL moved to another room: show it (opening it if new), remembering where the reader
    // was in the one they leave.
    Effect::new(move |_| {
        if let Ok(room) = room.get() {
            let scroll = list.get_untracked().map(|el| el.scroll_top());
            live.show(room, scroll);
        }
    });
    // After the list changes: on a room switch, back to where the reader was in that room (or
    // the newest message); otherwise follow new messages if the reader was at the newest.
    // While an older page loads: how far the reader was from the bottom, so that the page
    // arriving above does not move what they are reading.
    let anchor = StoredValue::new(None::<i32>);
    let shown_room = StoredValue::new(None::<RoomName>);
    Effect::new(move |_| {
        let (name, saved, loading, last) = live.chat.with(|chat| {
            let room = chat.current();
            (
                room.name.clone(),
                room.scroll,
                room.loading_older,
                room.last_seen(),
            )
        });
        let arrived = newest.get_value() != last;
        newest.set_value(last);
        let Some(el) = list.get() else { return };
        let switched = shown_room.with_value(|shown| shown.as_ref() != Some(&name));
        let restore = anchor.get_value().filter(|_| !loading && !switched);
        if switched {
            shown_room.set_value(Some(name));
        }
        if switched || restore.is_some() {
            anchor.set_value(None);
        }
        // After the list's rows are laid out (their own effects may run after this one).
        request_animation_frame(move || {
            if switched {
                el.set_scroll_top(saved.unwrap_or_else(|| el.scroll_height()));
            } else if let Some(from_bottom) = restore {
                el.set_scroll_top(el.scroll_height() - from_bottom);
            } else if at_bottom.get_value() {
                el.set_scroll_top(el.scroll_height());
            } else if arrived {
                unseen.set(true);
            }
            at_bottom.set_value(is_at_bottom(&el));
            if switched || at_bottom.get_value() {
                unseen.set(false);
            }
        });
    });
    let load_older = move || {
        if let Some(el) = list.get_untracked() {
            if live.load_older() {
                anchor.set_value(Some(el.scroll_height() - el.scroll_top()));
            }
        }
    };
    let to_bottom = move || {
        if let Some(el) = list.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
        unseen.set(false);
    };
    let on_scroll = move |_| {
        if let Some(el) = list.get_untracked() {
            let bottom = is_at_bottom(&el);
            at_bottom.set_value(bottom);
            if bottom {
                unseen.set(false);
            }
            if el.scroll_top() < NEAR_TOP {
                load_older();
            }
        }
    };

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
                    at_bottom.set_value(true);
                }
            }
            // The draft stays in the composer: nothing was sent.
            Err(e) => no_ids.set(Some(e.to_string())),
        }
    };
    // The page's clock, a tick a second: typing indicators expire by it.
    let clock = RwSignal::new(0u64);
    Effect::new(move |_| {
        clock.set(now_ms());
        if let Ok(tick) = set_interval_with_handle(
            move || clock.set(now_ms()),
            std::time::Duration::from_secs(1),
        ) {
            on_cleanup(move || tick.clear());
        }
    });
    let drawer = RwSignal::new(false);
    let current = Memo::new(move |_| live.chat.with(|chat| chat.current().name.clone()));
    let toggle = NodeRef::<leptos::html::Button>::new();
    let rooms_nav = NodeRef::<leptos::html::Nav>::new();
    // The drawer takes the focus when it opens (on its current room), and gives it back to its
    // button when it closes with the focus inside, so a keyboard user is never left on a
    // hidden element.
    Effect::new(move |was_open: Option<bool>| {
        let open = drawer.get();
        let Some(nav) = rooms_nav.get_untracked() else {
            return open;
        };
        if open {
            // Once the drawer is drawn open (hidden elements take no focus).
            request_animation_frame(move || {
                if let Ok(Some(link)) = nav.query_selector("li.current a") {
                    focus(&link);
                }
            });
        } else if was_open == Some(true) {
            let inside = document()
                .active_element()
                .is_none_or(|active| nav.contains(Some(&active)));
            if let (true, Some(toggle)) = (inside, toggle.get_untracked()) {
                let _ = toggle.focus();
            }
        }
        open
    });
    // Keys: Escape closes the drawer; Alt+Up and Alt+Down move to the previous or next room.
    let keys = window_event_listener(leptos::ev::keydown, {
        let navigate = use_navigate();
        move |ev| {
            if ev.key() == "Escape" && drawer.get_untracked() {
                drawer.set(false);
            } else if ev.alt_key() && (ev.key() == "ArrowUp" || ev.key() == "ArrowDown") {
                ev.prevent_default();
                let next = live.chat.with_untracked(|chat| {
                    let rooms = chat.rooms();
                    let at = rooms.iter().position(|r| r.name == chat.current().name)?;
                    let to = if ev.key() == "ArrowUp" {
                        at.checked_sub(1)?
                    } else {
                        at + 1
                    };
                    rooms.get(to).map(|r| r.name.clone())
                });
                if let Some(room) = next {
                    navigate(&path_of_room(&room), Default::default());
                }
            }
        }
    });
    on_cleanup(move || keys.remove());
    // While the tab is hidden: the newest message id seen before it was hidden, so the title
    // can count what arrived since.
    let hidden_at = RwSignal::new(None::<Option<MessageId>>);
    let visibility = window_event_listener(leptos::ev::visibilitychange, move |_| {
        let hidden = document().hidden();
        let last = live.chat.with_untracked(|chat| chat.current().last_seen());
        hidden_at.set(hidden.then_some(last));
    });
    on_cleanup(move || visibility.remove());
    // Read with `try_`: on the server the document head is rendered after the page's own
    // signals may have been disposed.
    let title = move || {
        let name = match room.try_get() {
            Some(Ok(room)) => format!("#{room} · Switchboard"),
            Some(Err(_)) => return "No such room · Switchboard".to_owned(),
            None => return "Switchboard".to_owned(),
        };
        let hidden = hidden_at.try_get().flatten();
        let unread = live.chat.try_with(|chat| {
            let here = hidden.map_or(0, |mark| {
                chat.current()
                    .messages
                    .values()
                    .filter(|m| mark.is_none_or(|mark| m.id > mark))
                    .filter(|m| {
                        m.user.id != me && matches!(m.kind, MessageKind::Text | MessageKind::Me)
                    })
                    .count() as u32
            });
            here + chat.unread()
        });
        if let Some(unread @ 1..) = unread {
            format!("({unread}) {name}")
        } else {
            name
        }
    };

    view! {
        <Title text=title />
        <div class="chat" class:drawer-open=move || drawer.get()>
            <header class="chat-header">
                <Show when=move || room.with(Result::is_ok)>
                    <a
                        class="skip"
                        href="#composer"
                        on:click=move |ev| {
                            ev.prevent_default();
                            if let Ok(Some(composer)) = document().query_selector("#composer") {
                                focus(&composer);
                            }
                        }
                    >
                        "Skip to the message box"
                    </a>
                </Show>
                <button
                    type="button"
                    class="drawer-toggle"
                    node_ref=toggle
                    aria-label="Rooms"
                    aria-expanded=move || drawer.get().to_string()
                    aria-controls="rooms"
                    on:click=move |_| drawer.update(|open| *open = !*open)
                >
                    "☰"
                </button>
                <h1 class="room">
                    <span class="brand">"Switchboard"</span>
                    <span class="room-name" data-testid="room-name">
                        {move || format!("#{}", current.get())}
                    </span>
                </h1>
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
            <div class="chat-body">
                <RoomList live current drawer nav=rooms_nav />
                // Under an open drawer: a tap beside it closes it.
                <div class="scrim" aria-hidden="true" on:click=move |_| drawer.set(false)></div>
                <main class="room-view">
                    <Show
                        when=move || room.with(Result::is_ok)
                        fallback=move || view! { <BadRoom room /> }
                    >
                        <Conversation live me list on_scroll load_older no_ids draft send current clock unseen to_bottom />
                    </Show>
                </main>
            </div>
            <footer class="served-by">"Page served by " <code data-testid="page-instance">{instance}</code></footer>
        </div>
    }
}

/// The room on screen: status banners, its messages and outbox, and the composer.
#[component]
fn Conversation(
    live: Live,
    me: UserId,
    list: NodeRef<Div>,
    on_scroll: impl Fn(leptos::ev::Event) + Send + 'static,
    load_older: impl Fn() + Copy + Send + 'static,
    no_ids: RwSignal<Option<String>>,
    draft: RwSignal<String>,
    send: impl Fn() + Copy + Send + 'static,
    current: Memo<RoomName>,
    clock: RwSignal<u64>,
    unseen: RwSignal<bool>,
    to_bottom: impl Fn() + Copy + Send + Sync + 'static,
) -> impl IntoView {
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
    let rows = move || {
        let local = local();
        let today = today.get();
        live.chat
            .with(|chat| rows(chat.current().messages.values(), local, today))
    };
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
            node_ref=list
            role="log"
            aria-live="polite"
            tabindex="0"
            aria-label=move || format!("Messages in #{}", current.get())
            data-testid="messages"
            on:scroll=on_scroll
        >
            <HistoryEdge live current load_older />
            <For
                each=rows
                key=|row| (row.message.room.clone(), row.message.id, row.grouped, row.day.clone())
                children=move |row| {
                    let Row { message, grouped, day } = row;
                    view! {
                        {day.map(|label| {
                            // A separator's own text is not read out: its label is.
                            let spoken = label.clone();
                            view! {
                                <div class="day" role="separator" aria-label=spoken>
                                    <span>{label}</span>
                                </div>
                            }
                        })}
                        <MessageRow m=message me grouped />
                    }
                }
            />
            // Keyed by state too: an entry that changes state is drawn afresh.
            <For
                each=move || live.chat.with(|chat| chat.pending().to_vec())
                key=|entry| (entry.client_id, entry.state.clone())
                children=move |entry| view! { <OutboxRow entry live /> }
            />
        </div>
            <Show when=move || unseen.get()>
                <button
                    type="button"
                    class="new-messages"
                    data-testid="new-messages"
                    on:click=move |_| to_bottom()
                >
                    "New messages ↓"
                </button>
            </Show>
        </div>
        <div class="typing" data-testid="typing" aria-live="polite">{typing}</div>
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
                aria-label=move || format!("Message #{}", current.get())
                placeholder=move || format!("Message #{}", current.get())
                title="Enter sends, Shift+Enter starts a new line, /me for actions"
                prop:value=move || draft.get()
                on:input=move |ev| {
                draft.set(event_target_value(&ev));
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
                    no_ids.with(Option::is_some) || draft.with(|d| d.trim().is_empty())
                }
            >
                "Send"
            </button>
        </form>
    }
    .into_any()
}

/// A message as the list shows it: under its day's separator if it is the first of its day, and
/// without its sender's name if it continues their turn.
#[derive(Clone)]
struct Row {
    message: ChatMessage,
    grouped: bool,
    /// The label of the day it starts.
    day: Option<String>,
}

fn rows<'a>(messages: impl Iterator<Item = &'a ChatMessage>, local: bool, today: Day) -> Vec<Row> {
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

/// The top of the message list: where older messages load, or where the room's history begins;
/// for a room with no messages, that it is loading or that it is empty.
#[component]
fn HistoryEdge(
    live: Live,
    current: Memo<RoomName>,
    load_older: impl Fn() + Copy + Send + 'static,
) -> impl IntoView {
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
            let quiet = room.outbox.is_empty()
                && !room
                    .messages
                    .values()
                    .any(|m| matches!(m.kind, MessageKind::Text | MessageKind::Me));
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
                            <p class="headline">{format!("#{} is quiet", current.get())}</p>
                            <p>"No messages yet. Say hello: everyone who opens this room sees it."</p>
                        </div>
                    }
                        .into_any()
                }
                Edge::Beginning => {
                    view! { <span>{format!("This is the beginning of #{}.", current.get())}</span> }
                        .into_any()
                }
                Edge::LoadingOlder => view! { <span>"Loading older messages…"</span> }.into_any(),
                Edge::MayHaveOlder => {
                    view! {
                        <button type="button" class="older" on:click=move |_| load_older()>
                            "Load older messages"
                        </button>
                    }
                        .into_any()
                }
            }}
        </div>
    }
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

/// The open rooms, each with its unread count, and a form to join or create one by name.
#[component]
fn RoomList(
    live: Live,
    current: Memo<RoomName>,
    drawer: RwSignal<bool>,
    nav: NodeRef<leptos::html::Nav>,
) -> impl IntoView {
    // Keyed by name alone: a room's counts change in place, so its link (which may have the
    // keyboard focus) is never replaced under the reader.
    let rooms = move || {
        live.chat.with(|chat| {
            chat.rooms()
                .iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
        })
    };
    let navigate = use_navigate();
    let name = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let join = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        match RoomName::parse(name.get_untracked().trim()) {
            Ok(room) => {
                name.set(String::new());
                problem.set(None);
                drawer.set(false);
                navigate(&path_of_room(&room), Default::default());
            }
            Err(e) => problem.set(Some(format!("Not a room name: {e}."))),
        }
    };
    view! {
        <nav class="rooms" id="rooms" node_ref=nav aria-label="Rooms" data-testid="rooms">
            <h2>"Rooms"</h2>
            <ul>
                <For
                    each=rooms
                    key=|room| room.clone()
                    children=move |room| {
                        view! { <RoomLink room current live drawer /> }
                    }
                />
            </ul>
            <form class="join-room" on:submit=join>
                <label for="join-room-name">"Join or create a room"</label>
                <div class="join-row">
                    <input
                        id="join-room-name"
                        data-testid="join-room"
                        placeholder="room-name"
                        maxlength="32"
                        autocomplete="off"
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                    <button type="submit">"Go"</button>
                </div>
                <Show when=move || problem.with(Option::is_some)>
                    <p class="form-error" role="alert">{move || problem.get().unwrap_or_default()}</p>
                </Show>
            </form>
            <OnlineList live current />
        </nav>
    }
    .into_any()
}

/// Who is in the room on screen now, on any instance.
#[component]
fn OnlineList(live: Live, current: Memo<RoomName>) -> impl IntoView {
    let online = move || live.chat.with(|chat| chat.current().online.clone());
    let count = move || live.chat.with(|chat| chat.current().online_count);
    let more = move || {
        let listed = live.chat.with(|chat| chat.current().online.len() as u32);
        count().unwrap_or(0).saturating_sub(listed)
    };
    view! {
        <section class="online" aria-label=move || format!("Online in #{}", current.get())>
            <h2>
                "Online "
                <span class="count" data-testid="online-count">
                    {move || count().map(|n| n.to_string()).unwrap_or_else(|| "…".to_owned())}
                </span>
            </h2>
            <ul data-testid="online">
                <For
                    each=online
                    key=|user| user.id
                    children=move |user| {
                        view! { <li><span class="presence-dot" aria-hidden="true"></span>{user.name.to_string()}</li> }
                    }
                />
            </ul>
            <Show when=move || { more() > 0 }>
                <p class="more">{move || format!("and {} more", more())}</p>
            </Show>
        </section>
    }
    .into_any()
}

/// One open room in the list: a link to it, its unread count, and (unless it is on screen or
/// the lobby) a button that closes it.
#[component]
fn RoomLink(
    room: RoomName,
    current: Memo<RoomName>,
    live: Live,
    drawer: RwSignal<bool>,
) -> impl IntoView {
    let is_current = {
        let room = room.clone();
        Memo::new(move |_| current.with(|c| *c == room))
    };
    // (unread, online now), kept up to date in place.
    let counts = {
        let room = room.clone();
        Memo::new(move |_| {
            live.chat.with(|chat| {
                chat.rooms()
                    .iter()
                    .find(|r| r.name == room)
                    .map_or((0, None), |r| (r.unread, r.online_count))
            })
        })
    };
    let unread = move || counts.get().0;
    let closable = room != RoomName::lobby();
    let label = room.to_string();
    let data_room = label.clone();
    let close_label = format!("Close #{room}");
    let href = path_of_room(&room);
    view! {
        <li class:current=is_current data-room=data_room>
            <A
                href=href
                attr:aria-current=move || is_current.get().then_some("page")
                on:click=move |_| drawer.set(false)
            >
                <span class="hash">"#"</span>
                {label}
            </A>
            {move || {
                counts
                    .get()
                    .1
                    .map(|n| {
                        view! {
                            <span
                                class="online-count"
                                title="online now"
                                aria-label=format!("{n} online")
                            >
                                {n}
                            </span>
                        }
                    })
            }}
            <Show when=move || { unread() > 0 }>
                <span
                    class="unread"
                    data-testid="unread"
                    aria-label=move || format!("{} unread", unread())
                >
                    {unread}
                </span>
            </Show>
            <Show when=move || closable && !is_current.get()>
                <button
                    type="button"
                    class="close-room"
                    aria-label=close_label.clone()
                    on:click={
                        let room = room.clone();
                        move |_| live.close_room(&room)
                    }
                >
                    "×"
                </button>
            </Show>
        </li>
    }
    .into_any()
}

/// The page of a room name that cannot be.
#[component]
fn BadRoom(room: Memo<Result<RoomName, RoomError>>) -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    let why = move || match room.get() {
        Err(e) => e.to_string(),
        Ok(_) => String::new(),
    };
    view! {
        <div class="bad-room" role="alert" data-testid="bad-room">
            <h1>"There is no such room"</h1>
            <p>"The address names a room that cannot exist: " {why} "."</p>
            <p>
                <A href="/">"Go to #lobby"</A>
                " or pick a room on the left."
            </p>
        </div>
    }
    .into_any()
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
    super::links::pieces(text)
        .into_iter()
        .map(|piece| match piece {
            super::links::Piece::Text(text) => text.to_owned().into_any(),
            super::links::Piece::Link(url) => view! {
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

/// Set once the page is hydrated (see `ChatPage`).
#[derive(Clone, Copy)]
struct Hydrated(RwSignal<bool>);

#[component]
fn MessageRow(m: ChatMessage, me: UserId, grouped: bool) -> impl IntoView {
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
    fn typing_reads_naturally() {
        use super::typing_text;
        assert_eq!(typing_text(&[]), "");
        assert_eq!(typing_text(&["alice"]), "alice is typing…");
        assert_eq!(typing_text(&["alice", "bob"]), "alice and bob are typing…");
        assert_eq!(typing_text(&["a", "b", "c"]), "Several people are typing…");
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
