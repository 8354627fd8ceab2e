//! How a person is shown beside their display name: their `@handle`, or a mark that they are a
//! guest. Display names are anyone's to choose, so the mark is what tells people apart: a guest
//! named "ada" never passes for the account `@ada`.

use crate::protocol::User;
use leptos::prelude::*;

#[component]
pub fn Badge(user: User) -> impl IntoView {
    match user.handle {
        Some(handle) => view! { <span class="handle">{format!("@{handle}")}</span> }.into_any(),
        None => view! {
            <span class="guest" title="A guest: signed in with a name only, no account">"guest"</span>
        }
        .into_any(),
    }
}
