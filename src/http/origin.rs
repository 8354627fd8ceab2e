//! The cross-site guard: a request that would change something (any method but `GET`, `HEAD`
//! and `OPTIONS`: here, every server function call) from a page on another site is refused with
//! `403` and a JSON reason, before it reaches a handler. The WebSocket upgrade, a `GET`, checks
//! the same [`Origins`] itself (`crate::ws`).

use crate::origins::Origins;
use axum::{
    extract::{Request, State},
    http::{Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    Json,
};
use std::sync::Arc;

/// Refuses a request that changes something from another site (see the module).
pub async fn guard(State(origins): State<Arc<Origins>>, request: Request, next: Next) -> Response {
    let changes = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if changes && !origins.allow(request.headers()) {
        let body = serde_json::json!({
            "error": "cross_site",
            "reason": "This request came from another site, which may not act for you here.",
        });
        return (StatusCode::FORBIDDEN, Json(body)).into_response();
    }
    next.run(request).await
}
