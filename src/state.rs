//! What every handler can reach. Cheap to clone: one pointer to what every handler and socket
//! shares (a socket's task holds a clone for its whole life, so its size counts per socket).

use crate::{
    backend::{Broker, Health, Limiter},
    config::Config,
    history::History,
    hub::Hub,
    metrics::Metrics,
    notices::Notices,
    presence::Presence,
};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use std::sync::Arc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The contents of [`AppState`].
pub struct Shared {
    pub config: Arc<Config>,
    /// This instance's name, as users see it.
    pub instance: String,
    pub broker: Arc<dyn Broker>,
    /// Rate-limit buckets, shared by every instance.
    pub limiter: Arc<dyn Limiter>,
    /// Sockets open on this instance, per user: the caps.
    pub admission: crate::ws::Admission,
    /// Whether the backend can deliver right now (readiness).
    pub health: Health,
    pub hub: Hub,
    pub history: Arc<History>,
    /// Join and leave notices, throttled per room.
    pub notices: Notices,
    /// This instance's share of every room's presence.
    pub presence: Presence,
    pub leptos: LeptosOptions,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server starts draining: readiness turns 503, new sockets are refused,
    /// and every socket task schedules its close.
    pub shutdown: CancellationToken,
    /// Tracks socket tasks, so shutdown can wait until every socket is closed.
    pub sockets: TaskTracker,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
