//! Parts of the page whose code is not in the first-load bundle.
//!
//! The browser hydrates the page from one WASM module; a part that the first paint does not show
//! (a panel read after the page is up, a form inside a closed `<details>`, the socket task) is a
//! *split point* instead: a function marked with
//! `wasm_split(<chunk>, fallible, …)` whose code, and whatever only it uses, `wasm-split` moves
//! into a chunk of its own at build time (scripts/build.sh). Calling it fetches the chunk the
//! first time, then runs it. On the server the same function is a plain call. A part the server
//! renders is never one: hydrating it would wait on a second fetch.
//!
//! [`later`] shows such a part: nothing while its chunk is on its way, then the part. A chunk that
//! cannot be fetched (the network, or every instance, is down) leaves a short note in its place,
//! and the next time the part is shown it is fetched again: a failed fetch is not remembered.
//! [`preload`] fetches the chunks ahead of use once the page has settled, so a click rarely
//! waits for one.

use leptos::prelude::*;
use std::future::Future;

/// A part's code could not be fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unloaded;

impl From<leptos::wasm_split::SplitLoaderError> for Unloaded {
    fn from(_: leptos::wasm_split::SplitLoaderError) -> Self {
        Unloaded
    }
}

/// What a split point returns: the part's view, or why its code is not here.
pub type Part = Result<AnyView, Unloaded>;

/// Shows the part `load` draws (a call to a split point), once its code has arrived.
pub fn later<Fut>(load: impl Fn() -> Fut + Send + Sync + 'static) -> impl IntoView
where
    Fut: Future<Output = Part> + 'static,
{
    showing(load, None)
}

/// [`later`], setting `failed` when the part's code could not be fetched.
fn showing<Fut>(
    load: impl Fn() -> Fut + Send + Sync + 'static,
    failed: Option<RwSignal<bool>>,
) -> impl IntoView
where
    Fut: Future<Output = Part> + 'static,
{
    view! {
        <Suspense fallback=|| ()>
            {move || {
                // The split point's future is not `Send` (its loader is the browser's); it is
                // only ever polled on the page's one thread.
                let part = send_wrapper::SendWrapper::new(load());
                Suspend::new(async move {
                    part.await
                        .unwrap_or_else(|Unloaded| {
                            if let Some(failed) = failed {
                                failed.set(true);
                            }
                            view! {
                                <p class="form-error" role="alert" data-testid="unloaded">
                                    "This part of the page could not be loaded. Check the connection and try again."
                                </p>
                            }
                                .into_any()
                        })
                })
            }}
        </Suspense>
    }
}

/// A `<details>` whose contents are a split point's part, drawn the first time it is opened: the
/// summary is on the page from the first paint, the code behind it comes when it is wanted. A part
/// whose code could not be fetched is fetched again when the `<details>` is next opened.
#[component]
pub fn Unfold<L, Fut>(
    #[prop(optional)] class: &'static str,
    summary: &'static str,
    load: L,
) -> impl IntoView
where
    L: Fn() -> Fut + Copy + Send + Sync + 'static,
    Fut: Future<Output = Part> + 'static,
{
    let opened = RwSignal::new(false);
    let failed = RwSignal::new(false);
    let toggled = move |ev: leptos::ev::Event| {
        if opens(&ev) {
            opened.set(true);
        } else if failed.get_untracked() {
            failed.set(false);
            opened.set(false);
        }
    };
    view! {
        <details class=class on:toggle=toggled>
            <summary>{summary}</summary>
            {move || opened.get().then(|| showing(load, Some(failed)))}
        </details>
    }
}

/// Whether a `<details>`'s `toggle` event opened it (rather than closed it).
pub fn opens(ev: &leptos::ev::Event) -> bool {
    use leptos::wasm_bindgen::JsCast;
    ev.target()
        .and_then(|t| t.dyn_into::<leptos::web_sys::HtmlDetailsElement>().ok())
        .is_some_and(|d| d.open())
}

/// Fetches a chunk ahead of use: `load` is a split point's preload. Nothing is kept of a
/// failure; the part's own fetch meets it again and shows it.
pub fn preload(
    load: impl Future<Output = Result<(), leptos::wasm_split::SplitLoaderError>> + 'static,
) {
    leptos::task::spawn_local(async move {
        let _ = load.await;
    });
}
