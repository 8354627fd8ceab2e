//! The in-memory backend: one process, no Redis. Same ordering and idempotency rules as Redis,
//! so the same tests pass against both; nothing survives a restart and nothing is shared between
//! instances.

mod sessions;

pub use sessions::MemorySessionStore;

use super::{Appended, Backend, BackendError, Broker, Replay, Sessions};
use crate::config::Config;
use app::protocol::{ChatMessage, ClientId, Draft, MessageId, RoomName};
use async_trait::async_trait;
use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};
use tokio::sync::mpsc;

/// How long a `client_id` is remembered, so a re-sent message is recognised.
const DEDUP_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// Starts an in-memory backend.
pub fn start(config: &Config) -> Backend {
    let (tx, deliveries) = mpsc::unbounded_channel();
    Backend {
        kind: "memory",
        broker: Arc::new(MemoryBroker::new(config.history_max as usize, tx)),
        sessions: Sessions(Arc::new(MemorySessionStore::new(config.session_grace))),
        deliveries,
    }
}

#[derive(Default)]
struct Room {
    log: VecDeque<ChatMessage>,
    seen: HashMap<ClientId, (MessageId, Instant)>,
    last: Option<MessageId>,
    /// The newest id trimmed from `log`, like Redis' `max-deleted-entry-id`.
    max_trimmed: Option<MessageId>,
}

/// Rooms held in a map behind one std `Mutex`: every operation is short and never awaits while
/// holding it, and taking the lock is what makes "store, then publish" one step.
pub struct MemoryBroker {
    rooms: Mutex<HashMap<RoomName, Room>>,
    capacity: usize,
    deliveries: mpsc::UnboundedSender<ChatMessage>,
}

impl MemoryBroker {
    pub fn new(capacity: usize, deliveries: mpsc::UnboundedSender<ChatMessage>) -> Self {
        Self {
            rooms: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            deliveries,
        }
    }

    fn rooms(&self) -> std::sync::MutexGuard<'_, HashMap<RoomName, Room>> {
        // A panic while holding the lock cannot leave a room half-updated in a way that matters
        // more than losing chat; keep serving.
        self.rooms
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The next id after `last`, in Redis' scheme: the current millisecond, or the same millisecond
/// with the next sequence number when the clock has not moved on (or went backwards).
fn next_id(last: Option<MessageId>) -> MessageId {
    let ms = now_ms();
    match last {
        Some(last) if last.ms >= ms => MessageId {
            ms: last.ms,
            seq: last.seq + 1,
        },
        _ => MessageId { ms, seq: 0 },
    }
}

#[async_trait]
impl Broker for MemoryBroker {
    async fn append(&self, room: &RoomName, draft: &Draft) -> Result<Appended, BackendError> {
        let mut rooms = self.rooms();
        let state = rooms.entry(room.clone()).or_default();
        let now = Instant::now();
        if let Some(client_id) = draft.client_id {
            state
                .seen
                .retain(|_, (_, at)| now.duration_since(*at) < DEDUP_WINDOW);
            if let Some((id, _)) = state.seen.get(&client_id) {
                return Ok(Appended {
                    id: *id,
                    duplicate: true,
                });
            }
        }
        let id = next_id(state.last);
        state.last = Some(id);
        if let Some(client_id) = draft.client_id {
            state.seen.insert(client_id, (id, now));
        }
        let message = draft.clone().into_message(room.clone(), id);
        state.log.push_back(message.clone());
        while state.log.len() > self.capacity {
            state.max_trimmed = state.log.pop_front().map(|m| m.id);
        }
        // The receiver lives as long as the server; if it is gone we are shutting down.
        let _ = self.deliveries.send(message);
        Ok(Appended {
            id,
            duplicate: false,
        })
    }

    async fn recent(
        &self,
        room: &RoomName,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, BackendError> {
        let rooms = self.rooms();
        Ok(rooms
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

    async fn replay(
        &self,
        room: &RoomName,
        after: MessageId,
        limit: usize,
    ) -> Result<Replay, BackendError> {
        let rooms = self.rooms();
        let Some(state) = rooms.get(room) else {
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

    async fn subscribe(&self, _room: &RoomName) -> Result<(), BackendError> {
        Ok(())
    }

    fn unsubscribe(&self, _room: &RoomName) {}
}
