//! The unsent messages the browser keeps across page loads: what is in the outboxes is written
//! to `localStorage` (one entry per account, see [`crate::stored`]) as it changes, and a page
//! that loads takes back whatever an earlier page of the account left there. So a reload or a
//! closed tab during an outage loses nothing typed: each kept message shows as pending again
//! and goes out on the next connection with its own `client_id`, which the server stores at
//! most once (within a day, see [`RESEND_WITHIN_MS`]), however many pages send it.
//!
//! Several tabs of one account share the entry: each change is merged into what storage holds
//! ([`merge`]), so a tab removes only the messages it saw leave its own outboxes and adds only
//! its own. Signing out removes the entry. Storage that is missing or full keeps the messages in
//! the page only, and the page says so while any are unsent.

use super::state::Chat;
use super::Live;
use crate::protocol::{ClientId, MessageId, RoomName, UserId};
use crate::stored::Stored;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

pub use super::outbox::RESEND_WITHIN_MS;

/// The most messages kept for an account; the oldest go first.
pub const MAX_KEPT: usize = 200;

/// One unsent message as kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsent {
    pub room: RoomName,
    pub client_id: ClientId,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<MessageId>,
    /// When it was written (unix ms).
    pub at: u64,
}

/// What storage keeps after a page's outboxes changed from `before` (as last written) to
/// `now`, when it holds `stored` (other pages' messages too): the messages that left this page's
/// outboxes (sent, or discarded) leave, the ones that came into them are added at the end, and
/// the rest stays as it is, in its order; then the oldest beyond [`MAX_KEPT`] go. A message
/// that was in both and is missing from storage stays missing: another tab saw it sent, or
/// the account signed out.
pub fn merge(stored: Vec<Unsent>, before: &[Unsent], now: &[Unsent]) -> Vec<Unsent> {
    let holds = |list: &[Unsent], id: ClientId| list.iter().any(|u| u.client_id == id);
    let mut kept: Vec<Unsent> = stored
        .into_iter()
        .filter(|u| !holds(before, u.client_id) || holds(now, u.client_id))
        .collect();
    for unsent in now {
        if !holds(before, unsent.client_id) && !holds(&kept, unsent.client_id) {
            kept.push(unsent.clone());
        }
    }
    let over = kept.len().saturating_sub(MAX_KEPT);
    kept.drain(..over);
    kept
}

/// The keeping of one page's unsent messages. `Copy`: a set of handles.
#[derive(Clone, Copy)]
pub struct Kept {
    stored: Stored<Vec<Unsent>>,
    /// The browser would not keep them (no storage, or full): they live in this page only.
    pub unkept: RwSignal<bool>,
    /// Signed out: nothing more is written.
    stopped: StoredValue<bool>,
}

impl Kept {
    /// Keeps `live`'s unsent messages for `user`: once the page is hydrated, takes back what
    /// earlier pages left unsent, then writes every change of the outboxes.
    pub fn new(live: Live, user: UserId) -> Self {
        let kept = Self {
            stored: Stored::new("outbox", user),
            unkept: RwSignal::new(false),
            stopped: StoredValue::new(false),
        };
        Effect::new(move |_| {
            let earlier = kept.stored.read();
            if !earlier.is_empty() {
                live.restore(earlier);
            }
        });
        let unsent = Memo::new(move |_| live.chat.with(Chat::unsent));
        // Each run passes on what storage was last given, so a write that failed is made good
        // by the next one.
        Effect::new(move |before: Option<Vec<Unsent>>| {
            let before = before.unwrap_or_default();
            let now = unsent.get();
            if kept.stopped.get_value() {
                return now;
            }
            let merged = merge(kept.stored.read(), &before, &now);
            let failed = kept.stored.write(&merged).is_err();
            kept.unkept.set(failed && !now.is_empty());
            if failed {
                before
            } else {
                now
            }
        });
        kept
    }

    /// Signing out: forgets every kept message of the account, and keeps nothing more.
    pub fn clear(self) {
        self.stopped.set_value(true);
        // Storage that cannot be written to kept nothing either.
        let _ = self.stored.remove();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn unsent(n: u8) -> Unsent {
        Unsent {
            room: RoomName::lobby(),
            client_id: ClientId(Uuid::from_bytes([n; 16])),
            text: format!("message {n}"),
            reply_to: None,
            at: u64::from(n),
        }
    }

    fn list(ns: &[u8]) -> Vec<Unsent> {
        ns.iter().copied().map(unsent).collect()
    }

    #[test]
    fn a_page_adds_its_new_messages_and_removes_only_those_that_left_it() {
        // Storage holds another tab's 1 and this page's 2 and 3; 3 was acknowledged here, 4 is new.
        let merged = merge(list(&[1, 2, 3]), &list(&[2, 3]), &list(&[2, 4]));
        assert_eq!(merged, list(&[1, 2, 4]));
    }

    #[test]
    fn a_message_another_tab_sent_stays_gone() {
        // This page holds 1 (taken back at load), which another tab has sent and removed since.
        assert_eq!(merge(list(&[]), &list(&[1]), &list(&[1, 2])), list(&[2]));
        // A page's first write (nothing before) adds all it holds.
        assert_eq!(merge(list(&[]), &[], &list(&[1])), list(&[1]));
    }

    #[test]
    fn the_oldest_go_beyond_the_limit() {
        let many: Vec<Unsent> = (0..=u8::MAX).map(unsent).collect();
        let merged = merge(Vec::new(), &[], &many);
        assert_eq!(merged.len(), MAX_KEPT);
        assert_eq!(merged[0], unsent(u8::MAX - MAX_KEPT as u8 + 1));
    }

    #[test]
    fn the_stored_form_reads_back() {
        let mut reply = unsent(7);
        reply.reply_to = Some(MessageId {
            ms: 1_764_312_345_678,
            seq: 0,
        });
        let json = serde_json::to_string(&vec![unsent(1), reply.clone()]).unwrap();
        let back: Vec<Unsent> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, vec![unsent(1), reply]);
    }
}
