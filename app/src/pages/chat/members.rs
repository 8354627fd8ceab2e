//! The rooms' people on the page: titles for the private rooms in the list, the forms that make a
//! room or open a direct conversation, the directory of public rooms, and the room on screen's
//! members with what the reader may do to them (message them, invite, remove, ban, name moderators) and "leave".
//! Everything goes through the room calls (`crate::conversations`); what they change reaches the
//! other people's pages through the socket (a removed person's page reads `removed`).

use super::{chat, ChatContext};
use crate::conversations::{
    about_room, create_room, directory, end_sessions, invite, leave_room, my_rooms, open_direct,
    remove_member, set_role, Listing, MemberInfo, Role, RoomDetails, RoomError, RoomInfo, RoomKind,
};
use crate::later::{opens, Part, Unfold};
use crate::pages::path_of_room;
use crate::protocol::RoomName;
use leptos::prelude::*;
use leptos::wasm_split::wasm_split;
use leptos_router::{components::A, hooks::use_navigate};
use std::collections::HashMap;

/// What the page knows of the reader's rooms (their titles, kinds and roles), by address.
#[derive(Clone, Copy)]
pub struct Titles(pub RwSignal<HashMap<RoomName, RoomInfo>>);

impl Titles {
    /// Asks the server again (browser only).
    pub fn refresh(self) {
        leptos::task::spawn_local(async move {
            if let Ok(rooms) = my_rooms().await {
                self.0
                    .set(rooms.into_iter().map(|r| (r.name.clone(), r)).collect());
            }
        });
    }

    /// What a room is called on the page: a private room or a direct conversation by its title,
    /// a public one by `#name`.
    pub fn label(self, room: &RoomName) -> String {
        self.title(room).unwrap_or_else(|| format!("#{room}"))
    }

    /// [`Self::label`], untracked.
    pub fn label_untracked(self, room: &RoomName) -> String {
        self.0.with_untracked(|titles| {
            titles
                .get(room)
                .filter(|info| info.kind != RoomKind::Public)
                .map_or_else(|| format!("#{room}"), |info| info.title.clone())
        })
    }

    /// The title of a private room or a direct conversation (a public room goes by its name).
    pub fn title(self, room: &RoomName) -> Option<String> {
        self.0.with(|titles| {
            titles
                .get(room)
                .filter(|info| info.kind != RoomKind::Public)
                .map(|info| info.title.clone())
        })
    }
}

pub fn titles() -> Titles {
    expect_context::<Titles>()
}

/// What opens a room on the page (it joins it): the titles are read again, the drawer closes.
/// Made where the router's context is at hand, used later from a call's answer.
#[derive(Clone, Copy)]
struct Opener(StoredValue<Box<OpenRoom>>);

type OpenRoom = dyn Fn(&RoomName) + Send + Sync;

impl Opener {
    fn new() -> Self {
        let ChatContext { drawer, .. } = chat();
        let titles = titles();
        let navigate = use_navigate();
        Self(StoredValue::new(Box::new(move |room: &RoomName| {
            titles.refresh();
            drawer.set(false);
            navigate(&path_of_room(room), Default::default());
        })))
    }

    fn open(self, room: &RoomName) {
        self.0.with_value(|open| open(room));
    }
}

/// Makes a room call from the page: its answer goes to `answered`, a refusal is shown in
/// `problem` (browser only).
pub(super) fn call<T: 'static>(
    problem: RwSignal<Option<String>>,
    request: impl std::future::Future<Output = Result<T, RoomError>> + 'static,
    answered: impl FnOnce(T) + 'static,
) {
    leptos::task::spawn_local(async move {
        match request.await {
            Ok(answer) => answered(answer),
            Err(e) => problem.set(Some(e.to_string())),
        }
    });
}

/// "New room" and "New message", for a person with an account. Their forms are fetched when
/// first opened ([`crate::later`]).
#[component]
pub fn Start() -> impl IntoView {
    let problem = RwSignal::new(None::<String>);
    view! {
        <div class="start">
            <Unfold summary="New room" load=move || new_room_form(problem) />
            <Unfold summary="New message" load=move || new_message_form(problem) />
            <Directory />
            <Show when=move || problem.with(Option::is_some)>
                <p class="form-error" role="alert">{move || problem.get().unwrap_or_default()}</p>
            </Show>
        </div>
    }
    .into_any()
}

