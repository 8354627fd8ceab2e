//! What the backend hands the local fan-out, and the one rule that keeps it honest: when a
//! message might not have reached this instance, the fan-out is told so.
//!
//! Messages travel from the backend to the hub through a bounded channel. Nothing here ever
//! blocks the backend: when the channel is full, the message is dropped **and its room is
//! remembered**. Before anything else of that room is passed on, the hub gets
//! [`Delivery::Interrupted`] for it; every socket in the room then backfills from the room's
//! stream (where the dropped message is stored), so a drop costs a read, never a message.

use app::protocol::{ChatMessage, MessageId, Removal, RoomName, User, UserId};
use app::session::{SignIn, SignInId};
use std::collections::BTreeSet;
use tokio::sync::mpsc::{self, error::TrySendError};

/// Deliveries buffered between the backend and the hub. The hub only encodes and hands frames
/// to room channels, so it drains this far faster than Redis can fill it; reaching the limit
/// means the process is starved, and then a backfill is cheaper than unbounded memory.
pub const DELIVERY_BUFFER: usize = 8192;

/// One event from the backend for the local fan-out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A message published in a subscribed room, in publish order. Boxed: the other events are
    /// small, and one box per message per instance is nothing beside its fan-out.
    Message(Box<ChatMessage>),
    /// Messages published in these rooms may have been missed (the pub/sub connection dropped
    /// or went deaf, or the channel to the hub overflowed). Sent once delivery is live again,
    /// so a read of the room's stream started after this event misses nothing.
    Interrupted { rooms: Vec<RoomName> },
    /// A sign-out or a changed password (on any instance): the sockets it ends must close.
    Revoked(Revocation),
    /// `user` is typing in a subscribed room.
    Typing { room: RoomName, user: User },
    /// `user` is no longer in a subscribed room (the records say so already): their sockets
    /// in it drop it.
    Removed {
        room: RoomName,
        user: UserId,
        reason: Removal,
    },
    /// `user`'s read mark in a subscribed room moved forward to `id` (see `ReadMarks`).
    Read {
        room: RoomName,
        user: UserId,
        id: MessageId,
    },
    /// A frame posted for an event stream of this instance (see `Signals::post`).
    Posted {
        stream: String,
        user: UserId,
        frame: String,
    },
    /// Users arrived in or departed from a subscribed room (see `PresenceStore`).
    Presence {
        room: RoomName,
        arrived: Vec<User>,
        departed: Vec<User>,
    },
}

/// The receiving end, read by the hub.
pub type Deliveries = mpsc::Receiver<Delivery>;

/// The sending end, shared by whatever in the backend produces deliveries.
#[derive(Debug)]
pub struct DeliverySender {
    tx: mpsc::Sender<Delivery>,
    /// Rooms with a dropped message whose interruption has not been sent yet.
    missed: BTreeSet<RoomName>,
}

/// A bounded delivery channel.
pub fn channel(capacity: usize) -> (DeliverySender, Deliveries) {
    let (tx, rx) = mpsc::channel(capacity);
    (
        DeliverySender {
            tx,
            missed: BTreeSet::new(),
        },
        rx,
    )
}

