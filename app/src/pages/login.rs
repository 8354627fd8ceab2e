//! The login form. It posts to the `login` server function, so it works before (and without) WASM.

use crate::auth::{Login, LOGIN_ERROR_PARAM};
use crate::protocol::{NameError, MAX_NAME_CHARS};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage(login: ServerAction<Login>, instance: String) -> impl IntoView {
    // From the action when the hydrated page sent the form; from the URL after a plain form post
    // (see `auth::ssr::invalid_name`).
    let query = use_query_map();
    let error = move || match login.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        Some(Ok(_)) => None,
        None => query
            .read()
            .get(LOGIN_ERROR_PARAM)
            .and_then(|code| {
                serde_json::from_value::<NameError>(serde_json::Value::String(code)).ok()
            })
            .map(|e| e.to_string()),
    };

    view! {
        <main class="login">
            <section class="login-card">
                <h1 class="brand">"Switchboard"</h1>
                <p class="tagline">"Real-time chat that keeps going when servers don't."</p>
                <ActionForm action=login attr:class="login-form">
                    <label for="name">"Your name"</label>
                    <input
                        id="name"
                        name="name"
                        type="text"
                        autocomplete="nickname"
                        maxlength=MAX_NAME_CHARS
                        required
                        autofocus
                        placeholder="e.g. Ada"
                    />
                    <button type="submit" disabled=move || login.pending().get()>
                        "Join the chat"
                    </button>
                    <p class="form-error" role="alert" data-testid="login-error">
                        {error}
                    </p>
                </ActionForm>
                <p class="served-by">"Served by instance " <code data-testid="page-instance">{instance}</code></p>
            </section>
        </main>
    }
}
