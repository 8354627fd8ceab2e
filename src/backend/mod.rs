//! Where messages are kept and how they reach every instance.
//!
//! A backend plays a few roles, each behind its own trait: the [`MessageLog`] stores a room's
//! messages in order and publishes each one to every instance that has the room open;
//! [`Subscriptions`] choose which rooms reach this instance; [`Signals`] carry logouts and
//! typing; the [`PresenceStore`], the [`Limiter`], the [`RoomLists`] and the session store
//! ([`Sessions`]) keep the rest. Two implementations sit behind it and pass the same behavioural tests:
//! [`redis`] (a Redis Stream per room, pub/sub between instances, one subscriber connection per
//! instance; on one Redis or a Redis Cluster) and [`memory`] (one process, no Redis: for development and single-instance use).
//!
//! Messages published for the rooms this instance subscribed to arrive, in order, on the
//! [`Deliveries`] channel that [`connect`] returns; the fan-out hub reads it. Whenever some may
//! have been missed, the same channel says so ([`Delivery::Interrupted`]): loss is an event,
//! never silence.

pub mod delivery;
pub mod health;
pub mod memory;
pub mod redis;

pub use delivery::{Deliveries, Delivery, Revocation};
pub use health::Health;

use crate::rate::Rate;
use crate::settings::StoreSettings;
use app::protocol::{ChatMessage, Draft, MessageId, Removal, RoomName, User, UserId};
use app::session::SignIn;
use async_trait::async_trait;
use std::{sync::Arc, time::Duration};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

/// A storage or transport failure, whichever backend it came from. Callers tell the user
/// "unavailable" and log the detail.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The store could not be reached, failed the command, or did not answer in time.
    #[error("the backend is unavailable: {0}")]
    Unavailable(String),
    #[error("a stored message could not be read: {0}")]
    Corrupt(String),
    #[error("the subscriber is not running")]
    SubscriberGone,
}

/// Some of a room's messages, oldest first.
pub type Messages = Result<Vec<ChatMessage>, BackendError>;
/// Some users of a room.
pub type Users = Result<Vec<User>, BackendError>;

/// The result of storing a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    pub id: MessageId,
    /// The draft's `client_id` had been stored before: nothing new was stored or published, and
    /// `id` is the id it was stored under then.
    pub duplicate: bool,
}

/// What came of a change to a message: an edit, a deletion or a reaction
/// ([`MessageLog::amend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amended {
    /// Made: the record of it was stored under this id and published.
    Stored(MessageId),
    /// It was so already (deleted, the same text, the reaction on or off); nothing changed.
    Unchanged,
    /// The room keeps no such text or action (never was, trimmed away, a notice), or it was
    /// deleted and so takes no edit or reaction.
    NotFound,
    /// The message is someone else's, and only its author's was to be changed.
    NotTheirs,
    /// A new reaction, and the message has [`MAX_REACTIONS`](app::protocol::MAX_REACTIONS).
    TooMany,
}

/// A page of a room's history after some id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    pub messages: Vec<ChatMessage>,
    /// Messages after the requested id were trimmed from the room's history.
    pub gap: bool,
}

/// A room's ordered, shared message log.
#[async_trait]
pub trait MessageLog: Send + Sync + 'static {
    /// Stores `draft` as the room's next message and publishes it to every subscribed instance,
    /// in one atomic step (so publish order is storage order). A draft whose sender sent the same
    /// `client_id` recently in this room is not stored again.
    async fn append(&self, room: &RoomName, draft: &Draft) -> Result<Appended, BackendError>;

    /// Makes the change `record` says (an edit, a deletion or a reaction: a
    /// [record](app::protocol::MessageKind::is_record) draft) to the message `record.target`, a
    /// text or an action of the room, and stores `record` as the room's next message, published
    /// like any other, in one atomic step. From then on every read returns the target as its
    /// records left it ([`ChatMessage::apply`]), and the record reaches live sockets and
    /// resumes after an earlier id. With `only_by`, only a message of that author is changed
    /// (a person editing or taking back their own; [`Amended::NotTheirs`] otherwise).
    async fn amend(
        &self,
        room: &RoomName,
        record: &Draft,
        only_by: Option<UserId>,
    ) -> Result<Amended, BackendError>;

    /// One message of the room, as its records left it (a reply quotes it); `None` if the room
    /// keeps no such message.
    async fn message(
        &self,
        room: &RoomName,
        id: MessageId,
    ) -> Result<Option<ChatMessage>, BackendError>;

    /// The last `limit` messages of the room, oldest first.
    async fn recent(&self, room: &RoomName, limit: usize) -> Messages;

    /// The `limit` messages of the room before `before` (not including it), oldest first: a
    /// page of older history. Fewer than `limit` means the room's retained history ends there.
    async fn older(&self, room: &RoomName, before: MessageId, limit: usize) -> Messages;

    /// Messages of the room after `after`, oldest first, at most `limit` of them; and whether
    /// any message after `after` has been trimmed away (a gap the caller cannot fill).
    async fn replay(
        &self,
        room: &RoomName,
        after: MessageId,
        limit: usize,
    ) -> Result<Replay, BackendError>;
}

