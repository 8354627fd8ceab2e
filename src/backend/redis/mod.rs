//! The Redis backend: sessions, a Stream per room, and pub/sub between instances, on one Redis
//! or on a Redis Cluster.
//!
//! Two kinds of connection, as Redis requires: one multiplexed command connection (it
//! reconnects by itself; on a cluster it routes each command to the node owning its slot), and
//! the instance's subscriber: one pub/sub connection to one Redis ([`subscriber`]), or sharded
//! subscriptions over one connection per node that owns subscribed rooms ([`sharded`]). The
//! stores are generic over the command connection ([`RedisConnection`]); [`Keys`] names everything
//! for the topology in use.

mod broker;
mod codec;
mod limiter;
mod presence_store;
mod read_marks;
mod room_lists;
mod sessions;
mod sharded;
mod subscriber;
mod timed;

pub use timed::Timed;

pub use broker::RedisBroker;
pub use presence_store::RedisPresence;
pub use sessions::RedisSessionStore;

use super::{delivery, Backend, Health, Sessions, Stores};
use crate::metrics::Metrics;
use crate::settings::{RedisTarget, RedisUrl, StoreSettings};
use anyhow::Context;
use app::protocol::RoomName;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use std::{sync::Arc, time::Duration};
use subscriber::SubscriberHandle;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// How long a command may wait for Redis' answer. Short, so a stalled Redis turns a send into
/// a prompt `unavailable` (which the client retries) rather than a hang.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long opening a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How often a cluster command is retried (after `MOVED`, `ASK`, `TRYAGAIN` or a lost node)
/// before the caller hears `unavailable`.
const CLUSTER_RETRIES: u32 = 5;

/// The longest wait between two tries of a subscriber's retry loop.
const RETRY_MAX: Duration = Duration::from_secs(2);

/// The subscribers' retry loops (reconnecting, renewing lost subscriptions): waits from `first`,
/// doubling up to [`RETRY_MAX`], for as long as it takes.
const fn retrying(first: Duration) -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::new()
        .with_min_delay(first)
        .with_max_delay(RETRY_MAX)
        .with_factor(2.0)
        .without_max_times()
}

/// Names of everything this app keeps in Redis, all under one prefix.
///
/// On a cluster ([`Keys::sharded`]) every name that a script or command uses together with
/// others carries the same hash tag, so they live in one slot: a room's stream, `client_id`
/// memory, presence and channel are tagged `{<room>}`; a session's live and retired keys are
/// tagged `{<session id>}`. On one Redis the names are untagged, as they always were, so an
/// upgrade keeps history and sessions.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    sharded: bool,
}

