//! The login form. It posts to the `login` server function, so it works before (and without) WASM.

use crate::auth::Login;
use crate::protocol::MAX_NAME_CHARS;
use leptos::prelude::*;

#[component]
pub fn LoginPage(login: ServerAction<Login>, instance: String) -> impl IntoView {
    let error = move || {
        login
            .value()
            .get()
            .and_then(|result| result.err())
            .map(|e| e.to_string())
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
