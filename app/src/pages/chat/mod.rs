//! The chat page: header, the rooms drawer, the room on screen. Its live state comes from
//! [`crate::live`]; its parts share it through one [`ChatContext`] provided here:
//!
//! - [`conversation`]: the room on screen (banners, the message list, the typing line);
//! - [`messages`]: one message, one outbox entry, and how rows are grouped by day and turn;
//! - [`composer`]: the message box: sending, replying, editing;
//! - [`mentioning`]: the people offered while an `@mention` is typed;
//! - [`alerts`]: notifications of mentions and direct messages, and muted rooms;
//! - [`actions`]: what can be done with a message: reply, react, edit, delete;
//! - [`reactions`]: a message's reactions, and the palette to add one;
//! - [`drafts`]: what was typed in each room, kept across room switches and reloads;
//! - [`rooms`]: the rooms drawer, who is online, and the page of a room that cannot be;
//! - [`members`]: making rooms and direct conversations, the directory, the room's members;
//! - [`moderation`]: the topic, the banned and the moderation log, for a room's moderators;
//! - [`scroll`]: following new messages, keeping the reader's place, loading older ones;
//! - [`keys`]: keyboard shortcuts and where the focus goes when the drawer opens or closes;
//! - [`title`]: the tab's title, with the count of unread messages (the read marks').

mod account;
mod actions;
mod alerts;
mod composer;
mod conversation;
mod drafts;
mod keys;
mod members;
mod mentioning;
mod messages;
mod moderation;
mod people;
mod reactions;
mod rooms;
mod scroll;
mod title;

use crate::auth::{DeleteAccount, Logout};
use crate::live::reconnect::Via;
use crate::live::{new_client_id, now_ms, unsent, Live, Status};
use crate::protocol::{Handle, RoomError, RoomName, User, UserId};
use crate::recent::RecentPage;
use conversation::Conversation;
use leptos::prelude::*;
use leptos_meta::Title;
use rooms::{BadRoom, RoomList};
use scroll::Scroll;

/// What the chat page's parts share (every field is a handle: the context is `Copy`).
#[derive(Clone, Copy)]
struct ChatContext {
    live: Live,
    /// Who is reading.
    me: UserId,
    /// Their handle (a guest has none): what mentions of them say.
    handle: StoredValue<Option<Handle>>,
    /// The rooms they muted.
    muted: alerts::Muted,
    /// The room the page's state has on screen (the last good one while the URL names a room
    /// that cannot be).
    current: Memo<RoomName>,
    /// The room the URL shows, if it names one: none on the page of a room that cannot be, so
    /// nothing there claims to be the current room.
    on_screen: Memo<Option<RoomName>>,
    /// The page's clock, a tick a second: typing indicators expire by it, days turn by it.
    clock: RwSignal<u64>,
    /// Whether the rooms drawer is open (on a narrow screen).
    drawer: RwSignal<bool>,
    /// Set when this browser cannot make random message ids: then nothing may be sent (see
    /// `NoRandomIds`). Checked up front so the user learns it before typing, not after.
    no_ids: RwSignal<Option<String>>,
    /// What is typed in each room's message box.
    drafts: drafts::Drafts,
    /// The unsent messages, kept across reloads.
    unsent: unsent::Kept,
    /// Whether the message box writes a new message, a reply or an edit.
    composing: RwSignal<composer::Composing>,
    scroll: Scroll,
}

fn chat() -> ChatContext {
    expect_context::<ChatContext>()
}

/// Set once the page is hydrated: times render in the reader's time zone, which only the
/// browser knows (the server's page says UTC, and every time is redrawn once hydrated).
#[derive(Clone, Copy)]
struct Hydrated(RwSignal<bool>);

/// Moves the keyboard focus to `element` (if it can take it).
fn focus(element: &leptos::web_sys::Element) {
    use leptos::wasm_bindgen::JsCast;
    if let Some(element) = element.dyn_ref::<leptos::web_sys::HtmlElement>() {
        let _ = element.focus();
    }
}