impl Keys {
    /// Names for one Redis: plain `PUBLISH`, no hash tags.
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            sharded: false,
        }
    }

    /// Names for a Redis Cluster: hash-tagged keys and sharded channels (`SPUBLISH`).
    pub fn sharded(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            sharded: true,
        }
    }

    /// `name` as the hash tag that places a group of keys in one slot, on a cluster.
    fn tag(&self, name: impl std::fmt::Display) -> String {
        if self.sharded {
            format!("{{{name}}}")
        } else {
            name.to_string()
        }
    }

    /// The command that publishes on this topology's channels: `SPUBLISH` on a cluster (the
    /// message goes to the one shard that owns the channel's slot, not to every node).
    pub fn publish_command(&self) -> &'static str {
        if self.sharded {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }

    /// The pub/sub channel of a room.
    pub fn channel(&self, room: &RoomName) -> String {
        format!("{}room:{}", self.prefix, self.tag(room))
    }

    /// The room a channel name belongs to, if it is one of ours.
    pub fn room_of_channel(&self, channel: &str) -> Option<RoomName> {
        let name = channel.strip_prefix(&self.prefix)?.strip_prefix("room:")?;
        let name = if self.sharded {
            name.strip_prefix('{')?.strip_suffix('}')?
        } else {
            name
        };
        RoomName::parse(name).ok()
    }

    /// A room's presence entries: `<user id>|<instance>` scored by deadline.
    pub fn presence_entries(&self, room: &RoomName) -> String {
        format!("{}here:{}", self.prefix, self.tag(room))
    }

    /// A room's present users, by id.
    pub fn presence_users(&self, room: &RoomName) -> String {
        format!("{}who:{}", self.prefix, self.tag(room))
    }

    /// How many entries each present user has in a room.
    pub fn presence_counts(&self, room: &RoomName) -> String {
        format!("{}whon:{}", self.prefix, self.tag(room))
    }

    /// The Stream holding a room's messages.
    pub fn log(&self, room: &RoomName) -> String {
        format!("{}log:{}", self.prefix, self.tag(room))
    }

    /// What the records about each of the room's messages left of it (a hash beside the log,
    /// in the same slot; see `append.lua`).
    pub fn amended(&self, room: &RoomName) -> String {
        format!("{}amended:{}", self.prefix, self.tag(room))
    }

    /// Each person's read mark in the room: a hash of user id -> message id (in the room's
    /// slot, so the script that moves a mark publishes on the room's channel).
    pub fn read_marks(&self, room: &RoomName) -> String {
        format!("{}read:{}", self.prefix, self.tag(room))
    }

    /// The ids of the room's deleted messages, as versions before [`Keys::amended`] kept them
    /// (a set beside the log; read, no longer written).
    pub fn deleted(&self, room: &RoomName) -> String {
        format!("{}deleted:{}", self.prefix, self.tag(room))
    }

    /// Remembers which message a sender's `client_id` became, for idempotent re-sends. Keyed
    /// by sender too, so one client's id can never swallow another user's message.
    pub fn sent(
        &self,
        room: &RoomName,
        user: app::protocol::UserId,
        client_id: &app::protocol::ClientId,
    ) -> String {
        format!(
            "{}sent:{}:{user}:{}",
            self.prefix,
            self.tag(room),
            client_id.0
        )
    }

    /// The channel every instance listens on for announcements that concern all of them
    /// (logouts).
    pub fn control(&self) -> String {
        format!("{}control", self.prefix)
    }

    /// One instance's own channel, its inbox: it publishes its probes there and must hear
    /// itself, and other instances publish there the frames posted for its event streams.
    pub fn probe(&self, instance_nonce: &str) -> String {
        format!("{}probe:{instance_nonce}", self.prefix)
    }

    /// The rooms a user has open (a sorted set, by when each was first opened).
    pub fn room_list(&self, user: app::protocol::UserId) -> String {
        format!("{}rooms:{}", self.prefix, self.tag(user))
    }

    /// A sign-out's mark: `revoked:<sign-in id>` (a guest's sign-in id is their user id, as
    /// the key was before accounts).
    pub fn revoked(&self, sign_in: app::session::SignInId) -> String {
        format!("{}revoked:{sign_in}", self.prefix)
    }

    /// When the account's sign-ins were last all ended (unix ms): `revoked-before:<user id>`.
    pub fn revoked_before(&self, user: app::protocol::UserId) -> String {
        format!("{}revoked-before:{user}", self.prefix)
    }

    pub fn session(&self, id: &tower_sessions::session::Id) -> String {
        format!("{}session:{}", self.prefix, self.tag(id))
    }

    /// A rate-limit bucket (`message:<user>`, `login:<address>`...).
    pub fn rate(&self, bucket: &str) -> String {
        format!("{}rate:{bucket}", self.prefix)
    }

    /// Where a rotated-away session id lives out its grace period (in its live key's slot).
    pub fn retired_session(&self, id: &tower_sessions::session::Id) -> String {
        format!("{}retired:{}", self.prefix, self.tag(id))
    }
}

/// What the stores need of a Redis connection: one Redis' [`ConnectionManager`] or a cluster's
/// [`ClusterConnection`], both multiplexed, reconnecting and cheap to clone.
pub trait RedisConnection: ConnectionLike + Clone + Send + Sync + 'static {}
impl<C: ConnectionLike + Clone + Send + Sync + 'static> RedisConnection for C {}

impl From<::redis::RedisError> for super::BackendError {
    fn from(e: ::redis::RedisError) -> Self {
        super::BackendError::Unavailable(format!("redis: {e}"))
    }
}

