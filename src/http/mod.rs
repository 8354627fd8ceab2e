//! The HTTP surface: which path goes where, and the layers around them.
//!
//! | path | what |
//! |---|---|
//! | `/` | the page (server-rendered; login form or chat); rotates the session id ([`front`]) |
//! | `/r/<room>` | a room's page |
//! | `/api/login`, `/api/logout`, `/api/whoami`, `/api/recent` | server functions (`app::auth`; their server side is [`doorman`]) |
//! | `/ws?room=` | the WebSocket (logged-in sessions only) |
//! | `/healthz` | liveness: 200 while the process serves |
//! | `/readyz` | readiness: 503 while draining or while Redis does not answer, for the load balancer |
//! | `/pkg/*`, assets | the built site |
//!
//! Only the pages, the server functions and the socket sit behind the session layer: serving the
//! WASM bundle needs no session look-up. Around everything: the cross-site guard ([`origin`]),
//! the body limit, the security headers ([`security`]), request logs and compression.

mod cookies;
mod doorman;
mod front;
mod origin;
mod security;
mod sso;

use crate::{backend::Sessions, sse, state::AppState, telemetry, ws};
use app::{
    auth::{Doors, InstanceName},
    calls::Pending,
    protocol::{ChatMessage, RoomName, User, UserId},
    shell, App,
};
use axum::{
    extract::{DefaultBodyLimit, State},
    http::{HeaderMap, StatusCode},
    middleware,
    response::Response,
    routing::{get, post},
    Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{
    file_and_error_handler_with_context, generate_route_list_with_exclusions,
    render_app_async_with_context, LeptosRoutes,
};
use std::sync::Arc;
use tower_http::compression::CompressionLayer;
use tower_sessions::{cookie::SameSite, Expiry, SessionManagerLayer};

/// The largest request body taken (a server function's arguments: a name, a room); a larger
/// one gets `413`.
pub const BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState, sessions: Sessions) -> Router {
    let ttl = time::Duration::seconds(
        i64::try_from(state.settings.sessions.ttl.as_secs()).unwrap_or(i64::MAX),
    );
    let cookie = state.settings.sessions.cookie.clone();
    let session_layer = SessionManagerLayer::new(sessions)
        .with_name(cookie.clone())
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_path("/")
        .with_secure(state.settings.sessions.secure)
        .with_expiry(Expiry::OnInactivity(ttl))
        // Saving on every request slides an active user's expiry in the store.
        .with_always_save(true);

    let instance = InstanceName(state.settings.instance.clone());
    let recent = app::recent::ssr::Recent(Arc::new(RecentFromHistory(state.clone())));
    let doors = Doors(Arc::new(doorman::Doors(state.clone())));
    let open_rooms = app::rooms::ssr::OpenRooms(Arc::new(RoomListsOf(state.clone())));
    let stewards = app::conversations::ssr::Stewards(state.conversations.clone());
    let leptos_options = state.settings.leptos.clone();

    // What every page and server function gets in its context.
    let context = move || {
        provide_context(instance.clone());
        provide_context(recent.clone());
        provide_context(doors.clone());
        provide_context(open_rooms.clone());
        provide_context(stewards.clone());
        security::provide_content_security_policy();
    };
    let app = move || shell(leptos_options.clone());
    // `/` is served by its own handler (it rotates the session), the other routes by Leptos'.
    let routes = generate_route_list_with_exclusions(App, Some(vec!["/".to_owned()]));
    let render_front: Arc<front::Render> = {
        let state = state.clone();
        let context = context.clone();
        Arc::new(render_app_async_with_context(
            move || {
                provide_context(state.clone());
                provide_context(leptos_router::Method::Get);
                context();
            },
            app.clone(),
        ))
    };

    let router =
        Router::new()
            .route("/ws", get(ws::upgrade))
            .route("/sse", get(sse::open))
            .route("/sse/{stream}", post(sse::post))
            .route("/auth/oidc/start", get(sso::start))
            .route(crate::sso::CALLBACK_PATH, get(sso::callback))
            .route(
                "/",
                get({
                    let state = state.clone();
                    move |request| async move {
                        front::page(request, &state.sign_ins, &*render_front).await
                    }
                }),
            )
            .leptos_routes_with_context(&state, routes, context.clone(), app)
            .layer(session_layer)
            .layer(middleware::from_fn_with_state(
                cookie,
                cookies::session_cookie,
            ))
            .route("/healthz", get(|| async { "ok" }))
            .route("/metrics", get(metrics))
            .route("/readyz", get(ready))
            .fallback(file_and_error_handler_with_context::<AppState, _>(
                context, shell,
            ))
            .layer(middleware::from_fn_with_state(
                state.settings.origins.clone(),
                origin::guard,
            ))
            .layer(DefaultBodyLimit::max(BODY_LIMIT));
    security::headers(router)
        .layer(telemetry::requests())
        .layer(CompressionLayer::new())
        .with_state(state)
}

/// `GET /metrics` (see `crate::metrics`), with the gauges read now.
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let metrics = &state.metrics;
    metrics.rooms_open.set(gauge(state.hub.room_count()));
    metrics.presence_held.set(gauge(state.presence.held()));
    crate::metrics::respond(metrics, state.settings.metrics_token.as_ref(), &headers)
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Ready while not draining and while the backend proves it delivers (a pub/sub round trip on
/// this instance's probe channel, see `backend::health`); the load balancer stops sending new
/// clients once this fails.
async fn ready(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining");
    }
    match state.health.check() {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}

/// Recent messages for the page a room opens on, from the same shared history reads sockets use.
struct RecentFromHistory(AppState);

impl app::recent::ssr::Source for RecentFromHistory {
    fn recent(&self, user: User, room: RoomName) -> Pending<'_, Result<Vec<ChatMessage>, String>> {
        Box::pin(async move {
            if let Err(refusal) = self.0.access.read(&user, &room).await {
                tracing::info!(%room, ?refusal, "not rendering a room's history");
                return Ok(Vec::new());
            }
            let now = tokio::time::Instant::now();
            let history = &self.0.history;
            match history.recent(&room, ws::HISTORY_ON_JOIN, now).await {
                Ok(page) => Ok(page.messages.to_vec()),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}

/// The user's open rooms for the page, from the backend's room lists.
struct RoomListsOf(AppState);

impl app::rooms::ssr::RoomLists for RoomListsOf {
    fn rooms(&self, user: UserId) -> Pending<'_, Result<Vec<RoomName>, String>> {
        Box::pin(async move {
            self.0
                .room_lists
                .rooms(user)
                .await
                .map_err(|e| e.to_string())
        })
    }
}
