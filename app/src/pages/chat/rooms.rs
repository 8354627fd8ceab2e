//! The rooms drawer: the open rooms with their unread and online counts, a form to join or
//! create one, who is online in the room on screen; and the page of a room that cannot be.

use super::{chat, ChatContext};
use crate::live::Status;
use crate::pages::path_of_room;
use crate::protocol::{RoomError, RoomName};
use leptos::prelude::*;
use leptos_router::{components::A, hooks::use_navigate};

/// The open rooms, each with its unread count, and a form to join or create one by name.
#[component]
pub fn RoomList(
    nav: NodeRef<leptos::html::Nav>,
    /// Whether the reader has an account (and so may make rooms and direct conversations).
    account: bool,
) -> impl IntoView {
    let ChatContext {
        live,
        drawer,
        on_screen,
        current,
        muted,
        ..
    } = chat();
    let hydrated = expect_context::<super::Hydrated>().0;
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
            // A phone's header has no room for these: they are here instead (style/main.css).
            <div class="room-alerts">
                <super::alerts::NotifyButton testid="drawer-notify" />
                <super::alerts::MuteButton room=current muted testid="drawer-mute" />
            </div>
            <h2>"Rooms"</h2>
            <ul>
                <For
                    each=rooms
                    key=|room| room.clone()
                    children=move |room| {
                        view! { <RoomLink room /> }
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
            {account.then(|| view! { <super::members::Start /> })}
            <Show when=move || on_screen.with(Option::is_some)>
                <OnlineList />
                // Drawn once hydrated, never by the server: the panel shows only after the room's
                // details are read anyway, and its chunk must not hold up hydration.
                <Show when=move || hydrated.get()>
                    {crate::later::later(super::members::members_panel)}
                </Show>
            </Show>
        </nav>
    }
    .into_any()
}

/// Who is in the room on screen now, on any instance.
#[component]
fn OnlineList() -> impl IntoView {
    let ChatContext { live, current, .. } = chat();
    let online = move || live.chat.with(|chat| chat.current().online.clone());
    let count = move || live.chat.with(|chat| chat.current().online_count);
    // While the socket is lost, the list is only what was true then: dimmed, and says so.
    let stale = move || live.status.with(Status::is_lost);
    let more = move || {
        let listed = live.chat.with(|chat| chat.current().online.len() as u32);
        count().unwrap_or(0).saturating_sub(listed)
    };
    view! {
        <section
            class="online"
            class:stale=stale
            aria-label=move || format!("Online in #{}", current.get())
        >
            <h2>
                "Online "
                <span class="count" data-testid="online-count">
                    {move || count().map(|n| n.to_string()).unwrap_or_else(|| "…".to_owned())}
                </span>
                <Show when=stale>
                    <span class="as-of">" (when last connected)"</span>
                </Show>
            </h2>
            <ul data-testid="online" data-stale=move || stale().to_string()>
                <For
                    each=online
                    key=|user| user.id
                    children=move |user| {
                        let name = user.name.to_string();
                        view! {
                            <li>
                                <span class="presence-dot" aria-hidden="true"></span>
                                {name}
                                " "
                                <super::people::Badge user />
                            </li>
                        }
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
fn RoomLink(room: RoomName) -> impl IntoView {
    let ChatContext {
        live,
        current,
        on_screen,
        drawer,
        handle,
        muted,
        ..
    } = chat();
    let is_current = {
        let room = room.clone();
        Memo::new(move |_| on_screen.with(|c| c.as_ref() == Some(&room)))
    };
    // The room the page's state has on screen cannot be closed, even under a bad room's page.
    let is_open_room = {
        let room = room.clone();
        Memo::new(move |_| current.with(|c| *c == room))
    };
    // (unread, unread mentions of the reader, online now), kept up to date in place.
    let counts = {
        let room = room.clone();
        Memo::new(move |_| {
            live.chat.with(|chat| {
                let Some(r) = chat.room(&room) else {
                    return (0, 0, None);
                };
                let mentions = handle.with_value(|handle| {
                    chat.unread_matching(r, |m| super::alerts::mentions_me(m, handle.as_ref()))
                });
                (chat.unread_in(r), mentions, r.online_count)
            })
        })
    };
    let unread = move || counts.get().0;
    let mentioned = move || counts.get().1 > 0;
    let is_muted = {
        let room = room.clone();
        move || muted.has(&room)
    };
    let closable = room != RoomName::lobby();
    let titles = super::members::titles();
    // A public room by its `#name`, a private one or a direct conversation by its title.
    let label = {
        let room = room.clone();
        move || match titles.title(&room) {
            Some(title) => title.into_any(),
            None => view! {
                <span class="hash">"#"</span>
                {room.to_string()}
            }
            .into_any(),
        }
    };
    let data_room = room.to_string();
    let close_label = format!("Close #{room}");
    let href = path_of_room(&room);
    view! {
        <li class:current=is_current class:muted=is_muted data-room=data_room>
            <A
                href=href
                attr:aria-current=move || is_current.get().then_some("page")
                on:click=move |_| drawer.set(false)
            >
                {label}
            </A>
            {move || {
                counts
                    .get()
                    .2
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
                    class:mentioned=mentioned
                    data-testid="unread"
                    aria-label=move || {
                        let mentions = if mentioned() { ", mentioning you" } else { "" };
                        format!("{} unread{mentions}", unread())
                    }
                >
                    {move || if mentioned() { format!("@{}", unread()) } else { unread().to_string() }}
                </span>
            </Show>
            <Show when=move || closable && !is_open_room.get()>
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
pub fn BadRoom(room: Memo<Result<RoomName, RoomError>>) -> impl IntoView {
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
