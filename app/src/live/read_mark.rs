//! How far the person has read one room, as this page knows it: the server's read mark (kept
//! for the person, so every tab and device agrees), moved here when the reader sees new
//! messages, and sent back at most every [`READ_EVERY_MS`].
//!
//! Pure, like the rest of the page's state: the caller passes the time and sends the frames it
//! is handed. The rules:
//! - a mark only moves forward, whoever moved it (this page, or a `read` frame from the server
//!   saying another tab did);
//! - until the server has said where the mark is (a `read` frame after the room's catch-up, or
//!   none: the catch-up ends with the room's `presence` either way) nothing counts as unread, so
//!   a page never flashes a badge for what was read elsewhere;
//! - a person who never read the room has read what was there when they first opened it: its
//!   history is not news;
//! - the "new messages" divider stands above the first unread message when the reader comes to
//!   the room (or back to the tab), and stays there while they read on.

use crate::protocol::{ClientMsg, MessageId, RoomName, READ_EVERY_MS};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadMark {
    /// Everything up to this id is read; `None`: nothing is.
    at: Option<MessageId>,
    /// The server said where the mark is (or that there is none).
    known: bool,
    /// The newest mark the server has: sent from here, or heard from it.
    saved: Option<MessageId>,
    /// When this page last sent a mark (ms on the caller's clock).
    sent_at: Option<u64>,
    /// Where the "new messages" divider stands, while the reader is in the room.
    pub divider: Option<MessageId>,
}

impl ReadMark {
    /// Whether message `id` is past the mark. Nothing is, until the mark is known.
    pub fn is_unread(&self, id: MessageId) -> bool {
        self.known && self.at.is_none_or(|at| id > at)
    }

    /// Where the mark is: messages after it are unread.
    pub fn at(&self) -> Option<MessageId> {
        self.at
    }

    /// The server said the mark is at `id` (this page's or another's move).
    pub fn heard(&mut self, id: MessageId) {
        self.at = self.at.max(Some(id));
        self.saved = self.saved.max(Some(id));
    }

    /// The room's catch-up ended (with the mark, if the person had one); `newest` is the newest
    /// message held. A person without a mark has read what was there.
    pub fn settled(&mut self, newest: Option<MessageId>) {
        if !std::mem::replace(&mut self.known, true) && self.at.is_none() {
            self.at = newest;
            // Only this page's assumption: nothing to tell the server.
            self.saved = newest;
        }
    }

    /// The reader has seen the room up to `newest`; `first_unread` is the first message of
    /// others past the mark (where the divider goes, unless it stands already). Returns whether
    /// the mark moved.
    pub fn read_to(&mut self, newest: MessageId, first_unread: Option<MessageId>) -> bool {
        if !self.known || self.at.is_some_and(|at| at >= newest) {
            return false;
        }
        if self.divider.is_none() {
            self.divider = first_unread;
        }
        self.at = Some(newest);
        true
    }

    /// The `read` frame to send at `now_ms`, if the mark moved past what the server has and the
    /// last one went at least [`READ_EVERY_MS`] ago.
    pub fn due(&mut self, room: &RoomName, now_ms: u64) -> Option<ClientMsg> {
        let id = self.at.filter(|at| self.saved < Some(*at))?;
        if self.deadline().is_some_and(|at| now_ms < at) {
            return None;
        }
        self.saved = Some(id);
        self.sent_at = Some(now_ms);
        Some(ClientMsg::Read {
            room: room.clone(),
            id,
        })
    }

    /// When the mark waiting to go may be sent, if one is waiting.
    pub fn deadline(&self) -> Option<u64> {
        let waiting = self.at.is_some() && self.saved < self.at;
        waiting.then(|| self.sent_at.map_or(0, |at| at + READ_EVERY_MS))
    }

    /// A socket that is gone took any frame in flight with it: the next socket's catch-up says
    /// where the server's mark is, and anything newer here goes again.
    pub fn reconnected(&mut self) {
        self.sent_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64) -> MessageId {
        MessageId { ms, seq: 0 }
    }

    fn lobby() -> RoomName {
        RoomName::lobby()
    }

    fn sent(frame: Option<ClientMsg>) -> Option<MessageId> {
        match frame {
            Some(ClientMsg::Read { id, .. }) => Some(id),
            Some(other) => panic!("{other:?}"),
            None => None,
        }
    }

    #[test]
    fn nothing_is_unread_until_the_server_said_where_the_mark_is() {
        let mut mark = ReadMark::default();
        assert!(!mark.is_unread(id(5)));
        assert!(!mark.read_to(id(5), Some(id(5))), "not known yet");
        mark.heard(id(3));
        mark.settled(Some(id(9)));
        assert!(mark.is_unread(id(5)) && !mark.is_unread(id(3)));
        assert_eq!(mark.due(&lobby(), 0), None, "the server has it");
    }

    #[test]
    fn without_a_mark_the_history_is_read_and_what_follows_is_not() {
        let mut mark = ReadMark::default();
        mark.settled(Some(id(9)));
        assert!(!mark.is_unread(id(9)) && mark.is_unread(id(10)));
        assert_eq!(
            mark.due(&lobby(), 0),
            None,
            "an assumption, not news for the server"
        );
        let mut empty = ReadMark::default();
        empty.settled(None);
        assert!(
            empty.is_unread(id(1)),
            "an empty room's first message is news"
        );
    }

    #[test]
    fn reading_moves_the_mark_forward_only_and_sends_it_at_most_every_second() {
        let mut mark = ReadMark::default();
        mark.settled(Some(id(1)));
        assert!(mark.read_to(id(5), Some(id(2))));
        assert_eq!(mark.divider, Some(id(2)));
        assert_eq!(
            sent(mark.due(&lobby(), 1_000)),
            Some(id(5)),
            "the first goes at once"
        );
        assert!(mark.read_to(id(7), Some(id(6))));
        assert_eq!(
            mark.divider,
            Some(id(2)),
            "the divider stays while reading on"
        );
        assert_eq!(mark.due(&lobby(), 1_500), None);
        assert_eq!(mark.deadline(), Some(2_000));
        assert!(mark.read_to(id(8), None));
        assert_eq!(
            sent(mark.due(&lobby(), 2_000)),
            Some(id(8)),
            "the newest, once"
        );
        assert_eq!(mark.deadline(), None);
        // Another tab read further; an older mark heard late changes nothing.
        mark.heard(id(12));
        mark.heard(id(10));
        assert!(!mark.is_unread(id(12)) && mark.is_unread(id(13)));
        assert!(!mark.read_to(id(11), None), "never back");
        assert_eq!(mark.due(&lobby(), 9_000), None);
    }
}
