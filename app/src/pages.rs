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

use crate::auth::{whoami, Login, Logout, Viewer};
use crate::protocol::{RoomError, RoomName};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    hooks::use_location,
    ParamSegment, SsrMode, StaticSegment,
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
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/switchboard.css" />
        <Title text="Switchboard" />
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
    let login = ServerAction::<Login>::new();
    let logout = ServerAction::<Logout>::new();
    // Re-asked after every login or logout, so the page follows the session.
    let viewer = Resource::new(
        move || (login.version().get(), logout.version().get()),
        |_| whoami(),
    );
    // The recent messages of the room the page opened on (not of rooms moved to later: the
    // socket brings those), rendered with the page.
    let opened = room.get_untracked().ok();
    let recent = Resource::new(
        move || login.version().get(),
        move |_| {
            let opened = opened.clone();
            async move {
                match opened {
                    Some(room) => crate::recent::recent(room).await.unwrap_or_default(),
                    None => crate::recent::RecentPage::default(),
                }
            }
        },
    );

    view! {
        <Suspense fallback=|| view! { <div class="loading">"Loading…"</div> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Viewer { user: Some(user), instance }) => {
                        let recent = recent.await;
                        view! { <chat::ChatPage user instance logout room recent /> }.into_any()
                    }
                    Ok(Viewer { user: None, instance }) => {
                        view! { <login::LoginPage login instance /> }.into_any()
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
}
