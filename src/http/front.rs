//! `GET /`: the lobby's page, and the session rotation the tutorial does on it.
//!
//! A logged-in session gets a new id on every load of `/` (the tutorial's trick, kept on
//! purpose). The reconnecting client probes `/` before it reopens its socket, so every reconnect
//! and every page load cycles the id: a stolen cookie stops working soon after its owner's next
//! visit. The user is kept; the old id is *retired*, not deleted, and works for a grace period
//! (`SESSION_GRACE_SECS`) so two tabs that probe at the same moment both stay logged in. Nothing
//! else rotates: not the `/ws` upgrade, not the other pages.
//!
//! The client's probe says so ([`PROBE_HEADER`]) and gets `204 No Content`: the same rotation
//! and the same session header, without the page.

use crate::{backend, sign_ins::SignIns};
use app::protocol::{PROBE_HEADER, SESSION_HEADER};
use axum::{
    body::Body,
    extract::Request,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use std::{future::Future, pin::Pin};
use tower_sessions::Session;

/// Renders the page for a request (Leptos' renderer for the route).
pub type Render =
    dyn Fn(Request<Body>) -> Pin<Box<dyn Future<Output = Response> + Send>> + Send + Sync;

/// Answers `GET /`: rotates a logged-in session's id, then sends the page (or, to the probe,
/// `204`), saying in [`SESSION_HEADER`] whether the session is logged in.
pub async fn page(request: Request, sign_ins: &SignIns, render: &Render) -> Response {
    let logged_in = match request.extensions().get::<Session>() {
        Some(session) => rotate_if_logged_in(session, sign_ins).await,
        None => false,
    };
    let mut response = if request.headers().contains_key(PROBE_HEADER) {
        (
            StatusCode::NO_CONTENT,
            [(header::CACHE_CONTROL, "no-store")],
        )
            .into_response()
    } else {
        render(request).await
    };
    // Tells the reconnecting client whether its session survived, without parsing the page.
    response.headers_mut().insert(
        SESSION_HEADER,
        HeaderValue::from_static(if logged_in { "active" } else { "none" }),
    );
    response
}

/// Gives a logged-in session a new id (see the module); whether it is logged in. An account's
/// sign-in that was ended elsewhere (a changed password) is not: its session is deleted, and
/// the reconnecting client shows the sign-in page rather than a socket that is refused.
async fn rotate_if_logged_in(session: &Session, sign_ins: &SignIns) -> bool {
    match app::session::sign_in(session).await {
        Ok(Some(sign_in)) if sign_ins.is_ended(&sign_in).await.unwrap_or(false) => {
            if let Err(e) = app::session::end(session).await {
                tracing::warn!(error = %e, "could not delete an ended session");
            }
            false
        }
        Ok(Some(_)) => {
            if let Err(e) = backend::rotate(session).await {
                tracing::warn!(error = %e, "could not rotate the session id");
            }
            true
        }
        Ok(None) => false,
        Err(e) => {
            tracing::warn!(error = %e, "session store failed");
            false
        }
    }
}