impl DeliverySender {
    /// Passes `delivery` on without waiting. If an earlier message was dropped, the pending
    /// interruption goes first; if that cannot be sent either, `delivery` is dropped too and its
    /// room (if it has one) joins the pending interruption. Returns false once the hub is gone.
    pub fn send(&mut self, delivery: Delivery) -> bool {
        if !self.flush_missed() {
            self.remember(&delivery);
            return !self.tx.is_closed();
        }
        match self.tx.try_send(delivery) {
            Ok(()) => true,
            Err(TrySendError::Full(delivery)) => {
                tracing::warn!("the fan-out is behind; dropping a delivery and backfilling later");
                self.remember(&delivery);
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    /// Reports an interruption of `rooms` (merged with any pending one).
    pub fn interrupted(&mut self, rooms: impl IntoIterator<Item = RoomName>) -> bool {
        self.missed.extend(rooms);
        self.flush_missed();
        !self.tx.is_closed()
    }

    /// Tries to send the pending interruption; true when nothing is pending any more.
    fn flush_missed(&mut self) -> bool {
        if self.missed.is_empty() {
            return true;
        }
        let rooms: Vec<RoomName> = self.missed.iter().cloned().collect();
        match self.tx.try_send(Delivery::Interrupted { rooms }) {
            Ok(()) => {
                self.missed.clear();
                true
            }
            Err(_) => false,
        }
    }

    fn remember(&mut self, delivery: &Delivery) {
        match delivery {
            Delivery::Message(m) => {
                self.missed.insert(m.room.clone());
            }
            // Ephemeral: a typing signal that does not arrive simply is not shown; a posted
            // frame that does not arrive goes unanswered, and its client sends it again.
            Delivery::Typing { .. } | Delivery::Posted { .. } => {}
            // The interruption makes the fan-out read the room's presence afresh.
            Delivery::Presence { room, .. } => {
                self.missed.insert(room.clone());
            }
            Delivery::Interrupted { rooms } => self.missed.extend(rooms.iter().cloned()),
            // The interruption makes every socket in the room ask the records again (whether
            // the person is still in it, and their read mark there).
            Delivery::Removed { room, .. } | Delivery::Read { room, .. } => {
                self.missed.insert(room.clone());
            }
            // A dropped logout would leave a socket open: never drop one silently.
            Delivery::Revoked(revocation) => {
                tracing::error!(?revocation, "could not pass a sign-out to the fan-out")
            }
        }
    }
}

/// What a sign-out or a changed password ends, on every instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Revocation {
    /// One sign-in (a sign-out): the sockets opened under it close, wherever they are.
    SignIn(SignInId),
    /// Every sign-in of the account from before `before_ms` but `keep` (a changed password:
    /// the sign-in that changed it goes on; a deleted account keeps none): the person is signed
    /// out everywhere else.
    Account {
        user: UserId,
        before_ms: u64,
        keep: Option<SignInId>,
    },
}

impl Revocation {
    /// Whether this ends `sign_in`.
    pub fn ends(&self, sign_in: &SignIn) -> bool {
        match *self {
            Revocation::SignIn(id) => id == sign_in.id,
            Revocation::Account {
                user,
                before_ms,
                keep,
            } => user == sign_in.user.id && sign_in.at_ms < before_ms && keep != Some(sign_in.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::protocol::{Draft, MessageKind, UserName};

    fn message(room: &str, seq: u64) -> Delivery {
        let user = User::guest(UserId(uuid::Uuid::nil()), UserName::parse("a").unwrap());
        let draft = Draft::new(user, MessageKind::Text, "hi");
        Delivery::Message(Box::new(draft.into_message(
            RoomName::parse(room).unwrap(),
            app::protocol::MessageId { ms: 1, seq },
        )))
    }

    #[tokio::test]
    async fn an_overflow_becomes_an_interruption_before_the_rooms_next_message() {
        let (mut tx, mut rx) = channel(2);
        assert!(tx.send(message("a", 1)));
        assert!(tx.send(message("b", 2)));
        // Full: these two are dropped, their rooms remembered.
        assert!(tx.send(message("a", 3)));
        assert!(tx.send(message("c", 4)));
        assert_eq!(rx.recv().await, Some(message("a", 1)));
        assert_eq!(rx.recv().await, Some(message("b", 2)));
        // Room again: the interruption goes first, then the message.
        assert!(tx.send(message("a", 5)));
        assert_eq!(
            rx.recv().await,
            Some(Delivery::Interrupted {
                rooms: vec![RoomName::parse("a").unwrap(), RoomName::parse("c").unwrap()]
            })
        );
        assert_eq!(rx.recv().await, Some(message("a", 5)));
    }

    #[tokio::test]
    async fn a_message_cannot_overtake_its_rooms_pending_interruption() {
        let (mut tx, mut rx) = channel(1);
        assert!(tx.send(message("a", 1)));
        assert!(tx.send(message("a", 2))); // dropped
        assert!(tx.send(message("b", 3))); // the interruption cannot go yet: dropped too
        assert_eq!(rx.recv().await, Some(message("a", 1)));
        assert!(tx.send(message("a", 4))); // the interruption goes; no room left for this one
        let rooms = vec![RoomName::parse("a").unwrap(), RoomName::parse("b").unwrap()];
        assert_eq!(rx.recv().await, Some(Delivery::Interrupted { rooms }));
        assert!(tx.interrupted([]));
        assert_eq!(
            rx.recv().await,
            Some(Delivery::Interrupted {
                rooms: vec![RoomName::parse("a").unwrap()]
            })
        );
    }

    #[tokio::test]
    async fn a_closed_hub_is_reported() {
        let (mut tx, rx) = channel(1);
        drop(rx);
        assert!(!tx.send(message("a", 1)));
        assert!(!tx.interrupted([RoomName::lobby()]));
    }
}
