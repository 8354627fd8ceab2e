//! The in-memory backend: one process, no Redis. Same ordering and idempotency rules as Redis,
//! so the same tests pass against both; nothing survives a restart and nothing is shared between
//! instances.

mod limiter;
mod room_lists;
mod sessions;

pub use limiter::MemoryLimiter;
pub use room_lists::MemoryRoomLists;

pub use sessions::MemorySessionStore;

use super::delivery::{self, Delivery, DeliverySender, Revocation, DELIVERY_BUFFER};
use super::{
    Amended, Appended, Backend, BackendError, Health, MessageLog, Messages, PresenceStore,
    ReadMarks, Replay, Sessions, Signals, Stores, Subscriptions, Users,
};
use crate::settings::StoreSettings;
use app::protocol::{
    ChatMessage, ClientId, Draft, MessageId, MessageKind, Removal, RoomName, User, UserId,
    MAX_REACTIONS,
};
use app::session::SignIn;
use async_trait::async_trait;
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The one instance's inbox (see [`Stores::inbox`]).
const MEMORY_INBOX: &str = "memory";

/// How long a `client_id` is remembered, so a re-sent message is recognised.
const DEDUP_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Starts an in-memory backend.
pub fn start(settings: &StoreSettings) -> Backend {
    let (tx, deliveries) = delivery::channel(DELIVERY_BUFFER);
    let broker = Arc::new(
        MemoryBroker::new(settings.history_max as usize, tx).idle_after(settings.room_idle),
    );
    Backend {
        kind: "memory",
        stores: Stores {
            log: broker.clone(),
            subscriptions: broker.clone(),
            signals: broker.clone(),
            presence: broker.clone(),
            read_marks: broker,
            limiter: Arc::new(MemoryLimiter::default()),
            room_lists: Arc::new(MemoryRoomLists::default()),
            health: Health::always(),
            inbox: MEMORY_INBOX.to_owned(),
        },
        sessions: Sessions::new(MemorySessionStore::new(settings.session_grace)),
        deliveries,
    }
}

struct Room {
    /// When the last message was stored.
    touched: Instant,
    log: VecDeque<ChatMessage>,
    /// Which message each (sender, client_id) became, for idempotent re-sends.
    seen: HashMap<(UserId, ClientId), (MessageId, Instant)>,
    last: Option<MessageId>,
    /// The newest id trimmed from `log`, like Redis' `max-deleted-entry-id`.
    max_trimmed: Option<MessageId>,
}

impl Room {
    fn new(now: Instant) -> Self {
        Self {
            touched: now,
            log: VecDeque::new(),
            seen: HashMap::new(),
            last: None,
            max_trimmed: None,
        }
    }
}

/// Every store of the in-memory backend but the limiter and the sessions: rooms held in a map
/// behind one std `Mutex`: every operation is short and never awaits while
/// holding it, and taking the lock is what makes "store, then publish" one step.
pub struct MemoryBroker {
    state: Mutex<State>,
    capacity: usize,
    /// A room without a new message for this long is deleted, like a Redis stream's expiry.
    idle: Duration,
}

struct State {
    rooms: HashMap<RoomName, Room>,
    /// Logged-out users and when they logged out.
    revoked: HashMap<Revocation, Instant>,
    /// Who is in each room, and until when (unix ms): one instance, so one entry per user.
    presence: HashMap<RoomName, HashMap<UserId, (User, u64)>>,
    /// Each person's read mark in each room.
    marks: HashMap<(RoomName, UserId), MessageId>,
    /// When idle rooms were last looked for.
    swept: Instant,
    deliveries: DeliverySender,
}

impl MemoryBroker {
    pub fn new(capacity: usize, deliveries: DeliverySender) -> Self {
        Self {
            state: Mutex::new(State {
                rooms: HashMap::new(),
                revoked: HashMap::new(),
                presence: HashMap::new(),
                marks: HashMap::new(),
                swept: Instant::now(),
                deliveries,
            }),
            capacity: capacity.max(1),
            idle: Duration::from_secs(30 * 24 * 3600),
        }
    }

    pub fn idle_after(mut self, idle: Duration) -> Self {
        self.idle = idle;
        self
    }

