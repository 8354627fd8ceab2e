//! Reading room history for sockets, with identical concurrent reads shared.
//!
//! When an instance dies, all its users reconnect elsewhere within a second or two, most of them
//! asking for the same room after the same last id. Each distinct read (room, position, size)
//! goes to the backend once; everyone who asked while it was in flight gets the same result.
//!
//! A read is shared only with callers who joined the room **before the read started**: such a read
//! sees everything stored before their join, and their room receiver has everything after it, so
//! sharing never opens a gap in the hand-over from history to live messages.

use crate::backend::{BackendError, Broker, Replay};
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

type Shared = Result<Arc<Replay>, Arc<BackendError>>;

struct InFlight {
    started: Instant,
    result: Arc<OnceCell<Shared>>,
}

pub struct History {
    broker: Arc<dyn Broker>,
    in_flight: Mutex<HashMap<Key, InFlight>>,
}

impl History {
    pub fn new(broker: Arc<dyn Broker>) -> Self {
        Self {
            broker,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// The last `limit` messages of `room`, for a caller that joined the room at `joined`.
    pub async fn recent(&self, room: &RoomName, limit: usize, joined: Instant) -> Shared {
        let key = Key::Recent(room.clone(), limit);
        self.shared(key, joined, || async move {
            Ok(Replay {
                messages: self.broker.recent(room, limit).await?,
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
    ) -> Shared {
        let key = Key::After(room.clone(), after, limit);
        self.shared(key, joined, || self.broker.replay(room, after, limit))
            .await
    }

    async fn shared<F, Fut>(&self, key: Key, joined: Instant, read: F) -> Shared
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
    use crate::backend::{memory::MemoryBroker, Appended};
    use app::protocol::{ChatMessage, Draft, MessageKind, User, UserId, UserName};
    use async_trait::async_trait;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tokio::sync::Semaphore;

    /// The in-memory broker, with reads counted and held until released.
    struct Gated {
        inner: MemoryBroker,
        reads: AtomicUsize,
        gate: Semaphore,
    }

    #[async_trait]
    impl Broker for Gated {
        async fn append(&self, room: &RoomName, draft: &Draft) -> Result<Appended, BackendError> {
            self.inner.append(room, draft).await
        }
        async fn recent(
            &self,
            room: &RoomName,
            limit: usize,
        ) -> Result<Vec<ChatMessage>, BackendError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let _open = self.gate.acquire().await.expect("gate open");
            self.inner.recent(room, limit).await
        }
        async fn replay(
            &self,
            room: &RoomName,
            after: MessageId,
            limit: usize,
        ) -> Result<Replay, BackendError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            let _open = self.gate.acquire().await.expect("gate open");
            self.inner.replay(room, after, limit).await
        }
        async fn subscribe(&self, _: &RoomName) -> Result<(), BackendError> {
            Ok(())
        }
        fn unsubscribe(&self, _: &RoomName) {}
        async fn revoke(&self, user: UserId, ttl: Duration) -> Result<(), BackendError> {
            self.inner.revoke(user, ttl).await
        }
        async fn is_revoked(&self, user: UserId) -> Result<bool, BackendError> {
            self.inner.is_revoked(user).await
        }
        async fn older(
            &self,
            room: &RoomName,
            before: MessageId,
            limit: usize,
        ) -> Result<Vec<ChatMessage>, BackendError> {
            self.inner.older(room, before, limit).await
        }
        async fn typing(
            &self,
            room: &RoomName,
            user: &app::protocol::User,
        ) -> Result<(), BackendError> {
            self.inner.typing(room, user).await
        }
    }

    /// A gated broker: every read waits until the test adds permits.
    fn gated() -> Arc<Gated> {
        let (tx, _rx) = crate::backend::delivery::channel(16);
        Arc::new(Gated {
            inner: MemoryBroker::new(100, tx),
            reads: AtomicUsize::new(0),
            gate: Semaphore::new(0),
        })
    }

    #[tokio::test]
    async fn a_reconnect_storm_reads_history_once() {
        let broker = gated();
        let room = RoomName::lobby();
        let draft = Draft {
            user: User {
                id: UserId(uuid::Uuid::nil()),
                name: UserName::parse("a").unwrap(),
            },
            text: "hi".into(),
            kind: MessageKind::Text,
            client_id: None,
            others: None,
        };
        let first = broker.append(&room, &draft).await.unwrap().id;
        broker.append(&room, &draft).await.unwrap();

        let history = Arc::new(History::new(broker.clone()));
        let joined = Instant::now();
        let readers: Vec<_> = (0..50)
            .map(|_| {
                let (history, room) = (history.clone(), room.clone());
                tokio::spawn(async move { history.after(&room, first, 100, joined).await })
            })
            .collect();
        // Wait until the one read is in flight and every reader is queued behind it.
        while broker.reads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        broker.gate.add_permits(1000);
        for reader in readers {
            let replay = reader.await.unwrap().unwrap();
            assert_eq!(replay.messages.len(), 1);
        }
        assert_eq!(broker.reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_read_started_before_a_join_is_not_shared_with_it() {
        let broker = gated();
        let history = Arc::new(History::new(broker.clone()));
        let early = {
            let history = history.clone();
            let joined = Instant::now();
            tokio::spawn(async move { history.recent(&RoomName::lobby(), 50, joined).await })
        };
        while broker.reads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        let late = {
            let history = history.clone();
            let joined = Instant::now();
            tokio::spawn(async move { history.recent(&RoomName::lobby(), 50, joined).await })
        };
        while broker.reads.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        broker.gate.add_permits(1000);
        early.await.unwrap().unwrap();
        late.await.unwrap().unwrap();
        assert_eq!(broker.reads.load(Ordering::SeqCst), 2);
    }
}
