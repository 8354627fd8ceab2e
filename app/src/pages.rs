//! The page: the HTML shell, the router and the two states of `/` (login form or chat).

mod chat;
mod login;

use crate::auth::{whoami, Login, Logout, Viewer};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    SsrMode, StaticSegment,
};

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
                <Route path=StaticSegment("") view=Home ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}

/// `/`: the chat for a logged-in session, the login form otherwise.
#[component]
fn Home() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let logout = ServerAction::<Logout>::new();
    // Re-asked after every login or logout, so the page follows the session.
    let viewer = Resource::new(
        move || (login.version().get(), logout.version().get()),
        |_| whoami(),
    );

    view! {
        <Suspense fallback=|| view! { <div class="loading">"Loading…"</div> }>
            {move || Suspend::new(async move {
                match viewer.await {
                    Ok(Viewer { user: Some(user), instance }) => {
                        view! { <chat::ChatPage user instance logout /> }.into_any()
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