/// The form that makes a room (a split point).
#[wasm_split(start, fallible, wasm_split_path = ::leptos::wasm_split, preload(preload_start))]
pub fn new_room_form(problem: RwSignal<Option<String>>) -> Part {
    Ok(view! { <NewRoom problem /> }.into_any())
}

/// The form that opens a direct conversation (a split point, with the one above).
#[wasm_split(start, fallible, wasm_split_path = ::leptos::wasm_split)]
fn new_message_form(problem: RwSignal<Option<String>>) -> Part {
    Ok(view! { <NewMessage problem /> }.into_any())
}

#[component]
fn NewRoom(problem: RwSignal<Option<String>>) -> impl IntoView {
    let title = RwSignal::new(String::new());
    let private = RwSignal::new(true);
    let opener = Opener::new();
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = create_room(
            title.get_untracked(),
            String::new(),
            private.get_untracked(),
        );
        call(problem, request, move |room| {
            title.set(String::new());
            problem.set(None);
            opener.open(&room.name);
        });
    };
    view! {
        <form class="new-room" on:submit=create data-testid="new-room">
            <label for="new-room-title">"Title"</label>
            <input
                id="new-room-title"
                maxlength="64"
                autocomplete="off"
                required
                prop:value=move || title.get()
                on:input=move |ev| title.set(event_target_value(&ev))
            />
            <label class="check">
                <input
                    type="checkbox"
                    prop:checked=move || private.get()
                    on:change=move |ev| private.set(event_target_checked(&ev))
                />
                " Private (invite only, not listed)"
            </label>
            <button type="submit">"Create"</button>
        </form>
    }
}

#[component]
fn NewMessage(problem: RwSignal<Option<String>>) -> impl IntoView {
    let handles = RwSignal::new(String::new());
    let opener = Opener::new();
    let message = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let people: Vec<String> = handles
            .get_untracked()
            .split([',', ' '])
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
        call(problem, open_direct(people), move |room| {
            handles.set(String::new());
            problem.set(None);
            opener.open(&room.name);
        });
    };
    view! {
        <form class="new-message" on:submit=message data-testid="new-message">
            <label for="new-message-to">"To (handles)"</label>
            <input
                id="new-message-to"
                placeholder="@handle, @another"
                autocomplete="off"
                required
                prop:value=move || handles.get()
                on:input=move |ev| handles.set(event_target_value(&ev))
            />
            <button type="submit">"Open"</button>
        </form>
    }
}

/// A `<details>` that reads a list each time it is opened, and shows "Loading…", the refusal,
/// `empty`, or the list as `show` draws it.
pub(super) fn unfolding<T, Load, V>(
    class: &'static str,
    summary: &'static str,
    empty: &'static str,
    load: impl Fn() -> Load + Copy + 'static,
    show: impl Fn(Vec<T>) -> V + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + 'static,
    Load: std::future::Future<Output = Result<Vec<T>, RoomError>> + 'static,
    V: IntoView + 'static,
{
    let list = RwSignal::new(None::<Result<Vec<T>, String>>);
    let toggled = move |ev: leptos::ev::Event| {
        if opens(&ev) {
            let request = load();
            leptos::task::spawn_local(async move {
                list.set(Some(request.await.map_err(|e| e.to_string())));
            });
        }
    };
    view! {
        <details class=class on:toggle=toggled>
            <summary>{summary}</summary>
            {move || match list.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Err(e)) => view! { <p class="form-error" role="alert">{e}</p> }.into_any(),
                Some(Ok(items)) if items.is_empty() => {
                    view! { <p class="muted">{empty}</p> }.into_any()
                }
                Some(Ok(items)) => show(items).into_any(),
            }}
        </details>
    }
}

