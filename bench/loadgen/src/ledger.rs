//! Every message accounted for: who sent what, who received what, how late, and how often.
//!
//! A message's text is `<run>:<sender>:<seq>:<scheduled µs> xxx…`. Each sender's messages reach
//! every receiver in its room in `seq` order (a socket's sends are stored one after another, and
//! a room is delivered in stored order), so a receiver only needs the next `seq` it expects from
//! each sender of its room: a smaller one is a duplicate (or a reordering), a larger one means
//! the ones between were lost. At the end, whatever a receiver still lacks of what the servers
//! acknowledged is lost too.

use hdrhistogram::Histogram;
use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

/// Latencies above this (60 s) are clamped into the top bucket.
const MAX_LATENCY_US: u64 = 60_000_000;

/// Who sends in which room: sender `s` is client `s` and sends in room `s mod rooms`.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub clients: usize,
    pub rooms: usize,
    pub senders: usize,
}

impl Layout {
    pub fn room_of(self, client: usize) -> usize {
        client % self.rooms
    }

    /// How many senders room `room` has.
    fn senders_in(self, room: usize) -> usize {
        if room >= self.senders {
            0
        } else {
            (self.senders - room).div_ceil(self.rooms)
        }
    }

    /// Receivers in the room of `sender` (every client of the room, the sender included).
    fn receivers_of(self, sender: usize) -> usize {
        let room = self.room_of(sender);
        if room >= self.clients {
            0
        } else {
            (self.clients - room).div_ceil(self.rooms)
        }
    }
}

/// A message as a receiver read it back from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub sender: usize,
    pub seq: u32,
    /// When it was scheduled to be sent, in µs after the run's epoch.
    pub scheduled_us: u64,
}

/// What each sender did.
#[derive(Debug, Default, Clone)]
struct Sender {
    /// Messages handed to a socket (each counted once, however often it was re-sent).
    sent: u32,
    /// Messages the server acknowledged (stored).
    acked: u32,
    /// Messages the server refused for good.
    refused: HashSet<u32>,
}

/// Figures at the end of a run.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Tally {
    pub sent: u64,
    pub acked: u64,
    pub refused: u64,
    pub expected: u64,
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// `message` frames that were not this run's (join notices, history from earlier runs).
    pub other_messages: u64,
}

pub struct Ledger {
    tag: String,
    epoch: Instant,
    layout: Layout,
    /// Per receiver, per sender of its room (by `sender / rooms`): the next `seq` expected.
    next: Vec<Vec<u32>>,
    senders: Vec<Sender>,
    /// Scheduled times (µs after the epoch) of the measured window; latencies count there only.
    window: Option<(u64, u64)>,
    /// Receive times of the measured window, for deliveries per second.
    receive_window: Option<(Instant, Instant)>,
    pub latency_us: Histogram<u64>,
    delivered: u64,
    delivered_in_window: u64,
    holes: u64,
    duplicated: u64,
    other_messages: u64,
}

impl Ledger {
    pub fn new(tag: String, epoch: Instant, layout: Layout) -> Self {
        let next = (0..layout.clients)
            .map(|c| vec![0; layout.senders_in(layout.room_of(c))])
            .collect();
        Self {
            tag,
            epoch,
            layout,
            next,
            senders: vec![Sender::default(); layout.senders],
            window: None,
            receive_window: None,
            latency_us: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("valid histogram bounds"),
            delivered: 0,
            delivered_in_window: 0,
            holes: 0,
            duplicated: 0,
            other_messages: 0,
        }
    }

    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The text of message `seq` of `sender`, scheduled at `scheduled`, padded to `size` bytes.
    pub fn text(&self, sender: usize, seq: u32, scheduled: Instant, size: usize) -> String {
        let us = scheduled.saturating_duration_since(self.epoch).as_micros();
        let mut text = format!("{}:{sender}:{seq}:{us} ", self.tag);
        if text.len() < size {
            text.extend(std::iter::repeat_n('x', size - text.len()));
        }
        text
    }

