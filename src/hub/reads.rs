//! Read marks moving in a room: each move reaches every instance subscribed to the room, and
//! here the moves gather into one event per [`super::window::FRAME_WINDOW`] at most, naming each
//! person's newest mark. Every socket of the room gets the event and passes on its own person's
//! mark (if it is there) as a `read` frame. So a crowd reading along costs each socket one wake
//! a second, not one per reader per message.

use super::window::{Flush, Window};
use app::protocol::{MessageId, UserId};
use std::{collections::BTreeMap, sync::Arc};
use tokio::time::Instant;

/// The marks that moved in a window, by user (sorted, for a binary search per socket).
pub type Moves = Arc<[(UserId, MessageId)]>;

#[derive(Default)]
pub struct RoomReads {
    /// Each mover's newest mark since the last event.
    moved: BTreeMap<UserId, MessageId>,
    window: Window,
}

impl RoomReads {
    /// `user`'s mark moved to `id`.
    pub fn moved(&mut self, user: UserId, id: MessageId, now: Instant) -> Flush {
        let mark = self.moved.entry(user).or_insert(id);
        *mark = (*mark).max(id);
        self.window.changed(now)
    }

    /// The moves since the last event, if any.
    pub fn flush(&mut self, now: Instant) -> Option<Moves> {
        self.window.flushed(now, !self.moved.is_empty());
        if self.moved.is_empty() {
            return None;
        }
        Some(std::mem::take(&mut self.moved).into_iter().collect())
    }
}

/// `user`'s mark among `moves`, if it moved.
pub fn mark_of(moves: &[(UserId, MessageId)], user: UserId) -> Option<MessageId> {
    moves
        .binary_search_by_key(&user, |(u, _)| *u)
        .ok()
        .map(|i| moves[i].1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64) -> MessageId {
        MessageId { ms, seq: 0 }
    }

    #[test]
    fn a_window_keeps_each_persons_newest_mark() {
        let (alice, bob) = (
            UserId(uuid::Uuid::from_u128(2)),
            UserId(uuid::Uuid::from_u128(1)),
        );
        let t0 = Instant::now();
        let mut reads = RoomReads::default();
        assert_eq!(reads.moved(alice, id(5), t0), Flush::Now);
        let moves = reads.flush(t0).unwrap();
        assert_eq!(mark_of(&moves, alice), Some(id(5)));
        assert_eq!(mark_of(&moves, bob), None);
        // Within the window: gathered, and out of order they still end on the newest.
        assert!(matches!(reads.moved(alice, id(9), t0), Flush::At(_)));
        assert_eq!(reads.moved(alice, id(7), t0), Flush::Nothing);
        assert_eq!(reads.moved(bob, id(8), t0), Flush::Nothing);
        let moves = reads
            .flush(t0 + super::super::window::FRAME_WINDOW)
            .unwrap();
        assert_eq!(
            (mark_of(&moves, alice), mark_of(&moves, bob)),
            (Some(id(9)), Some(id(8)))
        );
        assert!(reads
            .flush(t0 + super::super::window::FRAME_WINDOW)
            .is_none());
    }
}
