//! Logout everywhere means everywhere: after `POST /api/logout` deletes the session, every
//! instance is told, and the user's open sockets close with 4401 (see `ws::connection`).
//!
//! The session id alone cannot find those sockets: `GET /` rotates the id on every page load and
//! reconnect, so an open socket's id is long retired. What all of them share is the user id,
//! which stays with the session across rotations; the logout is announced by user id.

use crate::state::AppState;
use axum::{
    extract::{Request, State},
    http::Method,
    middleware::Next,
    response::Response,
};
use tower_sessions::Session;

pub async fn everywhere(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || request.uri().path() != "/api/logout" {
        return next.run(request).await;
    }
    let user = match request.extensions().get::<Session>() {
        Some(session) => app::session::user(session).await.ok().flatten(),
        None => None,
    };
    let response = next.run(request).await;
    if let Some(user) = user {
        if response.status().is_success() || response.status().is_redirection() {
            if let Err(e) = state.broker.revoke(user.id, state.config.session_ttl).await {
                // The session is gone, so no new socket opens; open ones close at the next
                // interruption check. Worth a warning, not a failed logout.
                tracing::warn!(error = %e, "could not announce a logout to the other instances");
            }
        }
    }
    response
}
