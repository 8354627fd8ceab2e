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

use crate::backend::{BackendError, Broker, Deliveries};
use app::protocol::{ChatMessage, MessageId, RoomName, ServerMsg};
use axum::extract::ws::Utf8Bytes;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::sync::{broadcast, OnceCell};

/// Frames a room buffers for its slowest socket before that socket counts as lagging.
pub const ROOM_BUFFER: usize = 1024;

/// A message ready to send: its id (for ordering and de-duplication) and its encoded frame.
#[derive(Debug)]
pub struct Outgoing {
    pub id: MessageId,
    pub frame: Utf8Bytes,
}

struct Slot {
    tx: broadcast::Sender<Arc<Outgoing>>,
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
    pub receiver: broadcast::Receiver<Arc<Outgoing>>,
    hub: Hub,
}

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
    /// every message stored after this returns reaches the membership's receiver.
    pub async fn join(&self, room: &RoomName) -> Result<Membership, BackendError> {
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
            receiver,
            hub: self.clone(),
        };
        subscribed
            .get_or_try_init(|| self.inner.broker.subscribe(room))
            .await?;
        Ok(membership)
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
        let _ = tx.send(outgoing);
    }

    /// Feeds the backend's deliveries into the rooms until the backend closes them.
    pub async fn pump(self, mut deliveries: Deliveries) {
        while let Some(message) = deliveries.recv().await {
            self.deliver(message);
        }
    }
}