    /// The state, with idle rooms deleted (checked at most every tenth of the idle time, or
    /// second).
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a room half-updated in a way that matters
        // more than losing chat; keep serving.
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        if now.duration_since(state.swept) >= (self.idle / 10).min(Duration::from_secs(1)) {
            state.swept = now;
            state
                .rooms
                .retain(|_, room| now.duration_since(room.touched) < self.idle);
        }
        state
    }
}

/// The next id after `last`, in Redis' scheme: the current millisecond, or the same millisecond
/// with the next sequence number when the clock has not moved on (or went backwards).
fn next_id(last: Option<MessageId>) -> MessageId {
    let ms = crate::clock::unix_ms();
    match last {
        Some(last) if last.ms >= ms => MessageId {
            ms: last.ms,
            seq: last.seq + 1,
        },
        _ => MessageId { ms, seq: 0 },
    }
}

impl MemoryBroker {
    /// Stores `draft` as the room's next message and delivers it: [`MessageLog::append`] with
    /// the lock held, so a record and the change it makes are one step.
    fn store(&self, state: &mut State, room: &RoomName, draft: &Draft) -> Appended {
        let State {
            rooms, deliveries, ..
        } = state;
        let now = Instant::now();
        let state = rooms.entry(room.clone()).or_insert_with(|| Room::new(now));
        state.touched = now;
        let sender = draft.user.id;
        if let Some(client_id) = draft.client_id {
            state
                .seen
                .retain(|_, (_, at)| now.duration_since(*at) < DEDUP_WINDOW);
            if let Some((id, _)) = state.seen.get(&(sender, client_id)) {
                return Appended {
                    id: *id,
                    duplicate: true,
                };
            }
        }
        let id = next_id(state.last);
        state.last = Some(id);
        if let Some(client_id) = draft.client_id {
            state.seen.insert((sender, client_id), (id, now));
        }
        let message = draft.clone().into_message(room.clone(), id);
        state.log.push_back(message.clone());
        while state.log.len() > self.capacity {
            state.max_trimmed = state.log.pop_front().map(|m| m.id);
        }
        // The receiver lives as long as the server; if it is gone we are shutting down.
        deliveries.send(Delivery::Message(Box::new(message)));
        Appended {
            id,
            duplicate: false,
        }
    }
}

/// Whether `record` may change `message` and would: the same rules as `append.lua`.
fn amendable(
    message: &ChatMessage,
    record: &ChatMessage,
    only_by: Option<UserId>,
) -> Result<(), Amended> {
    if !message.kind.is_said() {
        return Err(Amended::NotFound);
    }
    if only_by.is_some_and(|author| author != message.user.id) {
        return Err(Amended::NotTheirs);
    }
    if message.deleted {
        return Err(match record.kind {
            MessageKind::Deleted => Amended::Unchanged,
            _ => Amended::NotFound,
        });
    }
    let mut changed = message.clone();
    if !changed.apply(record) {
        return Err(Amended::Unchanged);
    }
    if changed.reactions.len() > MAX_REACTIONS {
        return Err(Amended::TooMany);
    }
    Ok(())
}

#[async_trait]
impl MessageLog for MemoryBroker {
    async fn append(&self, room: &RoomName, draft: &Draft) -> Result<Appended, BackendError> {
        let mut state = self.state();
        Ok(self.store(&mut state, room, draft))
    }

    async fn amend(
        &self,
        room: &RoomName,
        record: &Draft,
        only_by: Option<UserId>,
    ) -> Result<Amended, BackendError> {
        let mut guard = self.state();
        let (Some(target), true) = (record.target, record.kind.is_record()) else {
            return Ok(Amended::NotFound);
        };
        let Some(state) = guard.rooms.get(room) else {
            return Ok(Amended::NotFound);
        };
        let Ok(at) = state.log.binary_search_by_key(&target, |m| m.id) else {
            return Ok(Amended::NotFound);
        };
        // Checked as the record will be, under an id after every other.
        let probe = record
            .clone()
            .into_message(room.clone(), next_id(state.last));
        if let Err(refused) = amendable(&state.log[at], &probe, only_by) {
            return Ok(refused);
        }
        let id = self.store(&mut guard, room, record).id;
        let record = record.clone().into_message(room.clone(), id);
        if let Some(log) = guard.rooms.get_mut(room).map(|r| &mut r.log) {
            // Where the target is now: storing may have trimmed the log's front.
            if let Ok(at) = log.binary_search_by_key(&target, |m| m.id) {
                log[at].apply(&record);
                for reply in log.range_mut(at + 1..) {
                    reply.apply_to_quote(&record);
                }
            }
        }
        Ok(Amended::Stored(id))
    }

