//! `GET /` gives a logged-in session a new id (the tutorial's trick, kept on purpose).
//!
//! The reconnecting client probes `/` before it reopens its socket, so every reconnect and every
//! page load cycles the id: a stolen cookie stops working soon after its owner's next visit. The
//! user is kept; the old id is *retired*, not deleted, and works for a grace period
//! (`SESSION_GRACE_SECS`) so two tabs that probe at the same moment both stay logged in. The
//! `/ws` upgrade never rotates.
//!
//! The client's probe says so ([`PROBE_HEADER`]) and gets `204 No Content`: the same rotation
//! and the same session header, without the page.

use crate::backend::retiring;
use app::protocol::{PROBE_HEADER, SESSION_HEADER};
use axum::{
    extract::Request,
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use tower_sessions::Session;

pub async fn on_page_load(request: Request, next: Next) -> Response {
    if request.method() != Method::GET || request.uri().path() != "/" {
        return next.run(request).await;
    }
    let mut logged_in = false;
    if let Some(session) = request.extensions().get::<Session>().cloned() {
        match app::session::user(&session).await {
            Ok(Some(_)) => {
                logged_in = true;
                if let Err(e) = retiring(session.cycle_id()).await {
                    tracing::warn!(error = %e, "could not rotate the session id");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "session store failed"),
        }
    }
    let mut response = if request.headers().contains_key(PROBE_HEADER) {
        (
            StatusCode::NO_CONTENT,
            [(header::CACHE_CONTROL, "no-store")],
        )
            .into_response()
    } else {
        next.run(request).await
    };
    // Tells the reconnecting client whether its session survived, without parsing the page.
    response.headers_mut().insert(
        SESSION_HEADER,
        HeaderValue::from_static(if logged_in { "active" } else { "none" }),
    );
    response
}