/// The public rooms, read when opened.
#[component]
fn Directory() -> impl IntoView {
    let show = |rooms: Vec<Listing>| {
        view! {
            <ul data-testid="directory">
                {rooms
                    .into_iter()
                    .map(|listing| {
                        let href = path_of_room(&listing.room.name);
                        let counts = format!(
                            "{} members, {} online",
                            listing.members,
                            listing.online,
                        );
                        view! {
                            <li>
                                <A href=href>{format!("#{}", listing.room.name)}</A>
                                <span class="muted">" " {counts}</span>
                                <span class="topic">{listing.room.topic}</span>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
    };
    unfolding(
        "directory",
        "Browse public rooms",
        "No public rooms yet.",
        directory,
        show,
    )
    .into_any()
}

/// The members panel: a split point ([`crate::later`]), since the panel shows only once the
/// room's details have been read, after the page is up.
#[wasm_split(members, fallible, wasm_split_path = ::leptos::wasm_split)]
pub fn members_panel() -> Part {
    Ok(view! { <Members /> }.into_any())
}

/// The room on screen's members, and what the reader may do there.
#[component]
fn Members() -> impl IntoView {
    let ChatContext {
        current, me, live, ..
    } = chat();
    // Bumped after a change the reader made, to read the members again.
    let version = RwSignal::new(0u32);
    let details = RwSignal::new(None::<RoomDetails>);
    let problem = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        let room = current.get();
        version.track();
        // Joining, and a removal read over the socket, change who is here too; but not in a
        // public room (anyone may join it), whose every reader would otherwise read it again at
        // each reconnect, all at once after an instance restarts.
        let public = details.with_untracked(|d| {
            d.as_ref()
                .is_some_and(|d| d.room.name == room && d.room.kind == RoomKind::Public)
        });
        if !public {
            live.chat.with(|chat| chat.room(&room).map(|r| r.joined));
        }
        leptos::task::spawn_local(async move {
            details.set(about_room(room).await.ok());
        });
    });
    let invitee = RwSignal::new(String::new());
    let invite_one = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let request = invite(current.get_untracked(), invitee.get_untracked());
        call(problem, request, move |_| {
            invitee.set(String::new());
            problem.set(None);
            version.update(|v| *v += 1);
        });
    };
    let opener = Opener::new();
    let leave = move |_: leptos::ev::MouseEvent| {
        call(problem, leave_room(current.get_untracked()), move |()| {
            problem.set(None);
            opener.open(&RoomName::lobby());
        });
    };
    let room_info = move || details.with(|d| d.as_ref().map(|d| d.room.clone()));
    let admin = move || details.with(|d| d.as_ref().is_some_and(|d| d.admin));
    // A memo: reading the room again after a change must not fold an opened list.
    let kind = Memo::new(move |_| room_info().map(|r| r.kind));
    let moderates = move || room_info().is_some_and(|r| r.moderates);
    let may_invite = move || {
        room_info().is_some_and(|r| {
            r.kind != RoomKind::Public && r.kind != RoomKind::Direct && r.role.is_some()
        })
    };
    // The lobby is everyone's: there is nowhere to go from it.
    let may_leave =
        move || room_info().is_some_and(|r| r.role.is_some() && r.name != RoomName::lobby());
    let members =
        move || details.with(|d| d.as_ref().map(|d| d.members.clone()).unwrap_or_default());
    let count = move || {
        details.with(|d| {
            d.as_ref()
                .map_or(0, |d| d.members.len() as u64 + d.unlisted)
        })
    };
    let unlisted = move || details.with(|d| d.as_ref().map_or(0, |d| d.unlisted));
    let topic = Signal::derive(move || room_info().map(|r| r.topic).unwrap_or_default());
    let banned = Signal::derive(move || {
        details.with(|d| d.as_ref().map(|d| d.banned.clone()).unwrap_or_default())
    });
    let changed = Callback::new(move |()| version.update(|v| *v += 1));
    view! {
        <Show when=move || kind.get().is_some()>
            <section class="members" aria-label="Members" data-testid="members">
                <h2>"Members"</h2>
                <super::moderation::Topic topic moderates=Signal::derive(moderates) changed problem />
                // A public room's list may be long: it starts folded there.
                <details class="member-list" prop:open=move || kind.get() != Some(RoomKind::Public)>
                    <summary>
                        {move || match count() {
                            1 => "1 member".to_owned(),
                            n => format!("{n} members"),
                        }}
                    </summary>
                    <ul>
                        <For
                            each=members
                            key=|m| (m.user.id, m.role)
                            children=move |member| {
                                view! { <MemberRow member me room_info=Signal::derive(room_info) admin=Signal::derive(admin) version problem /> }
                            }
                        />
                    </ul>
                    <Show when=move || { unlisted() > 0 }>
                        <p class="muted">{move || format!("and {} more", unlisted())}</p>
                    </Show>
                </details>
                <Show when=may_invite>
                    <form class="invite" on:submit=invite_one data-testid="invite">
                        <label for="invite-handle">"Invite by handle"</label>
                        <div class="join-row">
                            <input
                                id="invite-handle"
                                placeholder="@handle"
                                autocomplete="off"
                                required
                                prop:value=move || invitee.get()
                                on:input=move |ev| invitee.set(event_target_value(&ev))
                            />
                            <button type="submit">"Invite"</button>
                        </div>
                    </form>
                </Show>
                <Show when=moderates>
                    <super::moderation::Banned banned changed problem />
                    <super::moderation::Log room=Signal::derive(move || current.get()) />
                </Show>
                <Show when=may_leave>
                    <button type="button" class="leave-room" on:click=leave>
                        "Leave this room"
                    </button>
                </Show>
                <Show when=move || problem.with(Option::is_some)>
                    <p class="form-error" role="alert">{move || problem.get().unwrap_or_default()}</p>
                </Show>
            </section>
        </Show>
    }
    .into_any()
}

/// One member: name, handle and role; "Message" for others, "Remove" and "Ban" where the
/// reader moderates someone below their role (a server admin: anyone), and "Sign out" (of
/// every device) for a server admin.
#[component]
fn MemberRow(
    member: MemberInfo,
    me: crate::protocol::UserId,
    room_info: Signal<Option<RoomInfo>>,
    /// The reader is a server admin.
    admin: Signal<bool>,
    version: RwSignal<u32>,
    problem: RwSignal<Option<String>>,
) -> impl IntoView {
    let ChatContext { current, .. } = chat();
    let user = member.user.clone();
    let id = user.id;
    let is_me = user.id == me;
    let name = user.name.to_string();
    // Members are the rule; only the owner's and moderators' roles are shown.
    let role = (member.role != Role::Member).then(|| member.role.as_str());
    let target = member.role;
    let may_remove = move || {
        !is_me
            && room_info.with(|r| {
                r.as_ref().is_some_and(|r| {
                    r.moderates && (admin.get() || r.role.is_none() || r.role > Some(target))
                })
            })
    };
    let sign_out = {
        let handle = user.handle.clone();
        move |_| {
            let Some(handle) = handle.clone() else {
                return;
            };
            call(problem, end_sessions(handle.to_string()), move |()| {
                problem.set(None)
            });
        }
    };
    let sign_out_label = format!("Sign {name} out of every device");
    // The owner (or a server admin) names moderators; the owner's own role is not theirs to give.
    let may_name = move || {
        !is_me
            && target != Role::Owner
            && room_info.with(|r| {
                r.as_ref().is_some_and(|r| {
                    r.kind != RoomKind::Direct && (admin.get() || r.role == Some(Role::Owner))
                })
            })
    };
    let new_role = match target {
        Role::Moderator => Role::Member,
        _ => Role::Moderator,
    };
    // The visible words start the label, as speech input expects.
    let name_text = match new_role {
        Role::Moderator => "Make moderator",
        _ => "Make member",
    };
    let name_label = format!("{name_text}: {name}");
    let rename = move |_| {
        let request = set_role(current.get_untracked(), id, new_role);
        call(problem, request, move |()| version.update(|v| *v += 1));
    };
    let act = move |ban: bool| {
        let request = remove_member(current.get_untracked(), id, ban);
        call(problem, request, move |()| version.update(|v| *v += 1));
    };
    let handle = user.handle.clone();
    let opener = Opener::new();
    let message = move |_| {
        let Some(handle) = handle.clone() else {
            return;
        };
        call(
            problem,
            open_direct(vec![handle.to_string()]),
            move |room| opener.open(&room.name),
        );
    };
    let message_label = format!("Message {name}");
    let remove_label = format!("Remove {name}");
    let ban_label = format!("Ban {name}");
    let has_handle = user.handle.is_some();
    view! {
        <li data-member=user.handle.as_ref().map(|h| h.to_string())>
            <span class="member-name">{name}</span>
            " "
            <super::people::Badge user=user.clone() />
            {role.map(|role| view! { <span class="role">{role}</span> })}
            <span class="member-actions">
                <Show when=move || !is_me && has_handle>
                    <button type="button" on:click=message.clone() aria-label=message_label.clone()>
                        "Message"
                    </button>
                </Show>
                <Show when=may_remove>
                    <button type="button" on:click=move |_| act(false) aria-label=remove_label.clone()>
                        "Remove"
                    </button>
                    <button type="button" on:click=move |_| act(true) aria-label=ban_label.clone()>
                        "Ban"
                    </button>
                </Show>
                <Show when=may_name>
                    <button type="button" on:click=rename aria-label=name_label.clone()>
                        {name_text}
                    </button>
                </Show>
                <Show when=move || admin.get() && !is_me && has_handle>
                    <button type="button" on:click=sign_out.clone() aria-label=sign_out_label.clone()>
                        "Sign out"
                    </button>
                </Show>
            </span>
        </li>
    }
    .into_any()
}
