//! The account menu in the header, for an account (a guest has none): change the password (the
//! account's other sign-ins end everywhere) or delete the account.

use crate::auth::{ChangePassword, DeleteAccount};
use crate::later::{Part, Unfold};
use crate::protocol::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use leptos::prelude::*;
use leptos::wasm_split::wasm_split;

/// What a finished action says: its error, or `done` once it succeeded.
fn outcome<E: ToString>(value: Option<Result<(), E>>, done: &str) -> Option<String> {
    match value? {
        Ok(()) => Some(done.to_owned()),
        Err(e) => Some(e.to_string()),
    }
}

/// "Account" in the header; its forms are fetched when it is first opened ([`crate::later`]).
#[component]
pub fn AccountMenu(
    /// Held by the page, which follows the session: after a deletion it shows the sign-in page.
    delete: ServerAction<DeleteAccount>,
) -> impl IntoView {
    view! {
        <Unfold class="account" summary="Account" load=move || account_panel(delete) attr:data-testid="account" />
    }
}

/// The account's forms (a split point).
#[wasm_split(account, fallible, wasm_split_path = ::leptos::wasm_split, preload(preload_account))]
pub fn account_panel(delete: ServerAction<DeleteAccount>) -> Part {
    Ok(view! { <AccountPanel delete /> }.into_any())
}

#[component]
fn AccountPanel(delete: ServerAction<DeleteAccount>) -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let changed = move || {
        outcome(
            change.value().get(),
            "Password changed. Your other devices are signed out.",
        )
    };
    let deleted = move || outcome(delete.value().get(), "");
    view! {
            <div class="account-panel">
                <ActionForm action=change attr:class="login-form">
                    <h2>"Change password"</h2>
                    <label for="current-password">"Current password"</label>
                    <input
                        id="current-password"
                        name="current"
                        type="password"
                        autocomplete="current-password"
                        maxlength=MAX_PASSWORD_CHARS
                        required
                    />
                    <label for="new-password">"New password"</label>
                    <input
                        id="new-password"
                        name="new"
                        type="password"
                        autocomplete="new-password"
                        minlength=MIN_PASSWORD_CHARS
                        maxlength=MAX_PASSWORD_CHARS
                        required
                    />
                    <button type="submit" disabled=move || change.pending().get()>
                        "Change password"
                    </button>
                    <p class="form-status" role="status" data-testid="change-password-result">
                        {changed}
                    </p>
                </ActionForm>
                <ActionForm action=delete attr:class="login-form">
                    <h2>"Delete account"</h2>
                    <p class="hint">"Your messages stay. Your handle becomes free for anyone."</p>
                    <label for="delete-password">"Password"</label>
                    <input
                        id="delete-password"
                        name="password"
                        type="password"
                        autocomplete="current-password"
                        maxlength=MAX_PASSWORD_CHARS
                        required
                    />
                    <button type="submit" class="danger" disabled=move || delete.pending().get()>
                        "Delete my account"
                    </button>
                    <p class="form-error" role="alert" data-testid="delete-account-error">
                        {deleted}
                    </p>
                </ActionForm>
            </div>
    }
}
