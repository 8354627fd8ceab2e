//! The way in: sign in, create an account, or (where the server allows it) join as a guest. Each
//! form posts to its server function, so all of them work before (and without) the WASM.

use crate::auth::{AuthError, Login, SignIn, SignUp, SsoHandle, AUTH_ERROR_PARAM};
use crate::protocol::{MAX_HANDLE_CHARS, MAX_NAME_CHARS, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The server actions behind the forms (the page re-asks who is signed in after each).
#[derive(Clone, Copy)]
pub struct Doors {
    pub sign_in: ServerAction<SignIn>,
    pub sign_up: ServerAction<SignUp>,
    pub guest: ServerAction<Login>,
    pub sso_handle: ServerAction<SsoHandle>,
}

/// Which form a refusal belongs to, after a plain form post brought it back in the address.
fn form_of(error: &AuthError) -> &'static str {
    match error {
        AuthError::InvalidName(_) | AuthError::GuestsOff | AuthError::NameIsAHandle => "guest",
        AuthError::InvalidHandle(_) | AuthError::WeakPassword(_) | AuthError::HandleTaken => {
            "sign_up"
        }
        _ => "sign_in",
    }
}

#[component]
pub fn LoginPage(
    doors: Doors,
    guests: bool,
    /// The OpenID provider's name, when single sign-on is configured.
    sso: Option<String>,
    /// A single sign-on waiting for a handle: the username the provider offered.
    choosing_handle: Option<String>,
    instance: String,
) -> impl IntoView {
    if let Some(offered) = choosing_handle {
        return view! { <ChooseHandle action=doors.sso_handle offered instance /> }.into_any();
    }
    // From the action when the hydrated page sent the form; from the URL after a plain form post
    // (see `auth::ssr::refuse`).
    let query = use_query_map();
    let posted = move |form: &str| {
        query
            .read()
            .get(AUTH_ERROR_PARAM)
            .and_then(|code| AuthError::from_query(&code))
            .filter(|error| form_of(error) == form)
            .map(|e| e.to_string())
    };
    let Doors {
        sign_in,
        sign_up,
        guest,
        ..
    } = doors;
    // The action's answer once the hydrated page sent the form, else what the address says.
    let sign_in_error = move || match sign_in.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        Some(Ok(_)) => None,
        None => posted("sign_in"),
    };
    let sign_up_error = move || match sign_up.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        Some(Ok(_)) => None,
        None => posted("sign_up"),
    };
    let guest_error = move || match guest.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        Some(Ok(_)) => None,
        None => posted("guest"),
    };
    // A refused sign-up opens its form again (after a plain post too).
    let sign_up_open = move || sign_up_error().is_some();
    let busy = move || sign_in.pending().get() || sign_up.pending().get() || guest.pending().get();

    view! {
        <main class="login">
            <section class="login-card">
                <h1 class="brand">"Switchboard"</h1>
                <p class="tagline">"Real-time chat that keeps going when servers don't."</p>
                {sso
                    .map(|name| {
                        view! {
                            <a class="button sso" href="/auth/oidc/start" rel="external" data-testid="sso">
                                {format!("Sign in with {name}")}
                            </a>
                        }
                    })}
                <ActionForm action=sign_in attr:class="login-form" attr:data-testid="sign-in-form">
                    <h2>"Sign in"</h2>
                    <label for="sign-in-handle">"Handle"</label>
                    <HandleInput id="sign-in-handle" autofocus=!guests hint=None />
                    <label for="sign-in-password">"Password"</label>
                    <input
                        id="sign-in-password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        maxlength=MAX_PASSWORD_CHARS
                        required
                    />
                    <button type="submit" disabled=busy>"Sign in"</button>
                    <p class="form-error" role="alert" data-testid="sign-in-error">
                        {sign_in_error}
                    </p>
                </ActionForm>
                <details class="sign-up" open=sign_up_open>
                    <summary>"New here? Create an account"</summary>
                    <ActionForm action=sign_up attr:class="login-form" attr:data-testid="sign-up-form">
                        <label for="sign-up-handle">"Choose a handle"</label>
                        <HandleInput id="sign-up-handle" autofocus=false hint=Some("sign-up-handle-hint") />
                        <p class="hint" id="sign-up-handle-hint">
                            "Letters, digits, '.', '-' and '_'. People find you as @handle."
                        </p>
                        <label for="sign-up-name">"Display name (optional)"</label>
                        <input
                            id="sign-up-name"
                            name="name"
                            type="text"
                            autocomplete="nickname"
                            maxlength=MAX_NAME_CHARS
                        />
                        <label for="sign-up-password">"Password"</label>
                        <input
                            id="sign-up-password"
                            name="password"
                            type="password"
                            autocomplete="new-password"
                            minlength=MIN_PASSWORD_CHARS
                            maxlength=MAX_PASSWORD_CHARS
                            required
                            aria-describedby="sign-up-password-hint"
                        />
                        <p class="hint" id="sign-up-password-hint">
                            {format!("At least {MIN_PASSWORD_CHARS} characters. A few unrelated words make a strong one.")}
                        </p>
                        <button type="submit" disabled=busy>"Create account"</button>
                        <p class="form-error" role="alert" data-testid="sign-up-error">
                            {sign_up_error}
                        </p>
                    </ActionForm>
                </details>
                {guests
                    .then(|| {
                        view! {
                            <ActionForm action=guest attr:class="login-form guest-form" attr:data-testid="guest-form">
                                <h2>"Or join as a guest"</h2>
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
                                <button type="submit" disabled=busy>"Join the chat"</button>
                                <p class="form-error" role="alert" data-testid="login-error">
                                    {guest_error}
                                </p>
                            </ActionForm>
                        }
                    })}
                <p class="served-by">"Served by instance " <code data-testid="page-instance">{instance}</code></p>
            </section>
        </main>
    }
    .into_any()
}

/// A handle field: typed as it is (no capitals or corrections added), one character longer than a
/// handle so a leading `@` fits.
#[component]
fn HandleInput(id: &'static str, autofocus: bool, hint: Option<&'static str>) -> impl IntoView {
    view! {
        <input
            id=id
            name="handle"
            type="text"
            autocomplete="username"
            autocapitalize="none"
            spellcheck="false"
            maxlength=MAX_HANDLE_CHARS + 1
            required
            autofocus=autofocus
            aria-describedby=hint
        />
    }
}

/// The last step of a first single sign-on whose username was taken: the person picks a handle.
/// Accounts are never merged: this makes a new one, signed in to through the provider.
#[component]
fn ChooseHandle(
    action: ServerAction<SsoHandle>,
    offered: String,
    instance: String,
) -> impl IntoView {
    let error = move || match action.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    view! {
        <main class="login">
            <section class="login-card">
                <h1 class="brand">"Switchboard"</h1>
                <ActionForm action=action attr:class="login-form" attr:data-testid="choose-handle-form">
                    <h2>"Choose your handle"</h2>
                    <p class="hint">
                        {if offered.is_empty() {
                            "Your provider gave no username. Pick the handle people will know you by.".to_owned()
                        } else {
                            format!("Someone here already has the handle {offered}. Pick another.")
                        }}
                    </p>
                    <label for="sso-handle">"Handle"</label>
                    <HandleInput id="sso-handle" autofocus=true hint=None />
                    <button type="submit" disabled=move || action.pending().get()>"Create account"</button>
                    <p class="form-error" role="alert" data-testid="choose-handle-error">{error}</p>
                </ActionForm>
                <p class="served-by">"Served by instance " <code>{instance}</code></p>
            </section>
        </main>
    }
}