/// Connects to the configured Redis (failing start-up if it cannot be reached now) and starts
/// the subscriber task.
pub async fn connect(
    target: &RedisTarget,
    settings: &StoreSettings,
    instance: &str,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Backend> {
    match target {
        RedisTarget::Single(url) => {
            single(url, settings, instance, tracker, shutdown, metrics).await
        }
        RedisTarget::Cluster(urls) => {
            cluster(urls, settings, instance, tracker, shutdown, metrics).await
        }
    }
}

async fn single(
    url: &RedisUrl,
    settings: &StoreSettings,
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

    let keys = Keys::new(settings.prefix.clone());
    let (deliveries_tx, deliveries) = delivery::channel(delivery::DELIVERY_BUFFER);
    let health = Health::probed(subscriber::PROBE_DEADLINE);
    let inbox = uuid::Uuid::new_v4().simple().to_string();
    let subscriber = subscriber::spawn(
        subscriber::Setup {
            client,
            commands: commands.clone(),
            keys: keys.clone(),
            deliveries: deliveries_tx,
            health: health.clone(),
            connect_timeout: CONNECT_TIMEOUT,
            metrics: metrics.clone(),
            inbox: inbox.clone(),
        },
        tracker,
        shutdown,
    )
    .await
    .with_context(|| format!("cannot open a pub/sub connection to {}", url.redacted()))?;
    Ok(assemble(
        "redis", commands, keys, settings, instance, subscriber, deliveries, health, inbox,
    ))
}

async fn cluster(
    urls: &[RedisUrl],
    settings: &StoreSettings,
    instance: &str,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<Backend> {
    let target = RedisTarget::Cluster(urls.to_vec());
    let seeds: Vec<&str> = urls.iter().map(RedisUrl::expose).collect();
    let builder = || {
        ClusterClientBuilder::new(seeds.clone())
            .connection_timeout(CONNECT_TIMEOUT)
            .response_timeout(RESPONSE_TIMEOUT)
            .retries(CLUSTER_RETRIES)
    };
    let client = builder()
        .build()
        .with_context(|| format!("REDIS_CLUSTER_URLS/VCAP_SERVICES: cannot use {target:?}"))?;
    let commands = client
        .get_async_connection()
        .await
        .with_context(|| format!("cannot connect to the Redis Cluster at {target:?}"))?;
    let commands = Timed::new(commands, metrics.clone());

    let keys = Keys::sharded(settings.prefix.clone());
    let (deliveries_tx, deliveries) = delivery::channel(delivery::DELIVERY_BUFFER);
    let health = Health::probed(sharded::PROBE_DEADLINE);
    let inbox = uuid::Uuid::new_v4().simple().to_string();
    let subscriber = sharded::spawn(
        sharded::Setup {
            client: builder(),
            commands: commands.clone(),
            keys: keys.clone(),
            deliveries: deliveries_tx,
            health: health.clone(),
            metrics: metrics.clone(),
            inbox: inbox.clone(),
        },
        tracker,
        shutdown,
    )
    .await
    .with_context(|| format!("cannot open the sharded pub/sub connection to {target:?}"))?;
    Ok(assemble(
        "redis-cluster",
        commands,
        keys,
        settings,
        instance,
        subscriber,
        deliveries,
        health,
        inbox,
    ))
}

/// The stores over one command connection, whichever topology it reaches.
#[allow(clippy::too_many_arguments)]
fn assemble<C: RedisConnection>(
    kind: &'static str,
    commands: Timed<C>,
    keys: Keys,
    settings: &StoreSettings,
    instance: &str,
    subscriber: SubscriberHandle,
    deliveries: super::Deliveries,
    health: Health,
    inbox: String,
) -> Backend {
    let broker = Arc::new(RedisBroker::new(
        commands.clone(),
        keys.clone(),
        settings.history_max,
        settings.room_idle,
        subscriber,
    ));
    Backend {
        kind,
        stores: Stores {
            log: broker.clone(),
            subscriptions: broker.clone(),
            signals: broker,
            presence: Arc::new(RedisPresence::new(
                commands.clone(),
                keys.clone(),
                instance.to_owned(),
            )),
            limiter: Arc::new(limiter::RedisLimiter::new(commands.clone(), keys.clone())),
            room_lists: Arc::new(room_lists::RedisRoomLists::new(
                commands.clone(),
                keys.clone(),
                settings.room_idle,
            )),
            read_marks: Arc::new(read_marks::RedisReadMarks::new(
                commands.clone(),
                keys.clone(),
                settings.room_idle,
            )),
            health,
            inbox,
        },
        sessions: Sessions::new(RedisSessionStore::new(
            commands,
            keys,
            settings.session_grace,
        )),
        deliveries,
    }
}

#[cfg(test)]
mod tests {
    use super::Keys;
    use app::protocol::{ClientId, RoomName, UserId};
    use redis::cluster_routing::Slot;
    use tower_sessions::session::Id;

    #[test]
    fn on_a_cluster_what_is_touched_together_shares_a_slot() {
        let keys = Keys::sharded("sb:");
        let (user, client_id) = (UserId(uuid::Uuid::new_v4()), ClientId(uuid::Uuid::new_v4()));
        let mut slots = std::collections::HashSet::new();
        for name in ["lobby", "rust", "a-much-longer-room-name", "x"] {
            let room = RoomName::parse(name).unwrap();
            let slot = Slot::for_key(keys.log(&room));
            slots.insert(slot);
            // The append script's keys and channel; the presence scripts' keys and channel.
            for key in [
                keys.sent(&room, user, &client_id),
                keys.deleted(&room),
                keys.amended(&room),
                keys.channel(&room),
                keys.presence_entries(&room),
                keys.presence_users(&room),
                keys.presence_counts(&room),
            ] {
                assert_eq!(Slot::for_key(&key), slot, "{key} is not with {room}'s log");
            }
            assert_eq!(keys.room_of_channel(&keys.channel(&room)), Some(room));
        }
        assert!(slots.len() > 1, "rooms spread over slots");
        let id = Id::default();
        assert_eq!(
            Slot::for_key(keys.session(&id)),
            Slot::for_key(keys.retired_session(&id))
        );
    }

    #[test]
    fn on_one_redis_the_names_are_as_they_always_were() {
        let keys = Keys::new("sb:");
        let room = RoomName::parse("lobby").unwrap();
        assert_eq!(keys.log(&room), "sb:log:lobby");
        assert_eq!(keys.channel(&room), "sb:room:lobby");
        assert_eq!(keys.presence_entries(&room), "sb:here:lobby");
        assert_eq!(keys.room_of_channel("sb:room:lobby"), Some(room));
        assert_eq!(keys.room_of_channel("sb:room:{lobby}"), None);
        assert_eq!(keys.publish_command(), "PUBLISH");
        assert_eq!(Keys::sharded("sb:").publish_command(), "SPUBLISH");
    }
}
