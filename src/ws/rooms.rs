//! The rooms one socket is in: each room's membership, its event feed, and the last id this
//! socket sent from it.
//!
//! A socket starts in the room its URL names and adds or drops rooms with `join` and `leave`
//! frames (at most [`MAX_ROOMS_PER_SOCKET`]). Every rule the socket keeps for one room — each
//! id once and in order, backfill after an interruption — it keeps for each room separately, so
//! the bookkeeping lives per room here.
//!
//! The loop waits on all the rooms at once. A room's `broadcast` receive must stay registered
//! while the socket waits (a dropped receive future forgets its waker), so each room keeps its
//! receive in a [`Feed`]: one small allocation per room, reused for every event.

use super::transport::SendFailed;
use crate::hub::{Membership, Outgoing, RoomEvent, RoomReceiver};
use crate::presence::Here;
use app::protocol::{MessageId, RoomName};
use std::{
    future::Future,
    sync::Arc,
    task::{Context, Poll, Waker},
};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::ReusableBoxFuture;

pub use app::protocol::MAX_ROOMS_PER_SOCKET;

type Received = (Result<RoomEvent, RecvError>, RoomReceiver);

/// One room's events, as a receive that stays registered between polls.
struct Feed(ReusableBoxFuture<'static, Received>);

async fn receive(mut receiver: RoomReceiver) -> Received {
    let event = receiver.recv().await;
    (event, receiver)
}

impl Feed {
    fn new(receiver: RoomReceiver) -> Self {
        Self(ReusableBoxFuture::new(receive(receiver)))
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<RoomEvent, RecvError>> {
        let (event, receiver) = std::task::ready!(self.0.poll(cx));
        // Same layout: the allocation is reused.
        self.0.set(receive(receiver));
        Poll::Ready(event)
    }
}

/// Whether a room's message `id` goes out on the socket, given the newest id it sent from the
/// room (moved on if so). A socket joins a room's live feed *before* reading its history, so the
/// two overlap: what the catch-up already sent comes again live, and is dropped here. Each id
/// goes out once, in order.
pub fn take_newer(last_sent: &mut Option<MessageId>, id: MessageId) -> bool {
    if last_sent.is_some_and(|last| id <= last) {
        return false;
    }
    *last_sent = Some(id);
    true
}

/// A room joined on this instance and caught up, ready to be one of the socket's rooms.
pub struct Entered {
    pub membership: Membership,
    pub receiver: RoomReceiver,
    pub last_sent: Option<MessageId>,
    pub here: Here,
    pub presence_version: u64,
}

/// One room of the socket.
pub struct Room {
    /// Held for its `Drop`, which leaves the room on this instance.
    membership: Membership,
    /// Held for its `Drop`, which ends this socket's presence in the room.
    _here: Here,
    feed: Feed,
    /// The newest id this socket sent from the room: older or equal ids are not sent again.
    pub last_sent: Option<MessageId>,
    /// The version of the last presence frame sent: older ones are not sent.
    pub presence_version: u64,
    /// When the user last typed here: more than one signal a second is ignored.
    pub typed_at: Option<tokio::time::Instant>,
    /// A move of the person's read mark the backend could not store (it was down): stored
    /// when the room's feed comes back from the interruption.
    pub unsaved_mark: Option<MessageId>,
    /// An event taken while batching that was not a message: handled next.
    stashed: Option<Result<RoomEvent, RecvError>>,
}

impl Room {
    pub fn name(&self) -> &RoomName {
        &self.membership.room
    }

    /// The next message already waiting in this room, without waiting for one. Any other event
    /// waiting is stashed, and returned by the next [`Rooms::next_event`].
    pub fn try_next_message(&mut self) -> Option<Arc<Outgoing>> {
        if self.stashed.is_some() {
            return None;
        }
        // Polled with a waker that does nothing: if nothing is waiting, the feed stays
        // registered and the next real poll (the loop always polls again) installs its waker.
        let mut cx = Context::from_waker(Waker::noop());
        match self.feed.poll(&mut cx) {
            Poll::Ready(Ok(RoomEvent::Message(outgoing))) => Some(outgoing),
            Poll::Ready(other) => {
                self.stashed = Some(other);
                None
            }
            Poll::Pending => None,
        }
    }
}

/// The socket's rooms, in the order they were joined.
#[derive(Default)]
pub struct Rooms {
    rooms: Vec<Room>,
    /// Where the next wait starts looking, so a busy room cannot starve the others.
    start: usize,
}

impl Rooms {
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    pub fn contains(&self, room: &RoomName) -> bool {
        self.rooms.iter().any(|r| r.name() == room)
    }

    pub fn find(&mut self, room: &RoomName) -> Option<&mut Room> {
        self.rooms.iter_mut().find(|r| r.name() == room)
    }

    /// Adds a room the socket has entered.
    pub fn add(&mut self, entered: Entered) {
        // One room more, not four: most sockets are in one room for life, and a `Room` is about
        // 190 bytes that an idle socket would keep three spares of.
        if self.rooms.len() == self.rooms.capacity() {
            self.rooms.reserve_exact(1);
        }
        self.rooms.push(Room {
            membership: entered.membership,
            _here: entered.here,
            feed: Feed::new(entered.receiver),
            last_sent: entered.last_sent,
            presence_version: entered.presence_version,
            typed_at: None,
            unsaved_mark: None,
            stashed: None,
        });
    }

    /// Takes a room off the socket (leaving it on this instance). False if it was not on it.
    pub fn remove(&mut self, room: &RoomName) -> bool {
        let before = self.rooms.len();
        self.rooms.retain(|r| r.name() != room);
        self.rooms.len() < before
    }

    pub fn get_mut(&mut self, index: usize) -> &mut Room {
        &mut self.rooms[index]
    }

    /// The next event of any room, with the index of its room. Pending forever with no rooms.
    pub fn next_event(
        &mut self,
    ) -> impl Future<Output = (usize, Result<RoomEvent, RecvError>)> + '_ {
        std::future::poll_fn(move |cx| self.poll_event(cx))
    }

    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<(usize, Result<RoomEvent, RecvError>)> {
        let count = self.rooms.len();
        for offset in 0..count {
            let index = (self.start + offset) % count;
            let room = &mut self.rooms[index];
            let event = match room.stashed.take() {
                Some(event) => event,
                None => match room.feed.poll(cx) {
                    Poll::Ready(event) => event,
                    Poll::Pending => continue,
                },
            };
            self.start = (index + 1) % count;
            return Poll::Ready((index, event));
        }
        Poll::Pending
    }
}

/// Why a room could not be entered.
pub enum NotEntered {
    /// The backend could not subscribe this instance to the room; the client was told.
    Unavailable,
    /// The socket can no longer be written to.
    SendFailed,
}

impl From<SendFailed> for NotEntered {
    fn from(_: SendFailed) -> Self {
        NotEntered::SendFailed
    }
}

/// Why a frame naming a room the socket is not in was refused.
pub fn not_joined(room: &RoomName) -> String {
    format!("This socket has not joined #{room}.")
}

#[cfg(test)]
mod tests {
    use super::take_newer;
    use app::protocol::MessageId;
    use proptest::prelude::*;

    fn id(n: u64) -> MessageId {
        MessageId { ms: n, seq: 0 }
    }

    proptest! {
        /// The hand-over: a client that has everything up to `after` resumes. The socket joins
        /// the live feed at `joined` (everything stored from then on arrives live), then reads
        /// the history after `after` up to `read_to` (which reaches at least `joined - 1`: the
        /// read starts after the join). Then, any number of times, the feed is interrupted and
        /// the socket reads again from what it sent. Whatever the overlaps, the client gets
        /// every id after `after` exactly once, in order.
        #[test]
        fn the_hand_over_sends_every_id_once_in_order(
            after in 0u64..50,
            joined_after in 0u64..50,
            read_more in 0u64..50,
            tail in 0u64..50,
            interruptions in proptest::collection::vec((0u64..30, 0u64..30), 0..4),
        ) {
            let joined = after + 1 + joined_after;
            let read_to = joined - 1 + read_more;
            let mut newest = read_to + tail;
            let mut last_sent = Some(id(after));
            let mut out = Vec::new();
            // The catch-up: history after `after`, up to `read_to`.
            for n in after + 1..=read_to {
                if take_newer(&mut last_sent, id(n)) { out.push(n); }
            }
            // The live feed from the join on.
            let mut live_from = joined;
            for (lost, reread) in interruptions {
                // Live up to some point, then an interruption loses `lost` live ones...
                let delivered_to = (live_from + reread).min(newest);
                for n in live_from..=delivered_to {
                    if take_newer(&mut last_sent, id(n)) { out.push(n); }
                }
                // ...the feed comes back (joined again), and the backfill reads from what was
                // sent, up to the present and past where the feed resumed.
                let resumed = delivered_to + 1 + lost;
                newest = newest.max(resumed);
                let from = last_sent.map_or(0, |m| m.ms) + 1;
                for n in from..resumed {
                    if take_newer(&mut last_sent, id(n)) { out.push(n); }
                }
                live_from = resumed;
            }
            for n in live_from..=newest {
                if take_newer(&mut last_sent, id(n)) { out.push(n); }
            }
            let expected: Vec<u64> = (after + 1..=newest).collect();
            prop_assert_eq!(out, expected);
        }
    }
}
