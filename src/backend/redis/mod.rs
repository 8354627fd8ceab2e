//! The Redis backend: sessions, a Stream per room, and pub/sub between instances.
//!
//! Two kinds of connection, as Redis requires: one multiplexed [`ConnectionManager`] for commands
//! (it reconnects by itself), and one pub/sub connection per instance, owned by the
//! [`subscriber`] task.

mod broker;
mod codec;
mod limits;
mod presence;
mod sessions;
mod subscriber;
mod timed;

pub use timed::Timed;

pub use broker::RedisBroker;
pub use presence::RedisPresence;
pub use sessions::RedisSessionStore;

use super::{delivery, Backend, Health, Sessions};
use crate::config::{Config, RedisUrl};
use crate::metrics::Metrics;
use anyhow::Context;
use app::protocol::RoomName;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::{sync::Arc, time::Duration};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// How long a command may wait for Redis' answer. Short, so a stalled Redis turns a send into
/// a prompt `unavailable` (which the client retries) rather than a hang.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Names of everything this app keeps in Redis, all under one prefix.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    /// The pub/sub channel of a room.
    pub fn channel(&self, room: &RoomName) -> String {
        format!("{}room:{room}", self.prefix)
    }

    /// The room a channel name belongs to, if it is one of ours.
    pub fn room_of_channel(&self, channel: &str) -> Option<RoomName> {
        let name = channel.strip_prefix(&self.prefix)?.strip_prefix("room:")?;
        RoomName::parse(name).ok()
    }

    /// A room's presence entries: `<user id>|<instance>` scored by deadline.
    pub fn presence_entries(&self, room: &RoomName) -> String {
        format!("{}here:{room}", self.prefix)
    }

    /// A room's present users, by id.
    pub fn presence_users(&self, room: &RoomName) -> String {
        format!("{}who:{room}", self.prefix)
    }

    /// How many entries each present user has in a room.
    pub fn presence_counts(&self, room: &RoomName) -> String {
        format!("{}whon:{room}", self.prefix)
    }

    /// The Stream holding a room's messages.
    pub fn log(&self, room: &RoomName) -> String {
        format!("{}log:{room}", self.prefix)
    }

    /// Remembers which message a sender's `client_id` became, for idempotent re-sends. Keyed
    /// by sender too, so one client's id can never swallow another user's message.
    pub fn sent(
        &self,
        room: &RoomName,
        user: app::protocol::UserId,
        client_id: &app::protocol::ClientId,
    ) -> String {
        format!("{}sent:{room}:{user}:{}", self.prefix, client_id.0)
    }

    /// The channel every instance listens on for announcements that concern all of them
    /// (logouts).
    pub fn control(&self) -> String {
        format!("{}control", self.prefix)
    }

    /// One instance's own probe channel: it publishes there and must hear itself.
    pub fn probe(&self, instance_nonce: &str) -> String {
        format!("{}probe:{instance_nonce}", self.prefix)
    }

    /// Marks a logged-out user, for instances that missed the announcement.
    pub fn revoked(&self, user: app::protocol::UserId) -> String {
        format!("{}revoked:{user}", self.prefix)
    }

    pub fn session(&self, id: &tower_sessions::session::Id) -> String {
        format!("{}session:{id}", self.prefix)
    }

    /// A rate-limit bucket (`message:<user>`, `login:<address>`...).
    pub fn rate(&self, bucket: &str) -> String {
        format!("{}rate:{bucket}", self.prefix)
    }

    /// Where a rotated-away session id lives out its grace period.
    pub fn retired_session(&self, id: &tower_sessions::session::Id) -> String {
        format!("{}retired:{id}", self.prefix)
    }
}

impl From<::redis::RedisError> for super::BackendError {
    fn from(e: ::redis::RedisError) -> Self {
        super::BackendError::Unavailable(format!("redis: {e}"))
    }
}

/// Opens the command connection (failing start-up if Redis cannot be reached now), and starts
/// the subscriber task.
pub async fn connect(
    url: &RedisUrl,
    config: &Config,
    instance: &str,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Backend> {
    let client = redis::Client::open(url.expose())
        .with_context(|| format!("REDIS_URL/VCAP_SERVICES: cannot use {}", url.redacted()))?;
    let manager_config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(2);
    let commands = ConnectionManager::new_with_config(client.clone(), manager_config)
        .await
        .with_context(|| format!("cannot connect to Redis at {}", url.redacted()))?;
    let commands = Timed::new(commands, metrics.clone());

    let keys = Keys::new(config.redis_prefix.clone());
    let (deliveries_tx, deliveries) = delivery::channel(delivery::DELIVERY_BUFFER);
    let health = Health::probed(subscriber::PROBE_DEADLINE);
    let subscriber = subscriber::spawn(
        subscriber::Setup {
            client,
            commands: commands.clone(),
            keys: keys.clone(),
            deliveries: deliveries_tx,
            health: health.clone(),
            connect_timeout: CONNECT_TIMEOUT,
            metrics: metrics.clone(),
        },
        tracker,
        shutdown,
    )
    .await
    .with_context(|| format!("cannot open a pub/sub connection to {}", url.redacted()))?;

    Ok(Backend {
        kind: "redis",
        broker: Arc::new(RedisBroker::new(
            commands.clone(),
            keys.clone(),
            config.history_max,
            config.room_idle,
            subscriber,
        )),
        presence: Arc::new(RedisPresence::new(
            commands.clone(),
            keys.clone(),
            instance.to_owned(),
        )),
        limiter: Arc::new(limits::RedisLimiter::new(commands.clone(), keys.clone())),
        sessions: Sessions(Arc::new(RedisSessionStore::new(
            commands,
            keys,
            config.session_grace,
        ))),
        deliveries,
        health,
    })
}
