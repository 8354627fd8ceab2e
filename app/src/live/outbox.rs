//! The outbox: messages the user sent that the server has not confirmed yet, and what becomes of
//! each one.
//!
//! Pure state: no clock, no socket, no signal. The caller passes the time (`now_ms`, milliseconds
//! on one clock of its choosing) and sends the frames the operations hand back, so every rule
//! here is unit-tested on the native target.
//!
//! The server answers every `send` with exactly one `ack` or one `error` naming its `client_id`,
//! so every entry ends in one visible outcome: it leaves the outbox when acknowledged (or when the
//! message itself arrives), or it stays as [`State::Failed`] with the server's reason until the
//! user retries or discards it. It is never re-sent forever. Re-sending is safe because the
//! server stores each `client_id` at most once.

use crate::protocol::{ClientId, ClientMsg, ErrorCode, MessageId, RoomName};

/// The first retry after a transient refusal waits this long...
pub const RETRY_BASE_MS: u64 = 1_000;
/// ...doubling per refusal, up to this.
pub const RETRY_CAP_MS: u64 = 30_000;
/// Transient refusals in a row after which a message counts as failed. A backend that has been
/// refusing for this long (about 45 s with the server's own timeouts) is an outage the user
/// should hear about, and decide on, rather than a message that stays "retrying" forever.
pub const MAX_ATTEMPTS: u32 = 6;

/// How long to wait before re-sending a message refused `attempt` times in a row (1-based):
/// [`RETRY_BASE_MS`] doubling to [`RETRY_CAP_MS`]. No jitter: each message's retries start from
/// its own refusal, so many clients' retries are already spread out in time.
pub fn retry_delay_ms(attempt: u32) -> u64 {
    let doublings = attempt.saturating_sub(1).min(20);
    RETRY_BASE_MS
        .saturating_mul(1 << doublings)
        .min(RETRY_CAP_MS)
}

/// Why a message waits that was not refused itself: one written before it was.
const WAITING_BEHIND: &str = "Waiting for the messages before it.";

/// How long after it was written a message kept unsent across page loads is still sent on its
/// own. The server remembers a `client_id` for 24 hours; a message older than that may have
/// been stored already with its acknowledgement lost, and sending it again could show it twice,
/// so it comes back as failed and the user decides.
pub const RESEND_WITHIN_MS: u64 = 23 * 60 * 60 * 1_000;

/// Why a message kept longer than [`RESEND_WITHIN_MS`] is not sent on its own.
const KEPT_TOO_LONG: &str = "Not sent for over a day: it may have gone through already.";

/// Where one message stands.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum State {
    /// Sent on the current connection and not answered yet, or waiting for a connection to be
    /// sent on.
    Sending,
    /// Refused for a transient reason (the backend was unavailable, or the user sent too fast),
    /// or waiting behind a message that was; sent again at `next_at_ms`.
    Retrying {
        /// Failures so far (0 when only slowed down or waiting), 1 after the first.
        attempt: u32,
        next_at_ms: u64,
        /// The server's message with the last refusal.
        reason: String,
    },
    /// Refused for good (or transiently too often): not sent again unless the user asks.
    Failed { reason: String },
}

/// One message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub client_id: ClientId,
    pub text: String,
    /// The message it answers, if it is a reply.
    pub reply_to: Option<MessageId>,
    /// When the user wrote it (unix ms): kept with it across page loads.
    pub written_ms: u64,
    pub state: State,
    /// Transient refusals in a row, kept while the entry is `Sending` again between retries so
    /// that the next refusal continues the backoff instead of restarting it.
    refusals: u32,
}

impl Entry {
    fn frame(&self, room: &RoomName) -> ClientMsg {
        ClientMsg::Send {
            room: room.clone(),
            text: self.text.clone(),
            client_id: self.client_id,
            reply_to: self.reply_to,
        }
    }
}

/// The unconfirmed messages of one room, oldest first (the order they are shown and re-sent in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbox {
    room: RoomName,
    entries: Vec<Entry>,
}

