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
//! Presence: each room also holds who is present ([`roster`]), read from the backend when the
//! room opens here and kept current by the transitions it delivers; sockets get a `presence`
//! frame when they join and whenever it changes (at most once a second per room).
//!
//! Interruptions: when the backend reports that messages of a room may have been missed, every
//! socket in the room gets [`RoomEvent::Interrupted`] in its place in the flow, and backfills
//! from the room's stream after the last message it sent (see `ws::connection`). Sign-outs reach
//! every room as [`RoomEvent::Revoked`]; the sockets they end close. A person removed from a
//! room (or who left it) reaches that room as [`RoomEvent::Removed`]; their sockets drop it.
//!
//! Read marks: a person's mark moving in a room ([`reads`]) reaches the room's sockets as
//! [`RoomEvent::Reads`], gathered like typing; that person's sockets pass it on.

mod reads;
mod roster;
mod typing;
mod window;

pub use reads::{mark_of, Moves as ReadMoves};
pub use roster::Frame as PresenceFrame;

use crate::backend::{
    BackendError, Deliveries, Delivery, PresenceStore, Revocation, Subscriptions,
};
use crate::streams::{Handed, StreamId, Streams};
use app::protocol::{ChatMessage, MessageId, Removal, RoomName, ServerMsg, User, UserId};
use axum::extract::ws::Utf8Bytes;
use reads::RoomReads;
use roster::Roster;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::{
    sync::{broadcast, OnceCell},
    time::Instant,
};
use typing::RoomTyping;
use window::Flush;

/// How soon a failed read of a room's presence is tried again.
const PRESENCE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

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
    /// A sign-out or a changed password somewhere: the sockets it ends close.
    Revoked(Revocation),
    /// `user` is no longer in the room: their sockets drop it.
    Removed { user: UserId, reason: Removal },
    /// Who is in the room now.
    Presence(PresenceFrame),
    /// Who typed in the room lately (a `typing` frame, encoded once).
    Typing(Utf8Bytes),
    /// Whose read marks moved in the room lately, and to where: each socket passes on its own
    /// person's.
    Reads(ReadMoves),
}

/// The frames a room sends at most once per window.
#[derive(Debug, Clone, Copy)]
enum Ephemeral {
    Presence,
    Typing,
    Reads,
}

