//! The page: the HTML shell, the router and the states of a room's page (login form, chat, or a
//! room name that cannot be).
//!
//! `/` is the lobby and `/r/<room>` any other room. Both are children of one parent route, so
//! moving between rooms changes the URL (and browser history) but never remounts the chat: the
//! socket, every open room's messages and outbox stay.

mod chat;
mod days;
mod links;
mod login;

use crate::auth::{whoami, DeleteAccount, Login, Logout, SignIn, SignUp, SsoHandle, Viewer};
use crate::protocol::{RoomError, RoomName};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Meta, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    hooks::{use_location, use_navigate},
    NavigateOptions, ParamSegment, SsrMode, StaticSegment,
};

/// The room a path shows: `/` the lobby, `/r/<room>` that room.
pub fn room_of_path(path: &str) -> Result<RoomName, RoomError> {
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok(RoomName::lobby());
    }
    RoomName::parse(
        path.strip_prefix("/r")
            .unwrap_or(path)
            .trim_start_matches('/'),
    )
}

/// The canonical address of a path that names a room in capitals (`/r/Rust` is `/r/rust`):
/// room names are lower case, and an address typed or linked in capitals is sent there.
pub fn canonical_path(path: &str) -> Option<String> {
    let lower = path.to_ascii_lowercase();
    if lower == path {
        return None;
    }
    room_of_path(&lower).ok().map(|room| path_of_room(&room))
}

/// The path of a room's page.
pub fn path_of_room(room: &RoomName) -> String {
    if *room == RoomName::lobby() {
        "/".to_owned()
    } else {
        format!("/r/{room}")
    }
}

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="data:," />
                <AutoReload options=options.clone() />
                <Hydration options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// Loads the bundle and hydrates the page, starting only after the page's first paint. The page