/// Which rooms' messages reach this instance (on the [`Deliveries`] channel).
#[async_trait]
pub trait Subscriptions: Send + Sync + 'static {
    /// Starts delivering the room's messages to this instance. Returns once delivery is active,
    /// so anything appended after it returns is delivered.
    async fn subscribe(&self, room: &RoomName) -> Result<(), BackendError>;

    /// Stops delivering the room's messages to this instance. Does not wait: the request is
    /// queued behind earlier subscribe requests, so the two always take effect in order.
    fn unsubscribe(&self, room: &RoomName);
}

/// What instances tell each other that is not a message: sign-outs and typing.
#[async_trait]
pub trait Signals: Send + Sync + 'static {
    /// Tells every instance of a sign-out or a changed password, so the sockets it ends close,
    /// and remembers it for `ttl` (the session lifetime) for instances that missed the
    /// announcement and for sessions that still name an ended sign-in.
    async fn revoke(&self, revocation: Revocation, ttl: Duration) -> Result<(), BackendError>;

    /// Whether `sign_in` was ended (either way) within the session lifetime.
    async fn is_revoked(&self, sign_in: &SignIn) -> Result<bool, BackendError>;

    /// Tells every instance subscribed to `room` that `user` is typing there (nothing is
    /// stored; delivered as [`Delivery::Typing`]).
    async fn typing(&self, room: &RoomName, user: &User) -> Result<(), BackendError>;

    /// Hands `frame`, posted by `user` for the event stream `stream`, to the instance whose
    /// inbox (see [`Stores::inbox`]) is `inbox`, where it is delivered as [`Delivery::Posted`].
    /// Nothing is stored: a frame for an instance that is gone is lost with its stream, and the
    /// client, whose stream ended, sends it again on its next one.
    async fn post(
        &self,
        inbox: &str,
        stream: &str,
        user: UserId,
        frame: &str,
    ) -> Result<(), BackendError>;

    /// Tells every instance subscribed to `room` that `user` is no longer in it (delivered as
    /// [`Delivery::Removed`]). Nothing is stored: the records were changed first, and an
    /// instance that misses this hears [`Delivery::Interrupted`] and asks the records.
    async fn removed(
        &self,
        room: &RoomName,
        user: UserId,
        reason: Removal,
    ) -> Result<(), BackendError>;
}

/// Who is in which room, across instances: entries per (room, user, instance) that live until a
/// deadline the holding instance keeps pushing forward, so the users of an instance that dies
/// disappear when their entries run out.
///
/// A user is *present* in a room while any instance holds a live entry for them, so several
/// tabs or instances count once. The store reports the two transitions — a user arriving (their
/// first entry) and departing (their last entry removed) — to the caller, who alone sees each
/// one, and publishes them to every instance subscribed to the room as a
/// [`Delivery::Presence`].
#[async_trait]
pub trait PresenceStore: Send + Sync + 'static {
    /// Holds an entry for each of `users` in `room` on this instance until `until_ms` (unix
    /// ms), adding the ones that have none. Returns the users who arrived.
    async fn hold(&self, room: &RoomName, users: &[User], until_ms: u64) -> Users;

    /// Moves this instance's entry for `user` in `room` to end at `until_ms`, if it still has
    /// one (never adds one).
    async fn release(
        &self,
        room: &RoomName,
        user: UserId,
        until_ms: u64,
    ) -> Result<(), BackendError>;

    /// Removes the room's entries that ended by `now_ms` (on any instance). Returns the users
    /// who departed, each with when their last entry ended.
    async fn sweep(&self, room: &RoomName, now_ms: u64) -> Result<Vec<(User, u64)>, BackendError>;

    /// Everyone present in `room` (including entries that ended but were not swept yet).
    async fn online(&self, room: &RoomName) -> Users;
}

/// The rooms each person has open, kept for them rather than for a page: a reload, another tab
/// or another instance opens the same rooms (and so hears of what happens in them). In the order
/// first opened, at most [`MAX_ROOMS_PER_SOCKET`](app::protocol::MAX_ROOMS_PER_SOCKET) of them
/// (what one socket can carry).
#[async_trait]
pub trait RoomLists: Send + Sync + 'static {
    /// The rooms `user` has open, oldest first.
    async fn rooms(&self, user: UserId) -> Result<Vec<RoomName>, BackendError>;

    /// `user` opened `room` (again: then nothing changes). Beyond the cap it is not kept.
    async fn open(&self, user: UserId, room: &RoomName) -> Result<(), BackendError>;

    /// `user` closed `room`.
    async fn close(&self, user: UserId, room: &RoomName) -> Result<(), BackendError>;
}