impl Outbox {
    pub fn new(room: RoomName) -> Self {
        Self {
            room,
            entries: Vec::new(),
        }
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn get(&self, client_id: ClientId) -> Option<&Entry> {
        self.entries.iter().find(|e| e.client_id == client_id)
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds a message the user just wrote and returns its frame, to send now if connected (else
    /// [`Outbox::on_reconnect`] returns it). While earlier messages wait for a retry, it waits
    /// with them (and goes out after them): the user's messages are stored in the order written.
    /// Ids are random, so a repeated id is a caller bug; it keeps the first entry rather than
    /// showing the message twice.
    pub fn push(&mut self, client_id: ClientId, text: String) -> Option<ClientMsg> {
        self.push_reply(client_id, text, None, 0)
    }

    /// [`Outbox::push`] for a message that may answer another (`reply_to`), written at
    /// `written_ms`.
    pub fn push_reply(
        &mut self,
        client_id: ClientId,
        text: String,
        reply_to: Option<MessageId>,
        written_ms: u64,
    ) -> Option<ClientMsg> {
        if let Some(entry) = self.get(client_id) {
            return Some(entry.frame(&self.room));
        }
        let waiting = self
            .entries
            .iter()
            .filter_map(|e| match e.state {
                State::Retrying { next_at_ms, .. } => Some(next_at_ms),
                _ => None,
            })
            .max();
        let state = match waiting {
            Some(next_at_ms) => State::Retrying {
                attempt: 0,
                next_at_ms,
                reason: WAITING_BEHIND.to_owned(),
            },
            None => State::Sending,
        };
        let entry = Entry {
            client_id,
            text,
            reply_to,
            written_ms,
            state,
            refusals: 0,
        };
        let frame = (entry.state == State::Sending).then(|| entry.frame(&self.room));
        self.entries.push(entry);
        frame
    }

    /// The server stored the message (an `ack`, or the message itself arrived): it leaves the
    /// outbox, whatever state it was in. False when it was not there (already acknowledged, or
    /// discarded).
    pub fn acked(&mut self, client_id: ClientId) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.client_id != client_id);
        self.entries.len() != before
    }

    /// The server refused the message with `code`. Transient codes schedule a retry with
    /// backoff, until [`MAX_ATTEMPTS`]; permanent ones fail it at once. Returns the entry's new
    /// state, or None when no entry was waiting for an answer (unknown id, or an answer that
    /// comes after the entry already moved on), which changes nothing.
    pub fn refused(
        &mut self,
        client_id: ClientId,
        code: ErrorCode,
        message: &str,
        now_ms: u64,
    ) -> Option<State> {
        let entry = self.awaiting_answer(client_id)?;
        entry.state = if !code.is_transient() {
            State::Failed {
                reason: message.to_owned(),
            }
        } else {
            entry.refusals += 1;
            if entry.refusals >= MAX_ATTEMPTS {
                State::Failed {
                    reason: format!("{message} (gave up after {} attempts)", entry.refusals),
                }
            } else {
                State::Retrying {
                    attempt: entry.refusals,
                    next_at_ms: now_ms.saturating_add(retry_delay_ms(entry.refusals)),
                    reason: message.to_owned(),
                }
            }
        };
        Some(entry.state.clone())
    }

    /// The entry sent with `client_id`, if it is waiting for the server's answer.
    fn awaiting_answer(&mut self, client_id: ClientId) -> Option<&mut Entry> {
        self.entries
            .iter_mut()
            .find(|e| e.client_id == client_id && e.state == State::Sending)
    }

    /// The server said the message sent with `client_id` came too fast (`rate_limited`): it is
    /// sent again after `retry_after_ms`. Not a failure: however long a burst the user wrote,
    /// every message goes out, in order, at the rate the server allows.
    pub fn slowed(
        &mut self,
        client_id: ClientId,
        message: &str,
        retry_after_ms: u64,
        now_ms: u64,
    ) -> Option<State> {
        let entry = self.awaiting_answer(client_id)?;
        entry.state = State::Retrying {
            attempt: entry.refusals,
            next_at_ms: now_ms.saturating_add(retry_after_ms.max(1)),
            reason: message.to_owned(),
        };
        Some(entry.state.clone())
    }

    /// The retries that are due at `now_ms`: they become `Sending` and their frames are
    /// returned, to send now, in the outbox's order. A retry that is not due holds back the ones
    /// after it (even if they are), so the user's messages are never stored out of order. Call
    /// only while connected (after `hello`).
    pub fn due(&mut self, now_ms: u64) -> Vec<ClientMsg> {
        let room = &self.room;
        let mut frames = Vec::new();
        for entry in &mut self.entries {
            match entry.state {
                State::Retrying { next_at_ms, .. } if next_at_ms <= now_ms => {
                    entry.state = State::Sending;
                    frames.push(entry.frame(room));
                }
                State::Retrying { .. } => break,
                State::Sending | State::Failed { .. } => {}
            }
        }
        frames
    }

    /// When the next retry is due, if any is scheduled: the socket task wakes up then. That is
    /// the first waiting message's time, since the ones after it go only after it.
    pub fn next_deadline(&self) -> Option<u64> {
        self.entries.iter().find_map(|e| match e.state {
            State::Retrying { next_at_ms, .. } => Some(next_at_ms),
            _ => None,
        })
    }

    /// A new connection said `hello`: what to send on it. Everything `Sending` (it may never have
    /// reached the lost connection, or its answer was lost with it) and every retry that is due;
    /// retries not yet due wait for their time, and failed messages wait for the user.
    pub fn on_reconnect(&mut self, now_ms: u64) -> Vec<ClientMsg> {
        let room = &self.room;
        let mut frames = Vec::new();
        // A retry not due yet holds back everything after it, in-flight messages included.
        let mut held_until = None;
        for entry in &mut self.entries {
            match (&entry.state, held_until) {
                (State::Failed { .. }, _) => {}
                (State::Retrying { next_at_ms, .. }, None) if *next_at_ms > now_ms => {
                    held_until = Some(*next_at_ms);
                }
                (State::Retrying { .. }, Some(_)) => {}
                (State::Sending, Some(until)) => {
                    entry.state = State::Retrying {
                        attempt: entry.refusals,
                        next_at_ms: until,
                        reason: WAITING_BEHIND.to_owned(),
                    };
                }
                (State::Sending | State::Retrying { .. }, None) => {
                    entry.state = State::Sending;
                    frames.push(entry.frame(room));
                }
            }
        }
        frames
    }

    /// The user asked to send a failed message again: it is `Sending` with a fresh count of
    /// attempts, and its frame is returned to send now. None (and no change) unless it had failed.
    pub fn retry(&mut self, client_id: ClientId) -> Option<ClientMsg> {
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.client_id == client_id && matches!(e.state, State::Failed { .. }))?;
        entry.state = State::Sending;
        entry.refusals = 0;
        Some(entry.frame(&self.room))
    }

