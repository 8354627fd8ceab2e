//! The headers that tell a browser what this app's pages may do:
//!
//! - a `Content-Security-Policy` on every page: scripts only from this origin or inline with the
//!   page's nonce (Leptos puts a fresh one on every inline script it renders: the hydration
//!   bootstrap and the resources it streams), WebAssembly compilation (`'wasm-unsafe-eval'`,
//!   which allows compiling WASM and nothing else), styles, images and connections (the
//!   WebSocket too) only to this origin, no plugins, no `<base>`, forms only to this origin, and
//!   no framing by any site;
//! - on every response: `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`,
//!   `X-Frame-Options: DENY` (framing, for browsers without `frame-ancestors`),
//!   `Cross-Origin-Opener-Policy: same-origin`, and over https `Strict-Transport-Security`.

use axum::{
    extract::Request,
    http::{header, HeaderName, HeaderValue},
    middleware::{self, Next},
    response::Response,
};
use tower_http::set_header::SetResponseHeaderLayer;

/// The policy for a page whose inline scripts carry `nonce`.
pub fn content_security_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// Sets the page's policy, with the nonce Leptos renders it with. Called in the context of every
/// server-rendered page (and server function, where it is harmless).
pub fn provide_content_security_policy() {
    let Some(nonce) = leptos::nonce::use_nonce() else {
        return;
    };
    if let (Some(response), Ok(policy)) = (
        leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
        HeaderValue::from_str(&content_security_policy(&nonce)),
    ) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, policy);
    }
}

/// The headers every response carries, whatever it is (a layer each; a handler that set one
/// keeps its own).
pub fn headers<S>(router: axum::Router<S>) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let fixed = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    fixed.into_iter().fold(
        router.layer(middleware::from_fn(hsts)),
        |router, (name, value)| {
            router.layer(SetResponseHeaderLayer::if_not_present(
                name,
                HeaderValue::from_static(value),
            ))
        },
    )
}

/// How long a browser that saw the app over https keeps to https (a year).
const HSTS: &str = "max-age=31536000";

/// `Strict-Transport-Security` over https only. A middleware rather than a header layer: it
/// depends on the request (its scheme, or the proxy's `X-Forwarded-Proto`), which a response
/// header layer does not see.
async fn hsts(request: Request, next: Next) -> Response {
    let https = super::cookies::came_over_https(&request);
    let mut response = next.run(request).await;
    if https {
        response
            .headers_mut()
            .entry(header::STRICT_TRANSPORT_SECURITY)
            .or_insert(HeaderValue::from_static(HSTS));
    }
    response
}
