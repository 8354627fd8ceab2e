//! Local fan-out: which rooms this instance's sockets are in, and delivering each message to them.
//!
//! Each room with at least one local socket has a `broadcast` channel. A message arriving from the
//! backend is serialized to its JSON frame **once** and the same bytes are handed to every socket
//! in the room. The first socket to join a room makes the backend subscribe to it; when the last
//! one leaves, the backend unsubscribes (the tutorial added a Redis listener per socket and leaked
//! them).
//!
//! Slow sockets: a room's channel holds [`ROOM_BUFFER`] frames. A socket that falls further behind
//! than that gets `RecvError::Lagged`; the connection then tells the client and closes, and the
//! client reconnects and catches up from history. A slow reader never slows the room down.
//!
//! Interruptions: when the backend reports that messages of a room may have been missed, every
//! socket in the room gets [`RoomEvent::Interrupted`] in its place in the flow, and backfills
//! from the room's stream after the last message it sent (see `ws::connection`). Logouts reach
//! every room as [`RoomEvent::LoggedOut`]; the user's sockets close.

use crate::backend::{BackendError, Broker, Deliveries, Delivery};
use app::protocol::{ChatMessage, MessageId, RoomName, ServerMsg, UserId};
use axum::extract::ws::Utf8Bytes;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::{
    sync::{broadcast, OnceCell},
    time::Instant,
};

/// Frames a room buffers for its slowest socket before that socket counts as lagging.
pub const ROOM_BUFFER: usize = 1024;

/// A message ready to send: its id (for ordering and de-duplication) and its encoded frame.
#[derive(Debug)]
pub struct Outgoing {
    pub id: MessageId,
    pub frame: Utf8Bytes,
}

/// What a socket receives from its room.
#[derive(Debug, Clone)]
pub enum RoomEvent {
    /// The next message, encoded once for everyone.
    Message(Arc<Outgoing>),
    /// Messages may have been missed before this point; delivery has been live again since
    /// `since`, so a stream read started after `since` finds them.
    Interrupted { since: Instant },
    /// This user logged out somewhere.
    LoggedOut(UserId),
}

struct Slot {
    tx: broadcast::Sender<RoomEvent>,
    members: usize,
    /// Set once the backend confirmed the subscription; joiners wait for it.
    subscribed: Arc<OnceCell<()>>,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    /// Short critical sections only, never held across an await (std `Mutex` is right for that).
    rooms: Mutex<HashMap<RoomName, Slot>>,
    broker: Arc<dyn Broker>,
}

/// Membership of one socket in one room. Dropping it leaves the room.
pub struct Membership {
    pub room: RoomName,
    hub: Hub,
}

/// The room's events for one socket, from the moment of its join.
pub type RoomReceiver = broadcast::Receiver<RoomEvent>;

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.leave(&self.room);
    }
}

impl Hub {
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        Self {
            inner: Arc::new(Inner {
                rooms: Mutex::new(HashMap::new()),
                broker,
            }),
        }
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<RoomName, Slot>> {
        self.inner.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Joins `room`. Returns once the backend delivers the room's messages to this instance, so
    /// every message stored after this returns reaches the returned receiver.
    pub async fn join(&self, room: &RoomName) -> Result<(Membership, RoomReceiver), BackendError> {
        let (receiver, subscribed) = {
            let mut rooms = self.rooms();
            let slot = rooms.entry(room.clone()).or_insert_with(|| Slot {
                tx: broadcast::channel(ROOM_BUFFER).0,
                members: 0,
                subscribed: Arc::new(OnceCell::new()),
            });
            slot.members += 1;
            (slot.tx.subscribe(), slot.subscribed.clone())
        };
        // From here on, dropping the membership undoes the join, also on error.
        let membership = Membership {
            room: room.clone(),
            hub: self.clone(),
        };
        subscribed
            .get_or_try_init(|| self.inner.broker.subscribe(room))
            .await?;
        Ok((membership, receiver))
    }

    fn leave(&self, room: &RoomName) {
        let mut rooms = self.rooms();
        if let Some(slot) = rooms.get_mut(room) {
            slot.members -= 1;
            if slot.members == 0 {
                rooms.remove(room);
                // Under the lock, so a new joiner's subscribe is requested after this.
                self.inner.broker.unsubscribe(room);
            }
        }
    }

    /// Hands a published message to every local socket in its room.
    pub fn deliver(&self, message: ChatMessage) {
        let Some(tx) = self.rooms().get(&message.room).map(|slot| slot.tx.clone()) else {
            return;
        };
        let outgoing = Arc::new(Outgoing {
            id: message.id,
            frame: ServerMsg::Message(message).to_json().into(),
        });
        // An error only means every receiver left since the look-up.
        let _ = tx.send(RoomEvent::Message(outgoing));
    }

    /// Tells every local socket in `rooms` that messages may have been missed.
    pub fn interrupted(&self, rooms: &[RoomName]) {
        let since = Instant::now();
        let senders: Vec<_> = {
            let all = self.rooms();
            rooms
                .iter()
                .filter_map(|room| all.get(room).map(|slot| slot.tx.clone()))
                .collect()
        };
        tracing::info!(
            rooms = senders.len(),
            "delivery was interrupted; sockets backfill"
        );
        for tx in senders {
            let _ = tx.send(RoomEvent::Interrupted { since });
        }
    }

    /// Tells every local socket that `user` logged out; theirs close.
    pub fn logged_out(&self, user: UserId) {
        let senders: Vec<_> = self.rooms().values().map(|slot| slot.tx.clone()).collect();
        for tx in senders {
            let _ = tx.send(RoomEvent::LoggedOut(user));
        }
    }

    /// Passes one delivery from the backend to the rooms it concerns.
    pub fn handle(&self, delivery: Delivery) {
        match delivery {
            Delivery::Message(message) => self.deliver(message),
            Delivery::Interrupted { rooms } => self.interrupted(&rooms),
            Delivery::LoggedOut(user) => self.logged_out(user),
        }
    }

    /// Feeds the backend's deliveries into the rooms until the backend closes them.
    pub async fn pump(self, mut deliveries: Deliveries) {
        while let Some(delivery) = deliveries.recv().await {
            self.handle(delivery);
        }
    }
}