    /// Takes back a message an earlier page kept unsent (see [`super::unsent`]), at the end, as
    /// [`Outbox::push_reply`] would, and returns its frame when it goes now. One written more
    /// than [`RESEND_WITHIN_MS`] before `now_ms` comes back failed instead, for the user to send
    /// or discard; one the outbox holds already is left as it is.
    pub fn restore(
        &mut self,
        client_id: ClientId,
        text: String,
        reply_to: Option<MessageId>,
        written_ms: u64,
        now_ms: u64,
    ) -> Option<ClientMsg> {
        if self.get(client_id).is_some() {
            return None;
        }
        if now_ms.saturating_sub(written_ms) > RESEND_WITHIN_MS {
            self.entries.push(Entry {
                client_id,
                text,
                reply_to,
                written_ms,
                state: State::Failed {
                    reason: KEPT_TOO_LONG.to_owned(),
                },
                refusals: 0,
            });
            return None;
        }
        self.push_reply(client_id, text, reply_to, written_ms)
    }

    /// The user gave up on a message: it leaves the outbox and is never sent again. False when
    /// it was not there.
    pub fn discard(&mut self, client_id: ClientId) -> bool {
        self.acked(client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn id(n: u8) -> ClientId {
        ClientId(Uuid::from_bytes([n; 16]))
    }

    fn ids(frames: &[ClientMsg]) -> Vec<ClientId> {
        frames
            .iter()
            .map(|frame| match frame {
                ClientMsg::Send { client_id, .. } => *client_id,
                other => panic!("the outbox hands over only sends, not {other:?}"),
            })
            .collect()
    }

    fn outbox_with(n: u8) -> Outbox {
        let mut outbox = Outbox::new(RoomName::lobby());
        for i in 1..=n {
            outbox.push(id(i), format!("message {i}"));
        }
        outbox
    }

    fn state(outbox: &Outbox, n: u8) -> Option<State> {
        outbox.get(id(n)).map(|e| e.state.clone())
    }

    fn state_of(outbox: &Outbox, n: u8) -> State {
        state(outbox, n).expect("the entry is in the outbox")
    }

    #[test]
    fn a_burst_the_server_slows_down_goes_out_whole_and_in_order() {
        let mut outbox = Outbox::new(RoomName::lobby());
        for n in 1..=3 {
            assert!(outbox.push(id(n), format!("m{n}")).is_some());
        }
        // The server stored the first and slowed the other two down.
        outbox.acked(id(1));
        outbox.slowed(id(2), "too fast", 100, 1_000);
        outbox.slowed(id(3), "too fast", 100, 1_000);
        // What the user writes meanwhile waits behind them, not counted as a failure.
        assert_eq!(outbox.push(id(4), "m4".to_owned()), None);
        assert!(matches!(
            state_of(&outbox, 4),
            State::Retrying {
                attempt: 0,
                next_at_ms: 1_100,
                ..
            }
        ));
        assert!(outbox.due(1_099).is_empty());
        assert_eq!(ids(&outbox.due(1_100)), vec![id(2), id(3), id(4)]);
        // Slowed down again and again: still never failed.
        for round in 0..(MAX_ATTEMPTS as u64 + 2) {
            let now = 2_000 + round * 100;
            outbox.slowed(id(2), "too fast", 100, now);
            assert!(matches!(
                state_of(&outbox, 2),
                State::Retrying { attempt: 0, .. }
            ));
            outbox.due(now + 100);
        }
    }

    #[test]
    fn a_pushed_message_is_sending_and_its_frame_names_room_and_id() {
        let mut outbox = Outbox::new(RoomName::lobby());
        let frame = outbox.push(id(1), "hi".to_owned());
        assert_eq!(
            frame,
            Some(ClientMsg::Send {
                room: RoomName::lobby(),
                text: "hi".to_owned(),
                client_id: id(1),
                reply_to: None,
            })
        );
        assert_eq!(state(&outbox, 1), Some(State::Sending));
        assert_eq!(outbox.next_deadline(), None);
    }

    #[test]
    fn a_repeated_id_is_not_shown_twice() {
        let mut outbox = outbox_with(1);
        outbox.push(id(1), "again".to_owned());
        assert_eq!(outbox.entries().len(), 1);
        assert_eq!(outbox.entries()[0].text, "message 1");
    }

    #[test]
    fn an_ack_removes_the_entry_in_any_state() {
        let mut outbox = outbox_with(3);
        outbox.refused(id(2), ErrorCode::Unavailable, "busy", 0);
        outbox.refused(id(3), ErrorCode::InvalidText, "empty", 0);
        for n in 1..=3 {
            assert!(outbox.acked(id(n)));
        }
        assert!(outbox.is_empty());
        assert!(!outbox.acked(id(1)), "a second ack changes nothing");
    }

    #[test]
    fn a_permanent_refusal_fails_the_message_with_the_reason() {
        let mut outbox = outbox_with(1);
        let now = 1_000;
        let state = outbox.refused(id(1), ErrorCode::InvalidText, "Not sent: empty.", now);
        let failed = State::Failed {
            reason: "Not sent: empty.".to_owned(),
        };
        assert_eq!(state, Some(failed.clone()));
        assert_eq!(outbox.next_deadline(), None);
        assert!(outbox.due(u64::MAX).is_empty(), "never re-sent by itself");
        assert!(outbox.on_reconnect(u64::MAX).is_empty());
        assert_eq!(state_of(&outbox, 1), failed);
    }

    #[test]
    fn transient_refusals_retry_with_doubling_backoff_then_fail() {
        let mut outbox = outbox_with(1);
        let mut now = 10_000;
        let mut delays = Vec::new();
        for attempt in 1..MAX_ATTEMPTS {
            let state = outbox.refused(id(1), ErrorCode::Unavailable, "unavailable", now);
            let Some(State::Retrying {
                attempt: got,
                next_at_ms,
                reason,
            }) = state
            else {
                panic!("attempt {attempt}: expected a retry, got {state:?}");
            };
            assert_eq!((got, reason.as_str()), (attempt, "unavailable"));
            assert_eq!(outbox.next_deadline(), Some(next_at_ms));
            delays.push(next_at_ms - now);
            assert!(outbox.due(next_at_ms - 1).is_empty(), "not before its time");
            assert_eq!(ids(&outbox.due(next_at_ms)), vec![id(1)]);
            assert_eq!(state_of(&outbox, 1), State::Sending);
            assert!(outbox.due(next_at_ms).is_empty(), "sent once per retry");
            now = next_at_ms + 2_000;
        }
        assert_eq!(delays, vec![1_000, 2_000, 4_000, 8_000, 16_000]);
        let last = outbox.refused(id(1), ErrorCode::Unavailable, "unavailable", now);
        assert!(
            matches!(last, Some(State::Failed { ref reason }) if reason.starts_with("unavailable")),
            "the last transient refusal fails it: {last:?}"
        );
        assert_eq!(outbox.next_deadline(), None);
    }

    #[test]
    fn retry_delays_double_to_the_cap() {
        assert_eq!(retry_delay_ms(0), RETRY_BASE_MS);
        assert_eq!(retry_delay_ms(1), 1_000);
        assert_eq!(retry_delay_ms(5), 16_000);
        assert_eq!(retry_delay_ms(6), RETRY_CAP_MS);
        assert_eq!(retry_delay_ms(u32::MAX), RETRY_CAP_MS);
    }

    #[test]
    fn a_later_retry_waits_for_an_earlier_one() {
        let mut outbox = outbox_with(3);
        outbox.refused(id(1), ErrorCode::Unavailable, "x", 5_000);
        outbox.refused(id(2), ErrorCode::Unavailable, "x", 1_000);
        // The second is due first, but goes only after the first: order is kept.
        assert_eq!(outbox.next_deadline(), Some(6_000));
        assert!(outbox.due(2_000).is_empty());
        assert_eq!(ids(&outbox.due(6_000)), vec![id(1), id(2)]);
        assert_eq!(outbox.next_deadline(), None);
        // On a reconnect too; and what was in flight behind a waiting one waits with it.
        let mut outbox = outbox_with(3);
        outbox.refused(id(1), ErrorCode::Unavailable, "x", 5_000);
        assert_eq!(ids(&outbox.on_reconnect(1_000)), Vec::<ClientId>::new());
        assert!(matches!(
            state_of(&outbox, 3),
            State::Retrying {
                next_at_ms: 6_000,
                ..
            }
        ));
        assert_eq!(ids(&outbox.due(6_000)), vec![id(1), id(2), id(3)]);
    }

    #[test]
    fn a_reconnect_resends_sending_and_due_retries_but_not_failed_ones() {
        let mut outbox = outbox_with(4);
        outbox.refused(id(2), ErrorCode::Unavailable, "x", 0); // due at 1 000
        outbox.refused(id(3), ErrorCode::Lagged, "x", 9_000); // due at 10 000
        outbox.refused(id(4), ErrorCode::WrongRoom, "x", 0);
        assert_eq!(ids(&outbox.on_reconnect(5_000)), vec![id(1), id(2)]);
        assert_eq!(state_of(&outbox, 2), State::Sending);
        assert!(matches!(state_of(&outbox, 3), State::Retrying { .. }));
        assert!(matches!(state_of(&outbox, 4), State::Failed { .. }));
        assert_eq!(outbox.next_deadline(), Some(10_000));
    }

    #[test]
    fn backoff_continues_across_a_resend() {
        let mut outbox = outbox_with(1);
        outbox.refused(id(1), ErrorCode::Unavailable, "x", 0);
        outbox.on_reconnect(1_000);
        let second = outbox.refused(id(1), ErrorCode::Unavailable, "x", 1_000);
        assert!(matches!(
            second,
            Some(State::Retrying {
                attempt: 2,
                next_at_ms: 3_000,
                ..
            })
        ));
    }

    #[test]
    fn answers_for_entries_not_awaiting_one_change_nothing() {
        let mut outbox = outbox_with(2);
        outbox.refused(id(1), ErrorCode::Unavailable, "x", 0);
        let before = outbox.clone();
        assert_eq!(outbox.refused(id(1), ErrorCode::InvalidText, "y", 0), None);
        assert_eq!(outbox.refused(id(9), ErrorCode::InvalidText, "y", 0), None);
        assert_eq!(outbox, before);
    }

    #[test]
    fn the_user_can_retry_or_discard_a_failed_message() {
        let mut outbox = outbox_with(2);
        for _ in 0..MAX_ATTEMPTS {
            outbox.refused(id(1), ErrorCode::Unavailable, "x", 0);
            outbox.due(u64::MAX);
        }
        assert!(matches!(state_of(&outbox, 1), State::Failed { .. }));
        outbox.refused(id(2), ErrorCode::InvalidText, "bad", 0);

        assert_eq!(outbox.retry(id(1)).map(|f| ids(&[f])), Some(vec![id(1)]));
        assert_eq!(state_of(&outbox, 1), State::Sending);
        assert_eq!(
            outbox.retry(id(1)),
            None,
            "only a failed message is retried"
        );
        let fresh = outbox.refused(id(1), ErrorCode::Unavailable, "x", 0);
        assert!(
            matches!(fresh, Some(State::Retrying { attempt: 1, .. })),
            "a retry by the user starts the count afresh: {fresh:?}"
        );

        assert!(outbox.discard(id(2)));
        assert!(!outbox.discard(id(2)));
        assert_eq!(ids(&outbox.on_reconnect(u64::MAX)), vec![id(1)]);
    }

    #[test]
    fn a_restored_message_goes_out_like_a_new_one_unless_it_waited_too_long() {
        let mut outbox = outbox_with(1);
        let now = RESEND_WITHIN_MS + 10;
        // Already held: left alone.
        assert_eq!(outbox.restore(id(1), "again".into(), None, now, now), None);
        assert_eq!(outbox.get(id(1)).unwrap().text, "message 1");
        // Recent: sent, after what the outbox holds, keeping when it was written.
        let frame = outbox.restore(id(2), "kept".into(), None, 10, now);
        assert_eq!(ids(&[frame.unwrap()]), vec![id(2)]);
        assert_eq!(outbox.get(id(2)).unwrap().written_ms, 10);
        // Over a day old: failed, for the user to decide.
        assert_eq!(outbox.restore(id(3), "old".into(), None, 9, now), None);
        assert!(matches!(state(&outbox, 3), Some(State::Failed { .. })));
        assert_eq!(
            outbox
                .entries()
                .iter()
                .map(|e| e.client_id)
                .collect::<Vec<_>>(),
            vec![id(1), id(2), id(3)]
        );
        // The user sends it anyway.
        assert_eq!(ids(&[outbox.retry(id(3)).unwrap()]), vec![id(3)]);
    }

    #[test]
    fn a_restored_message_waits_behind_a_retry() {
        let mut outbox = outbox_with(1);
        outbox.refused(id(1), ErrorCode::Unavailable, "down", 100);
        assert_eq!(outbox.restore(id(2), "kept".into(), None, 50, 100), None);
        assert!(matches!(state(&outbox, 2), Some(State::Retrying { .. })));
    }
}