#[component]
pub fn ChatPage(
    user: User,
    /// The rooms the user has open (on any page of theirs): this page opens them all.
    rooms: Vec<RoomName>,
    instance: String,
    logout: ServerAction<Logout>,
    delete_account: ServerAction<DeleteAccount>,
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
    // Not connected yet: they are joined with the first `hello`.
    live.follow_list(rooms);
    let hydrated = Hydrated(RwSignal::new(false));
    provide_context(hydrated);
    Effect::new(move |_| hydrated.0.set(true));
    // Effects run only in the browser: the socket opens after hydration, never during SSR.
    Effect::new(move |_| live.open());
    on_cleanup(move || live.close());
    // The page wakes up: back online, back to the tab (a woken laptop, a phone's tab brought
    // forward), restored from the back-forward cache, or resumed after the browser froze it.
    // Its socket may have died in its sleep without a word: check it now, and do not wait out
    // the backoff (see `Control::Wake`).
    // Back to the tab, also: another tab may have opened or closed rooms since.
    let online = window_event_listener(leptos::ev::online, move |_| live.wake());
    let restored = window_event_listener(leptos::ev::pageshow, move |_| live.wake());
    let resumed = wake_on_resume(live);
    let back = move || {
        live.wake();
        refresh_rooms(live);
        if let Some(titles) = use_context::<members::Titles>() {
            titles.refresh();
        }
    };
    let focused = window_event_listener(leptos::ev::focus, move |_| back());
    // Only what is on screen is read: a hidden tab's rooms stay unread.
    Effect::new(move |_| live.set_visible(!document().hidden()));
    let shown = window_event_listener(leptos::ev::visibilitychange, move |_| {
        let visible = !document().hidden();
        live.set_visible(visible);
        if visible {
            back();
        }
    });
    on_cleanup(move || {
        online.remove();
        restored.remove();
        resumed();
        focused.remove();
        shown.remove();
    });

    let scroll = Scroll::new();
    // The URL moved to another room: show it (opening it if new), remembering where the reader
    // was in the one they leave.
    Effect::new(move |_| {
        if let Ok(room) = room.get() {
            live.show(room, scroll.position());
        }
    });
    let current = Memo::new(move |_| live.chat.with(|chat| chat.current().name.clone()));
    let context = ChatContext {
        live,
        me: user.id,
        handle: StoredValue::new(user.handle.clone()),
        muted: alerts::Muted::new(user.id),
        current,
        on_screen: Memo::new(move |_| room.with(Result::is_ok).then(|| current.get())),
        clock: clock(),
        drawer: RwSignal::new(false),
        no_ids: RwSignal::new(None),
        drafts: drafts::Drafts::new(user.id),
        unsent: unsent::Kept::new(live, user.id),
        composing: RwSignal::new(composer::Composing::New),
        scroll,
    };
    // A reply or an edit belongs to the room it was begun in.
    Effect::new(move |previous: Option<RoomName>| {
        let room = current.get();
        if previous.is_some_and(|previous| previous != room) {
            context.composing.set(composer::Composing::New);
        }
        room
    });
    provide_context(context);
    let titles = members::Titles(RwSignal::new(Default::default()));
    provide_context(titles);
    if user.handle.is_some() {
        Effect::new(move |_| titles.refresh());
    }
    scroll.follow(live, user.id);
    Effect::new(move |_| {
        if let Err(e) = new_client_id() {
            context.no_ids.set(Some(e.to_string()));
        }
    });
    // The forms fetched when first opened ([`crate::later`]): once the socket is up, fetch them
    // ahead of use, so a click does not wait on the network (or meet an outage) later. (The
    // member panel needs no such step: it is drawn, and so fetched, as soon as the page is
    // hydrated.)
    Effect::new(move |preloaded: Option<bool>| {
        if preloaded == Some(true) || !live.status.with(Status::is_connected) {
            return preloaded.unwrap_or(false);
        }
        crate::later::preload(members::preload_start());
        crate::later::preload(account::preload_account());
        true
    });
    let toggle = NodeRef::<leptos::html::Button>::new();
    let rooms_nav = NodeRef::<leptos::html::Nav>::new();
    keys::drawer_focus(context.drawer, rooms_nav, toggle);
    keys::shortcuts(context);
    let title = title::title(room, live, context.muted);
    alerts::notify(live, user.handle.clone(), context.muted, titles);
    let ChatContext {
        on_screen,
        drawer,
        drafts,
        ..
    } = context;

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
                        {move || match on_screen.get() {
                            Some(room) => titles.label(&room),
                            // A heading that names no room (never the last good one).
                            None => "No such room".to_owned(),
                        }}
                    </span>
                </h1>
                <div class="who">
                    <span class="me" data-testid="me">{user.name.to_string()}</span>
                    <people::Badge user=user.clone() />
                    <span class="instance" title="The instance your live connection is on">
                        <span class=move || format!("dot {}", live.status.get().css())></span>
                        <Show when=move || live.via.get() == Via::Events>
                            <span
                                class="via"
                                data-testid="transport"
                                title="WebSockets do not get through this network: the chat runs over an event stream and posts, and goes back to a WebSocket when one works"
                            >
                                "over HTTP"
                            </span>
                        </Show>
                        <span data-testid="socket-instance">
                            {move || {
                                // A lost socket's instance may be dead: never name it as live.
                                if live.status.with(Status::is_lost) {
                                    "offline".to_owned()
                                } else {
                                    live.instance.get().unwrap_or_else(|| "…".to_owned())
                                }
                            }}
                        </span>
                    </span>
                    <alerts::NotifyButton />
                    <alerts::MuteButton room=current muted=context.muted />
                    {user.handle.is_some().then(|| view! { <account::AccountMenu delete=delete_account /> })}
                    <ActionForm action=logout attr:class="logout" on:submit=move |_| {
                        drafts.clear();
                        context.unsent.clear();
                    }>
                        <button type="submit">"Log out"</button>
                    </ActionForm>
                </div>
            </header>
            <div class="chat-body">
                <RoomList nav=rooms_nav account=user.handle.is_some() />
                // Under an open drawer: a tap beside it closes it.
                <div class="scrim" aria-hidden="true" on:click=move |_| drawer.set(false)></div>
                <main class="room-view">
                    <Show
                        when=move || room.with(Result::is_ok)
                        fallback=move || view! { <BadRoom room /> }
                    >
                        <Conversation />
                    </Show>
                </main>
            </div>
            <footer class="served-by">"Page served by " <code data-testid="page-instance">{instance}</code></footer>
        </div>
    }
}

/// Asks the server for the user's open rooms and follows the list (browser only).
fn refresh_rooms(live: Live) {
    leptos::task::spawn_local(async move {
        if let Ok(crate::auth::Viewer {
            user: Some(_),
            rooms,
            ..
        }) = crate::auth::whoami().await
        {
            live.follow_list(rooms);
        }
    });
}

/// Wakes the socket when the browser resumes the page after freezing it: the `resume` event of
/// the Page Lifecycle API, fired at the document. Returns what removes the listener.
fn wake_on_resume(live: Live) -> impl FnOnce() + Send + Sync {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::{closure::Closure, JsCast};
        let wake = Closure::<dyn Fn()>::new(move || live.wake()).into_js_value();
        let _ = document().add_event_listener_with_callback("resume", wake.unchecked_ref());
        let wake = send_wrapper::SendWrapper::new(wake);
        move || {
            let _ = document().remove_event_listener_with_callback("resume", wake.unchecked_ref());
        }
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = live;
        || {}
    }
}

/// The page's clock: the time now (unix ms), a tick a second, once hydrated (0 before).
fn clock() -> RwSignal<u64> {
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
    clock
}