/// is readable as the server sent it (the login form even works without the WASM), so its first
/// and largest paint neither waits for the bundle nor shares the network with it. Leptos'
/// `HydrationScripts` would preload the bundle from the head, competing with the stylesheet on
/// a slow link. The same file names as it uses; the inline script carries the page's CSP nonce.
#[component]
fn Hydration(options: LeptosOptions) -> impl IntoView {
    let name = options.output_name.to_string();
    let wasm = if option_env!("LEPTOS_OUTPUT_NAME").is_none() {
        format!("{name}_bg")
    } else {
        name.clone()
    };
    let pkg = format!("/{}", options.site_pkg_dir);
    // `load`, then the frame it paints, then a task after that frame.
    let script = format!(
        "const start = () => import({js:?}).then((m) => m.default({{ module_or_path: {wasm:?} }}).then(() => m.hydrate()));\n\
         const afterPaint = () => requestAnimationFrame(() => setTimeout(start, 0));\n\
         if (document.readyState === \"complete\") afterPaint(); else addEventListener(\"load\", afterPaint, {{ once: true }});",
        js = format!("{pkg}/{name}.js"),
        wasm = format!("{pkg}/{wasm}.wasm"),
    );
    let nonce = leptos::nonce::use_nonce();
    view! { <script type="module" nonce=nonce>{script}</script> }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/switchboard.css" />
        <Title text="Switchboard" />
        <Meta
            name="description"
            content="Switchboard: a real-time chat in rooms that keeps working across many servers. Join with a name and talk."
        />
        <Router>
            <Routes fallback=|| view! { <p class="not-found">"Page not found."</p> }>
                // Async: the server waits for the session look-up, so a logged-in user gets the
                // chat page in the first response and never sees the login form flash by.
                <ParentRoute path=StaticSegment("") view=Home ssr=SsrMode::Async>
                    <Route path=StaticSegment("") view=|| () />
                    <Route path=(StaticSegment("r"), ParamSegment("room")) view=|| () />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

/// A room's page: the chat for a logged-in session, the login form otherwise.
#[component]
fn Home() -> impl IntoView {
    let location = use_location();
    let room = Memo::new(move |_| location.pathname.with(|path| room_of_path(path)));
    let doors = login::Doors {
        sign_in: ServerAction::<SignIn>::new(),
        sign_up: ServerAction::<SignUp>::new(),
        guest: ServerAction::<Login>::new(),
        sso_handle: ServerAction::<SsoHandle>::new(),
    };
    let logout = ServerAction::<Logout>::new();
    let delete_account = ServerAction::<DeleteAccount>::new();
    // How many times someone came in through any of the doors.
    let entries = move || {
        doors.sign_in.version().get()
            + doors.sign_up.version().get()
            + doors.guest.version().get()
            + doors.sso_handle.version().get()
    };
    // Re-asked after every sign-in or sign-out, so the page follows the session. A refused
    // deletion (a wrong password) leaves the session as it was: the page stays, with the
    // account menu open on the refusal.
    let deletions = Memo::new(move |last: Option<&usize>| {
        let version = delete_account.version().get();
        if delete_account.value().with(|v| matches!(v, Some(Ok(())))) {
            version
        } else {
            last.copied().unwrap_or(0)
        }
    });
    let viewer = Resource::new(
        move || (entries(), logout.version().get(), deletions.get()),
        |_| whoami(),
    );
    // The recent messages of the room the page opened on (not of rooms moved to later: the
    // socket brings those), rendered with the page.
    let opened = room.get_untracked().ok();
    let recent = Resource::new(entries, move |_| {
        let opened = opened.clone();
        async move {
            match opened {
                Some(room) => crate::recent::recent(room).await.unwrap_or_default(),
                None => crate::recent::RecentPage::default(),
            }
        }
    });

    // A room named in capitals: to its canonical address. The server answers such a request
    // with a redirect; a link followed inside the page replaces its history entry (after
    // hydration, which must see the page the server rendered).
    #[cfg(feature = "ssr")]
    if let Some(path) = location
        .pathname
        .with_untracked(|path| canonical_path(path))
    {
        leptos_axum::redirect(&path);
    }
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(path) = location.pathname.with(|path| canonical_path(path)) {
            let options = NavigateOptions {
                replace: true,
                ..Default::default()
            };
            navigate(&path, options);
        }
    });

    view! {
        <Suspense fallback=|| view! { <div class="loading">"Loading…"</div> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Viewer { user: Some(user), rooms, instance, .. }) => {
                        let recent = recent.await;
                        view! { <chat::ChatPage user rooms instance logout delete_account room recent /> }
                            .into_any()
                    }
                    Ok(Viewer { user: None, instance, guests, sso, choosing_handle, .. }) => {
                        view! { <login::LoginPage doors guests sso choosing_handle instance /> }
                            .into_any()
                    }
                    Err(error) => {
                        view! {
                            <main class="fatal" role="alert">
                                <h1>"Switchboard is having trouble"</h1>
                                <p>{error.to_string()}</p>
                                <a href="/">"Try again"</a>
                            </main>
                        }
                            .into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_rooms() {
        assert_eq!(room_of_path("/"), Ok(RoomName::lobby()));
        assert_eq!(room_of_path("/r/rust"), RoomName::parse("rust"));
        assert_eq!(room_of_path("/r/rust/"), RoomName::parse("rust"));
        assert!(room_of_path("/r/Not%20a%20room").is_err());
        assert!(room_of_path("/r/").is_err());
        let rust = RoomName::parse("rust").unwrap();
        assert_eq!(room_of_path(&path_of_room(&rust)), Ok(rust));
        assert_eq!(path_of_room(&RoomName::lobby()), "/");
    }

    #[test]
    fn rooms_in_capitals_have_a_canonical_address() {
        assert_eq!(canonical_path("/r/UPPER").as_deref(), Some("/r/upper"));
        assert_eq!(canonical_path("/r/Lobby").as_deref(), Some("/"));
        assert_eq!(canonical_path("/r/upper"), None, "already canonical");
        assert_eq!(
            canonical_path("/r/Not%20A%20Room"),
            None,
            "no room in any case"
        );
    }
}
