//! Reading room history for sockets, with identical concurrent reads shared.
//!
//! When an instance dies, all its users reconnect elsewhere within a second or two, most of them
//! asking for the same room after the same last id. Each distinct read (room, position, size)
//! goes to the backend once; everyone who asked while it was in flight gets the same result.
//!
//! A read is shared only with callers who joined the room **before the read started**: such a read
//! sees everything stored before their join, and their room receiver has everything after it, so
//! sharing never opens a gap in the hand-over from history to live messages.

use crate::backend::{BackendError, MessageLog, Replay};
use app::protocol::{MessageId, RoomName};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::{sync::OnceCell, time::Instant};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Recent(RoomName, usize),
    After(RoomName, MessageId, usize),
}

type SharedRead = Result<Arc<Replay>, Arc<BackendError>>;

struct InFlight {
    started: Instant,
    result: Arc<OnceCell<SharedRead>>,
}

pub struct History {
    log: Arc<dyn MessageLog>,
    in_flight: Mutex<HashMap<Key, InFlight>>,
}

impl History {
    pub fn new(log: Arc<dyn MessageLog>) -> Self {
        Self {
            log,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The last `limit` messages of `room`, for a caller that joined the room at `joined`.
    pub async fn recent(&self, room: &RoomName, limit: usize, joined: Instant) -> SharedRead {
        let key = Key::Recent(room.clone(), limit);
        self.shared(key, joined, || async move {
            Ok(Replay {
                messages: self.log.recent(room, limit).await?,
                gap: false,
            })
        })
        .await
    }

    /// Up to `limit` messages of `room` after `after`, for a caller that joined at `joined`.
    pub async fn after(
        &self,
        room: &RoomName,
        after: MessageId,
        limit: usize,
        joined: Instant,
    ) -> SharedRead {
        let key = Key::After(room.clone(), after, limit);
        self.shared(key, joined, || self.log.replay(room, after, limit))
            .await
    }

    async fn shared<F, Fut>(&self, key: Key, joined: Instant, read: F) -> SharedRead
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<Replay, BackendError>>,
    {
        let cell = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            match in_flight.get(&key) {
                Some(flight) if flight.started >= joined => flight.result.clone(),
                _ => {
                    let result = Arc::new(OnceCell::new());
                    in_flight.insert(
                        key.clone(),
                        InFlight {
                            started: Instant::now(),
                            result: result.clone(),
                        },
                    );
                    result
                }
            }
        };
        let result = cell
            .get_or_init(|| async { read().await.map(Arc::new).map_err(Arc::new) })
            .await
            .clone();
        // Done: later callers read afresh. Leave a newer flight under the same key alone.
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if in_flight
            .get(&key)
            .is_some_and(|f| Arc::ptr_eq(&f.result, &cell))
        {
            in_flight.remove(&key);
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{backend, settings::StoreSettings, testing::Unreliable};
    use app::protocol::{Draft, MessageKind};

    fn gated() -> Arc<Unreliable> {
        let log = backend::memory::start(&StoreSettings::default()).stores.log;
        Arc::new(Unreliable::gated(log))
    }

    #[tokio::test]
    async fn a_reconnect_storm_reads_history_once() {
        let log = gated();
        let room = RoomName::lobby();
        let draft = Draft::new(crate::testing::user("a"), MessageKind::Text, "hi");
        let first = log.append(&room, &draft).await.unwrap().id;
        log.append(&room, &draft).await.unwrap();

        let history = Arc::new(History::new(log.clone()));
        let joined = Instant::now();
        let readers: Vec<_> = (0..50)
            .map(|_| {
                let (history, room) = (history.clone(), room.clone());
                tokio::spawn(async move { history.after(&room, first, 100, joined).await })
            })
            .collect();
        // Wait until the one read is in flight and every reader is queued behind it.
        while log.reads() == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        log.open();
        for reader in readers {
            let replay = reader.await.unwrap().unwrap();
            assert_eq!(replay.messages.len(), 1);
        }
        assert_eq!(log.reads(), 1);
    }

    #[tokio::test]
    async fn a_read_started_before_a_join_is_not_shared_with_it() {
        let log = gated();
        let history = Arc::new(History::new(log.clone()));
        let early = {
            let history = history.clone();
            let joined = Instant::now();
            tokio::spawn(async move { history.recent(&RoomName::lobby(), 50, joined).await })
        };
        while log.reads() == 0 {
            tokio::task::yield_now().await;
        }
        let late = {
            let history = history.clone();
            let joined = Instant::now();
            tokio::spawn(async move { history.recent(&RoomName::lobby(), 50, joined).await })
        };
        while log.reads() < 2 {
            tokio::task::yield_now().await;
        }
        log.open();
        early.await.unwrap().unwrap();
        late.await.unwrap().unwrap();
        assert_eq!(log.reads(), 2);
    }
}