    async fn message(
        &self,
        room: &RoomName,
        id: MessageId,
    ) -> Result<Option<ChatMessage>, BackendError> {
        let state = self.state();
        let log = state.rooms.get(room).map(|r| &r.log);
        Ok(log.and_then(|log| {
            let at = log.binary_search_by_key(&id, |m| m.id).ok()?;
            log.get(at).cloned()
        }))
    }

    async fn recent(&self, room: &RoomName, limit: usize) -> Messages {
        let state = self.state();
        Ok(state
            .rooms
            .get(room)
            .map(|r| {
                r.log
                    .iter()
                    .skip(r.log.len().saturating_sub(limit))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn older(&self, room: &RoomName, before: MessageId, limit: usize) -> Messages {
        let guard = self.state();
        let Some(state) = guard.rooms.get(room) else {
            return Ok(Vec::new());
        };
        let older = state.log.iter().take_while(|m| m.id < before).count();
        Ok(state
            .log
            .iter()
            .skip(older.saturating_sub(limit))
            .take(older.min(limit))
            .cloned()
            .collect())
    }

    async fn replay(
        &self,
        room: &RoomName,
        after: MessageId,
        limit: usize,
    ) -> Result<Replay, BackendError> {
        let guard = self.state();
        let Some(state) = guard.rooms.get(room) else {
            return Ok(Replay::default());
        };
        Ok(Replay {
            messages: state
                .log
                .iter()
                .filter(|m| m.id > after)
                .take(limit)
                .cloned()
                .collect(),
            gap: state.max_trimmed.is_some_and(|trimmed| trimmed > after),
        })
    }
}

#[async_trait]
impl Subscriptions for MemoryBroker {
    async fn subscribe(&self, _room: &RoomName) -> Result<(), BackendError> {
        Ok(())
    }

    fn unsubscribe(&self, _room: &RoomName) {}
}

#[async_trait]
impl Signals for MemoryBroker {
    async fn post(
        &self,
        inbox: &str,
        stream: &str,
        user: UserId,
        frame: &str,
    ) -> Result<(), BackendError> {
        // One process, one inbox: a stream of another is none of this backend's.
        if inbox == MEMORY_INBOX {
            self.state().deliveries.send(Delivery::Posted {
                stream: stream.to_owned(),
                user,
                frame: frame.to_owned(),
            });
        }
        Ok(())
    }

    async fn revoke(&self, revocation: Revocation, ttl: Duration) -> Result<(), BackendError> {
        let mut state = self.state();
        let now = Instant::now();
        state.revoked.retain(|_, at| now.duration_since(*at) < ttl);
        state.revoked.insert(revocation, now);
        state.deliveries.send(Delivery::Revoked(revocation));
        Ok(())
    }

    async fn is_revoked(&self, sign_in: &SignIn) -> Result<bool, BackendError> {
        Ok(self.state().revoked.keys().any(|r| r.ends(sign_in)))
    }

    async fn typing(&self, room: &RoomName, user: &User) -> Result<(), BackendError> {
        self.state().deliveries.send(Delivery::Typing {
            room: room.clone(),
            user: user.clone(),
        });
        Ok(())
    }

    async fn removed(
        &self,
        room: &RoomName,
        user: UserId,
        reason: Removal,
    ) -> Result<(), BackendError> {
        self.state().deliveries.send(Delivery::Removed {
            room: room.clone(),
            user,
            reason,
        });
        Ok(())
    }
}

#[async_trait]
impl ReadMarks for MemoryBroker {
    async fn mark(&self, room: &RoomName, user: UserId, id: MessageId) -> Result<(), BackendError> {
        let mut state = self.state();
        let key = (room.clone(), user);
        if state.marks.get(&key).is_some_and(|mark| *mark >= id) {
            return Ok(());
        }
        state.marks.insert(key, id);
        // Under the lock, like a message: the moves of one room reach the hub in order.
        state.deliveries.send(Delivery::Read {
            room: room.clone(),
            user,
            id,
        });
        Ok(())
    }

    async fn read_mark(
        &self,
        room: &RoomName,
        user: UserId,
    ) -> Result<Option<MessageId>, BackendError> {
        Ok(self.state().marks.get(&(room.clone(), user)).copied())
    }
}

#[async_trait]
impl PresenceStore for MemoryBroker {
    async fn hold(&self, room: &RoomName, users: &[User], until_ms: u64) -> Users {
        let mut guard = self.state();
        let State {
            presence,
            deliveries,
            ..
        } = &mut *guard;
        let here = presence.entry(room.clone()).or_default();
        let mut arrived = Vec::new();
        for user in users {
            if here.insert(user.id, (user.clone(), until_ms)).is_none() {
                arrived.push(user.clone());
            }
        }
        if !arrived.is_empty() {
            deliveries.send(Delivery::Presence {
                room: room.clone(),
                arrived: arrived.clone(),
                departed: Vec::new(),
            });
        }
        Ok(arrived)
    }

    async fn release(
        &self,
        room: &RoomName,
        user: UserId,
        until_ms: u64,
    ) -> Result<(), BackendError> {
        if let Some((_, until)) = self
            .state()
            .presence
            .get_mut(room)
            .and_then(|here| here.get_mut(&user))
        {
            *until = until_ms;
        }
        Ok(())
    }

    async fn sweep(&self, room: &RoomName, now_ms: u64) -> Result<Vec<(User, u64)>, BackendError> {
        let mut guard = self.state();
        let State {
            presence,
            deliveries,
            ..
        } = &mut *guard;
        let Some(here) = presence.get_mut(room) else {
            return Ok(Vec::new());
        };
        let mut departed = Vec::new();
        here.retain(|_, (user, until)| {
            let ended = *until <= now_ms;
            if ended {
                departed.push((user.clone(), *until));
            }
            !ended
        });
        if here.is_empty() {
            presence.remove(room);
        }
        if !departed.is_empty() {
            deliveries.send(Delivery::Presence {
                room: room.clone(),
                arrived: Vec::new(),
                departed: departed.iter().map(|(user, _)| user.clone()).collect(),
            });
        }
        Ok(departed)
    }

    async fn online(&self, room: &RoomName) -> Users {
        Ok(self
            .state()
            .presence
            .get(room)
            .map(|here| here.values().map(|(user, _)| user.clone()).collect())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::protocol::MessageKind;

    #[tokio::test]
    async fn a_deleted_message_keeps_its_place_and_its_record_is_replayed() {
        let log = start(&StoreSettings::default()).stores.log;
        let (room, ada) = (RoomName::lobby(), crate::testing::user("ada"));
        let said = |text: &str| Draft::new(ada.clone(), MessageKind::Text, text);
        log.append(&room, &said("keep")).await.unwrap();
        let doomed = log.append(&room, &said("doomed")).await.unwrap().id;

        let record = Draft::deletion(ada.clone(), doomed);
        // Only bo's messages were to go: ada's stays.
        let bo = crate::testing::user("bo");
        assert_eq!(
            log.amend(&room, &record, Some(bo.id)).await.unwrap(),
            Amended::NotTheirs
        );
        let Amended::Stored(at) = log.amend(&room, &record, Some(ada.id)).await.unwrap() else {
            panic!("not deleted");
        };
        assert_eq!(
            log.amend(&room, &record, None).await.unwrap(),
            Amended::Unchanged
        );
        let notice = Draft::new(ada.clone(), MessageKind::Join, "");
        let joined = log.append(&room, &notice).await.unwrap().id;
        // The record itself, a notice, and an id the room never had: none is a said message.
        for target in [at, joined, MessageId { ms: 1, seq: 0 }] {
            let record = Draft::deletion(ada.clone(), target);
            assert_eq!(
                log.amend(&room, &record, None).await.unwrap(),
                Amended::NotFound
            );
        }

        let recent = log.recent(&room, 10).await.unwrap();
        let texts: Vec<_> = recent
            .iter()
            .map(|m| (m.text.as_str(), m.deleted))
            .collect();
        assert_eq!(
            texts,
            [("keep", false), ("", true), ("", false), ("", false)]
        );
        let replay = log.replay(&room, doomed, 10).await.unwrap();
        assert_eq!(replay.messages[0].id, at);
        assert_eq!(replay.messages[0].target, Some(doomed));
        assert_eq!(log.older(&room, at, 10).await.unwrap()[1], recent[1]);
    }
}