    /// Reads a delivered text back; `None` for a message that is not this run's.
    pub fn stamp(&self, text: &str) -> Option<Stamp> {
        let rest = text.strip_prefix(self.tag.as_str())?.strip_prefix(':')?;
        let mut fields = rest.split([':', ' ']);
        Some(Stamp {
            sender: fields.next()?.parse().ok()?,
            seq: fields.next()?.parse().ok()?,
            scheduled_us: fields.next()?.parse().ok()?,
        })
    }

    /// Latencies are recorded for messages scheduled in `[from, to)` after the epoch, and
    /// deliveries per second counted for those received between the same moments.
    pub fn measure(&mut self, from: Duration, to: Duration) {
        self.window = Some((micros(from), micros(to)));
        self.receive_window = Some((self.epoch + from, self.epoch + to));
    }

    pub fn sent(&mut self, sender: usize) {
        self.senders[sender].sent += 1;
    }

    pub fn acked(&mut self, sender: usize) {
        self.senders[sender].acked += 1;
    }

    pub fn refused(&mut self, sender: usize, seq: u32) {
        self.senders[sender].refused.insert(seq);
    }

    /// A `message` frame reached `receiver` at `now` with `text`.
    pub fn received(&mut self, receiver: usize, text: &str, now: Instant) {
        let Some(stamp) = self.stamp(text) else {
            self.other_messages += 1;
            return;
        };
        let layout = self.layout;
        if stamp.sender >= layout.senders
            || layout.room_of(stamp.sender) != layout.room_of(receiver)
        {
            self.other_messages += 1;
            return;
        }
        let next = &mut self.next[receiver][stamp.sender / layout.rooms];
        if stamp.seq < *next {
            self.duplicated += 1;
            return;
        }
        let refused = &self.senders[stamp.sender].refused;
        self.holes += (*next..stamp.seq)
            .filter(|seq| !refused.contains(seq))
            .count() as u64;
        *next = stamp.seq + 1;
        self.delivered += 1;
        if let Some((from, to)) = self.receive_window {
            if now >= from && now < to {
                self.delivered_in_window += 1;
            }
        }
        if let Some((from, to)) = self.window {
            if stamp.scheduled_us >= from && stamp.scheduled_us < to {
                let latency = micros(now.saturating_duration_since(self.epoch))
                    .saturating_sub(stamp.scheduled_us);
                self.latency_us
                    .saturating_record(latency.clamp(1, MAX_LATENCY_US));
            }
        }
    }

    /// Deliveries the receivers should have once everything acknowledged arrived.
    pub fn expected(&self) -> u64 {
        (0..self.layout.senders)
            .map(|s| u64::from(self.senders[s].acked) * self.layout.receivers_of(s) as u64)
            .sum()
    }

