//! What every handler and socket can reach, and the one place it is wired together.
//!
//! [`Services::wire`] builds the instance's services over a backend's [`Stores`]: the
//! [`crate::application::Application`] calls it, and so do the tests, so both run the same
//! wiring. [`AppState`] is cheap to clone: one pointer to the services (a socket's task holds a
//! clone for its whole life, so its size counts per socket).

use crate::{
    access::Access,
    accounts::AccountStore,
    admission::Admission,
    backend::{Deliveries, Health, Limiter, MessageLog, ReadMarks, RoomLists, Signals, Stores},
    conversations::Conversations,
    history::History,
    hub::Hub,
    memberships::Memberships,
    metrics::Metrics,
    notices::Notices,
    origins::Origins,
    presence::Presence,
    settings::{Limits, PresenceSettings, SessionSettings, SocketSettings},
    sign_ins::SignIns,
    streams::Streams,
};
use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use secrecy::SecretString;
use std::{future::Future, sync::Arc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

/// What the services are told (each takes its own part).
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// This instance's name, as users see it.
    pub instance: String,
    pub socket: SocketSettings,
    pub limits: Limits,
    pub presence: PresenceSettings,
    pub sessions: SessionSettings,
    /// Which sites may act with a user's cookie (the socket's `Origin` is checked).
    pub origins: Arc<Origins>,
    /// When set, `GET /metrics` needs this bearer token.
    pub metrics_token: Option<SecretString>,
    /// Whether a name alone lets someone in, as a guest.
    pub guests: bool,
    /// The server's admins, by handle.
    pub admins: Vec<app::protocol::Handle>,
    /// The OpenID provider to sign in with, if any.
    pub sso: Option<crate::settings::SsoSettings>,
    pub leptos: LeptosOptions,
}

/// The durable records, shared by every instance (PostgreSQL, or memory).
pub struct Records {
    pub accounts: Arc<dyn AccountStore>,
    pub memberships: Arc<dyn Memberships>,
}

impl Records {
    /// Records in this process's memory.
    pub fn in_memory() -> Self {
        Self {
            accounts: crate::accounts::in_memory(),
            memberships: crate::memberships::in_memory(),
        }
    }
}

/// The instance's services: the contents of [`AppState`].
pub struct Services {
    pub settings: ServiceSettings,
    /// The rooms' shared message logs (appends; history reads go through [`Self::history`]).
    pub log: Arc<dyn MessageLog>,
    /// Logouts and typing, between instances.
    pub signals: Arc<dyn Signals>,
    /// Rate-limit buckets, shared by every instance.
    pub limiter: Arc<dyn Limiter>,
    /// The rooms each person has open (the page opens them all).
    pub room_lists: Arc<dyn RoomLists>,
    /// How far each person has read each room (the unread counts of every tab and device).
    pub read_marks: Arc<dyn ReadMarks>,
    /// Sign-ups, sign-ins, guests and their limits, over the accounts.
    pub sign_ins: Arc<SignIns>,
    /// Rooms, their members and roles, bans and the moderation log.
    pub memberships: Arc<dyn Memberships>,
    /// Who may enter which room, over [`Self::memberships`]: every door asks it.
    pub access: Access,
    /// The room calls: making rooms, invitations, removals, moderation.
    pub conversations: Arc<Conversations>,
    /// Single sign-on, when a provider is configured.
    pub sso: Option<crate::sso::Sso>,
    /// Sockets open on this instance, per user: the caps.
    pub admission: Admission,
    /// Whether the backend can deliver right now (readiness).
    pub health: Health,
    pub hub: Hub,
    pub history: History,
    /// Join and leave notices, throttled per room.
    pub notices: Notices,
    /// This instance's share of every room's presence.
    pub presence: Presence,
    pub metrics: Arc<Metrics>,
    /// Cancelled when the server starts draining: readiness turns 503, new sockets are refused,
    /// and every socket task schedules its close.
    pub shutdown: CancellationToken,
    /// Tracks socket tasks, so shutdown can wait until every socket is closed.
    pub sockets: TaskTracker,
    /// The event streams open here (the WebSocket's stand-in), for their clients' posts.
    pub streams: Streams,
}

impl Services {
    /// Wires the services over `stores`. Returns the state and the background work the caller
    /// runs for as long as the instance lives: presence keeping, and the fan-out pump that
    /// hands `deliveries` to the hub (a test may hold the deliveries back and hand them over
    /// itself, see [`Background::pump`]).
    pub fn wire(
        stores: Stores,
        records: Records,
        deliveries: Deliveries,
        settings: ServiceSettings,
        metrics: Arc<Metrics>,
    ) -> (AppState, Background) {
        let settings_sso = settings.sso.clone().map(crate::sso::Sso::new);
        let sign_ins = Arc::new(SignIns {
            accounts: records.accounts.clone(),
            memberships: records.memberships.clone(),
            limiter: stores.limiter.clone(),
            signals: stores.signals.clone(),
            metrics: metrics.clone(),
            limits: settings.limits,
            guests: settings.guests,
            session_ttl: settings.sessions.ttl,
        });
        let conversations = Arc::new(Conversations {
            memberships: records.memberships.clone(),
            accounts: records.accounts,
            signals: stores.signals.clone(),
            room_lists: stores.room_lists.clone(),
            presence: stores.presence.clone(),
            log: stores.log.clone(),
            sign_ins: sign_ins.clone(),
            admins: settings
                .admins
                .iter()
                .map(crate::accounts::HandleKey::of)
                .collect(),
        });
        let streams = Streams::new(stores.inbox.clone());
        let hub = Hub::new(
            stores.subscriptions,
            stores.presence.clone(),
            streams.clone(),
        );
        let notices = Notices::new(stores.log.clone());
        let presence = Presence::new(stores.presence, notices.clone(), settings.presence);
        let services = Services {
            settings,
            history: History::new(stores.log.clone()),
            log: stores.log,
            signals: stores.signals,
            limiter: stores.limiter,
            room_lists: stores.room_lists,
            read_marks: stores.read_marks,
            sign_ins,
            access: Access::new(records.memberships.clone()),
            memberships: records.memberships,
            conversations,
            sso: settings_sso,
            admission: Admission::default(),
            health: stores.health,
            hub: hub.clone(),
            notices,
            presence: presence.clone(),
            metrics,
            shutdown: CancellationToken::new(),
            sockets: TaskTracker::new(),
            streams,
        };
        let background = Background {
            presence,
            hub,
            deliveries,
        };
        (AppState(Arc::new(services)), background)
    }
}

/// The work that keeps an instance's services current, for the caller to run.
pub struct Background {
    presence: Presence,
    hub: Hub,
    pub deliveries: Deliveries,
}

impl Background {
    /// Holds this instance's presence entries until `stop`.
    pub fn presence(&self, stop: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
        self.presence.clone().run(stop)
    }

    /// Hands every delivery to the hub until the backend closes the channel.
    pub fn pump(self) -> impl Future<Output = ()> + Send + 'static {
        self.hub.pump(self.deliveries)
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.settings.leptos.clone()
    }
}