/// How far each person has read each room: one message id per (room, user), the *read mark*,
/// kept for the person rather than for a page, so every tab and device agrees on what is unread.
/// A mark only moves forward; each move reaches every instance subscribed to the room, as
/// [`Delivery::Read`], so the person's other sockets there hear it at once.
#[async_trait]
pub trait ReadMarks: Send + Sync + 'static {
    /// Moves `user`'s mark in `room` forward to `id` and, if it moved, tells every instance
    /// subscribed to the room, in one atomic step (two tabs marking at once end on the later
    /// id, whatever order they arrive in).
    async fn mark(&self, room: &RoomName, user: UserId, id: MessageId) -> Result<(), BackendError>;

    /// `user`'s mark in `room`: `None` until they have read any of it (or after the room went
    /// idle long enough to be forgotten, with its history).
    async fn read_mark(
        &self,
        room: &RoomName,
        user: UserId,
    ) -> Result<Option<MessageId>, BackendError>;
}

/// Rate-limit buckets shared by every instance (see [`crate::rate`]).
#[async_trait]
pub trait Limiter: Send + Sync + 'static {
    /// Takes a token from the bucket `key` (of shape `rate`): `Ok(None)` when there was one,
    /// `Ok(Some(wait))` when the caller must wait that long first.
    async fn take(&self, key: &str, rate: Rate) -> Result<Option<Duration>, BackendError>;
}

/// A session store that can *retire* an id: what a rotation does to the old id. A retired id
/// still loads for the store's grace period (two tabs that rotated at the same moment both stay
/// logged in) but can no longer be saved, and then it is gone. `delete` stays immediate: that is
/// a logout.
#[async_trait]
pub trait RetiringStore: SessionStore {
    async fn retire(&self, id: &Id) -> session_store::Result<()>;
}

tokio::task_local! {
    static ROTATING: ();
}

/// Gives `session` a new id and *retires* the old one (see [`RetiringStore`]): what `GET /` does
/// on every page load and reconnect.
///
/// tower-sessions rotates by deleting the old id through [`SessionStore::delete`]; [`Sessions`]
/// is the one store it holds, and while this call runs it turns that delete into
/// [`RetiringStore::retire`] (a task-local marks the call). No backend store needs to know.
pub async fn rotate(
    session: &tower_sessions::Session,
) -> Result<(), tower_sessions::session::Error> {
    ROTATING.scope((), session.cycle_id()).await
}

/// The session store in use, whichever backend it is.
#[derive(Debug, Clone)]
pub struct Sessions(Arc<dyn RetiringStore>);

impl Sessions {
    pub fn new(store: impl RetiringStore) -> Self {
        Self(Arc::new(store))
    }
}

#[async_trait]
impl SessionStore for Sessions {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.0.create(record).await
    }
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.0.save(record).await
    }
    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.0.load(id).await
    }
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        if ROTATING.try_with(|_| ()).is_ok() {
            self.0.retire(id).await
        } else {
            self.0.delete(id).await
        }
    }
}

/// The stores a connected backend offers, each role behind its own trait. One backend object
/// usually plays several roles; a test double replaces the one role it changes
/// (`Stores { log: Arc::new(Wrapped(stores.log)), ..stores }`).
#[derive(Clone)]
pub struct Stores {
    pub log: Arc<dyn MessageLog>,
    pub subscriptions: Arc<dyn Subscriptions>,
    pub signals: Arc<dyn Signals>,
    pub presence: Arc<dyn PresenceStore>,
    pub limiter: Arc<dyn Limiter>,
    pub room_lists: Arc<dyn RoomLists>,
    pub read_marks: Arc<dyn ReadMarks>,
    /// Whether the backend can deliver right now (readiness).
    pub health: Health,
    /// This instance's inbox: where other instances post the frames of its event streams
    /// ([`Signals::post`]). Letters and digits, unique to the process.
    pub inbox: String,
}

/// A connected backend: its stores, the session store, and the deliveries for the fan-out.
pub struct Backend {
    pub kind: &'static str,
    pub stores: Stores,
    pub sessions: Sessions,
    pub deliveries: Deliveries,
}

/// Connects to Redis when one is configured, or starts the in-memory backend. Background tasks
/// (the Redis subscriber) are spawned on `tracker` and stop when `shutdown` is cancelled.
pub async fn connect(
    settings: &StoreSettings,
    instance: &str,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
    metrics: &std::sync::Arc<crate::metrics::Metrics>,
) -> anyhow::Result<Backend> {
    match &settings.redis {
        Some(target) => {
            redis::connect(target, settings, instance, tracker, shutdown, metrics).await
        }
        None => Ok(memory::start(settings)),
    }
}