    /// Unique in-order deliveries so far.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    pub fn delivered_in_window(&self) -> u64 {
        self.delivered_in_window
    }

    pub fn sent_total(&self) -> u64 {
        self.senders.iter().map(|s| u64::from(s.sent)).sum()
    }

    pub fn acked_total(&self) -> u64 {
        self.senders.iter().map(|s| u64::from(s.acked)).sum()
    }

    pub fn duplicated(&self) -> u64 {
        self.duplicated
    }

    /// Lost so far: skipped over, plus acknowledged but not (yet) received.
    pub fn lost(&self) -> u64 {
        let layout = self.layout;
        let missing: u64 = (0..layout.clients)
            .flat_map(|c| {
                let room = layout.room_of(c);
                self.next[c].iter().enumerate().map(move |(slot, &next)| {
                    let sender = &self.senders[room + slot * layout.rooms];
                    let expected = sender.acked + sender.refused.len() as u32;
                    let refused_ahead = sender.refused.iter().filter(|&&s| s >= next).count();
                    u64::from(expected.saturating_sub(next)).saturating_sub(refused_ahead as u64)
                })
            })
            .sum();
        self.holes + missing
    }

    pub fn tally(&self) -> Tally {
        Tally {
            sent: self.sent_total(),
            acked: self.acked_total(),
            refused: self.senders.iter().map(|s| s.refused.len() as u64).sum(),
            expected: self.expected(),
            delivered: self.delivered,
            lost: self.lost(),
            duplicated: self.duplicated,
            other_messages: self.other_messages,
        }
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(clients: usize, rooms: usize, senders: usize) -> Ledger {
        let layout = Layout {
            clients,
            rooms,
            senders,
        };
        Ledger::new("t1".into(), Instant::now(), layout)
    }

    #[test]
    fn texts_round_trip_and_pad_to_size() {
        let l = ledger(2, 1, 1);
        let text = l.text(0, 7, l.epoch() + Duration::from_micros(1500), 40);
        assert_eq!(text.len(), 40);
        assert_eq!(
            l.stamp(&text),
            Some(Stamp {
                sender: 0,
                seq: 7,
                scheduled_us: 1500
            })
        );
        assert_eq!(l.stamp("t2:0:7:1500 x"), None, "another run's message");
        assert_eq!(l.stamp(""), None, "a join notice");
    }

    #[test]
    fn every_acked_message_is_accounted_for_once() {
        // 3 clients in one room, client 0 sends 3 messages, all acknowledged.
        let mut l = ledger(3, 1, 1);
        let now = l.epoch();
        let texts: Vec<_> = (0..3).map(|seq| l.text(0, seq, now, 20)).collect();
        for _ in &texts {
            l.sent(0);
            l.acked(0);
        }
        assert_eq!(l.expected(), 9);
        for receiver in 0..3 {
            l.received(receiver, &texts[0], now);
        }
        // Receiver 1 gets message 1 twice, receiver 2 skips it.
        l.received(0, &texts[1], now);
        l.received(1, &texts[1], now);
        l.received(1, &texts[1], now);
        l.received(0, &texts[2], now);
        l.received(1, &texts[2], now);
        l.received(2, &texts[2], now);
        let tally = l.tally();
        assert_eq!(tally.delivered, 8);
        assert_eq!(tally.duplicated, 1);
        assert_eq!(tally.lost, 1, "receiver 2 skipped message 1");
    }

    #[test]
    fn what_has_not_arrived_yet_counts_as_lost_until_it_does() {
        let mut l = ledger(2, 1, 1);
        let now = l.epoch();
        let text = l.text(0, 0, now, 20);
        l.sent(0);
        l.acked(0);
        assert_eq!(l.lost(), 2);
        l.received(0, &text, now);
        l.received(1, &text, now);
        assert_eq!(l.lost(), 0);
    }

    #[test]
    fn rooms_only_expect_their_own_senders() {
        // 4 clients in 2 rooms; clients 0 (room 0) and 1 (room 1) send.
        let mut l = ledger(4, 2, 2);
        let now = l.epoch();
        l.sent(1);
        l.acked(1);
        assert_eq!(l.expected(), 2, "room 1 has clients 1 and 3");
        let text = l.text(1, 0, now, 20);
        l.received(0, &text, now); // room 0 must not see it
        assert_eq!(l.tally().other_messages, 1);
        l.received(1, &text, now);
        l.received(3, &text, now);
        assert_eq!((l.delivered(), l.lost()), (2, 0));
    }

    #[test]
    fn refused_messages_are_neither_expected_nor_lost() {
        let mut l = ledger(1, 1, 1);
        let now = l.epoch();
        l.sent(0);
        l.refused(0, 0);
        l.sent(0);
        l.acked(0);
        l.received(0, &l.text(0, 1, now, 20), now);
        assert_eq!((l.lost(), l.duplicated()), (0, 0));
    }

    #[test]
    fn latency_counts_inside_the_window_only() {
        let mut l = ledger(1, 1, 1);
        let epoch = l.epoch();
        l.measure(Duration::from_secs(1), Duration::from_secs(2));
        l.received(
            0,
            &l.text(0, 0, epoch, 20),
            epoch + Duration::from_millis(5),
        );
        let in_window = epoch + Duration::from_millis(1500);
        l.received(
            0,
            &l.text(0, 1, in_window, 20),
            in_window + Duration::from_millis(3),
        );
        assert_eq!(l.latency_us.len(), 1);
        assert_eq!(l.latency_us.max(), l.latency_us.highest_equivalent(3000));
        assert_eq!(l.delivered_in_window(), 1);
    }
}
