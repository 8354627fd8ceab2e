//! The WASM entry point: hydrate the server-rendered page. Everything else lives in `app`.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Hydration waits for the chunks of the parts the server rendered (app::later).
    leptos::mount::hydrate_lazy(app::App);
}