struct Slot {
    tx: broadcast::Sender<RoomEvent>,
    members: usize,
    /// Set once the backend confirmed the subscription and the room's presence was read;
    /// joiners wait for it.
    subscribed: Arc<OnceCell<()>>,
    presence: Roster,
    typing: RoomTyping,
    reads: RoomReads,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    /// Short critical sections only, never held across an await (std `Mutex` is right for that).
    rooms: Mutex<HashMap<RoomName, Slot>>,
    subscriptions: Arc<dyn Subscriptions>,
    presence: Arc<dyn PresenceStore>,
    /// The event streams open here, for the frames posted to them through other instances.
    streams: Streams,
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
    pub fn new(
        subscriptions: Arc<dyn Subscriptions>,
        presence: Arc<dyn PresenceStore>,
        streams: Streams,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                rooms: Mutex::new(HashMap::new()),
                subscriptions,
                presence,
                streams,
            }),
        }
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<RoomName, Slot>> {
        self.inner.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many rooms this instance follows (for the metrics).
    pub fn room_count(&self) -> usize {
        self.rooms().len()
    }

    /// Joins `room`. Returns once the backend delivers the room's messages to this instance (and
    /// its presence was read), so every message stored after this returns reaches the returned
    /// receiver.
    pub async fn join(&self, room: &RoomName) -> Result<(Membership, RoomReceiver), BackendError> {
        let (receiver, subscribed) = {
            let mut rooms = self.rooms();
            let slot = rooms.entry(room.clone()).or_insert_with(|| Slot {
                tx: broadcast::channel(ROOM_BUFFER).0,
                members: 0,
                subscribed: Arc::new(OnceCell::new()),
                presence: Roster::default(),
                typing: RoomTyping::default(),
                reads: RoomReads::default(),
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
            .get_or_try_init(|| async {
                self.inner.subscriptions.subscribe(room).await?;
                // Read after subscribing: transitions published from here on are delivered.
                let present = self.inner.presence.online(room).await?;
                self.presence_loaded(room, present);
                Ok::<_, BackendError>(())
            })
            .await?;
        Ok((membership, receiver))
    }

    /// The room's current presence frame, for a socket that joined it.
    pub fn presence(&self, room: &RoomName) -> Option<PresenceFrame> {
        self.rooms()
            .get(room)
            .and_then(|slot| slot.presence.frame())
    }

    fn presence_loaded(&self, room: &RoomName, present: Vec<User>) {
        self.change(room, Ephemeral::Presence, |slot, now| {
            slot.presence.loaded(present, now)
        });
    }

    /// Users arrived in or departed from `room`.
    fn presence_changed(&self, room: &RoomName, arrived: Vec<User>, departed: Vec<User>) {
        self.change(room, Ephemeral::Presence, |slot, now| {
            slot.presence.changed(arrived, departed, now)
        });
    }

    /// `user` is typing in `room`.
    fn typing(&self, room: &RoomName, user: User) {
        self.change(room, Ephemeral::Typing, |slot, now| {
            slot.typing.typed(user, now)
        });
    }

    /// `user`'s read mark in `room` moved to `id`.
    fn read(&self, room: &RoomName, user: UserId, id: MessageId) {
        self.change(room, Ephemeral::Reads, |slot, now| {
            slot.reads.moved(user, id, now)
        });
    }

    /// Applies a change to `room` (if it has sockets here) and sends or schedules its frame.
    fn change(
        &self,
        room: &RoomName,
        what: Ephemeral,
        apply: impl FnOnce(&mut Slot, Instant) -> Flush,
    ) {
        let flush = match self.rooms().get_mut(room) {
            Some(slot) => apply(slot, Instant::now()),
            None => return,
        };
        self.schedule(room, what, flush);
    }

    fn schedule(&self, room: &RoomName, what: Ephemeral, flush: Flush) {
        match flush {
            Flush::Now => self.flush(room, what),
            Flush::At(at) => {
                let (hub, room) = (self.clone(), room.clone());
                tokio::spawn(async move {
                    tokio::time::sleep_until(at).await;
                    hub.flush(&room, what);
                });
            }
            Flush::Nothing => {}
        }
    }

    /// Sends the room's presence or typing frame to its sockets, if there is news.
    fn flush(&self, room: &RoomName, what: Ephemeral) {
        let mut rooms = self.rooms();
        let Some(slot) = rooms.get_mut(room) else {
            return;
        };
        let now = Instant::now();
        let event = match what {
            Ephemeral::Presence => slot.presence.flush(room, now).map(RoomEvent::Presence),
            Ephemeral::Typing => slot.typing.flush(room, now).map(RoomEvent::Typing),
            Ephemeral::Reads => slot.reads.flush(now).map(RoomEvent::Reads),
        };
        if let Some(event) = event {
            // Under the lock, so presence frames enter the channel in version order.
            let _ = slot.tx.send(event);
        }
    }

    /// Reads the presence of `rooms` again (transitions may have been missed).
    fn reload_presence(&self, rooms: &[RoomName]) {
        for room in rooms {
            match self.rooms().get_mut(room) {
                Some(slot) => slot.presence.reload(),
                None => continue,
            }
            let (hub, room) = (self.clone(), room.clone());
            tokio::spawn(async move {
                // Until it is read (the list shows what it showed meanwhile), or the room is
                // gone from this instance.
                loop {
                    match hub.inner.presence.online(&room).await {
                        Ok(present) => return hub.presence_loaded(&room, present),
                        Err(e) => {
                            tracing::warn!(error = %e, %room, "could not read presence again")
                        }
                    }
                    tokio::time::sleep(PRESENCE_RETRY).await;
                    let waiting = hub
                        .rooms()
                        .get(&room)
                        .is_some_and(|slot| !slot.presence.is_loaded());
                    if !waiting {
                        return;
                    }
                }
            });
        }
    }

    fn leave(&self, room: &RoomName) {
        let mut rooms = self.rooms();
        if let Some(slot) = rooms.get_mut(room) {
            slot.members -= 1;
            if slot.members == 0 {
                rooms.remove(room);
                // Under the lock, so a new joiner's subscribe is requested after this.
                self.inner.subscriptions.unsubscribe(room);
            }
        }
    }

    /// Hands a published message to every local socket in its room.
    pub fn fan_out(&self, message: ChatMessage) {
        let Some(tx) = self.sender(&message.room) else {
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
        self.reload_presence(rooms);
    }

    /// Tells every local socket of a sign-out or a changed password; the ones it ends close.
    pub fn revoked(&self, revocation: Revocation) {
        let senders: Vec<_> = self.rooms().values().map(|slot| slot.tx.clone()).collect();
        for tx in senders {
            let _ = tx.send(RoomEvent::Revoked(revocation));
        }
    }

    /// Tells the local sockets in `room` that `user` is no longer in it.
    pub fn removed(&self, room: &RoomName, user: UserId, reason: Removal) {
        if let Some(tx) = self.sender(room) {
            let _ = tx.send(RoomEvent::Removed { user, reason });
        }
    }

    /// The channel of `room`'s local sockets, if it has any (cloned: sent to outside the lock).
    fn sender(&self, room: &RoomName) -> Option<broadcast::Sender<RoomEvent>> {
        self.rooms().get(room).map(|slot| slot.tx.clone())
    }

    /// Passes one delivery from the backend to the rooms it concerns.
    pub fn handle(&self, delivery: Delivery) {
        match delivery {
            Delivery::Message(message) => self.fan_out(*message),
            Delivery::Interrupted { rooms } => self.interrupted(&rooms),
            Delivery::Revoked(revocation) => self.revoked(revocation),
            Delivery::Presence {
                room,
                arrived,
                departed,
            } => self.presence_changed(&room, arrived, departed),
            Delivery::Typing { room, user } => self.typing(&room, user),
            Delivery::Removed { room, user, reason } => self.removed(&room, user, reason),
            Delivery::Read { room, user, id } => self.read(&room, user, id),
            Delivery::Posted {
                stream,
                user,
                frame,
            } => self.posted(&stream, user, frame),
        }
    }

    /// A frame posted through another instance for one of this instance's event streams. One
    /// that finds no stream (it ended), or a full one, is dropped: its client has no answer
    /// and sends it again, as after a lost socket.
    fn posted(&self, stream: &str, user: UserId, frame: String) {
        let handed =
            StreamId::parse(stream).map(|stream| self.inner.streams.hand(&stream, user, frame));
        if handed != Some(Handed::Taken) {
            tracing::debug!(stream, ?handed, "a posted frame found no stream to take it");
        }
    }

    /// Feeds the backend's deliveries into the rooms until the backend closes them.
    pub async fn pump(self, mut deliveries: Deliveries) {
        while let Some(delivery) = deliveries.recv().await {
            self.handle(delivery);
        }
    }
}
