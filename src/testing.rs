//! What the unit tests share: a user to act as, and a message log that misbehaves on demand.

use crate::backend::{Amended, Appended, BackendError, MessageLog, Messages, Replay};
use app::protocol::{ChatMessage, Draft, MessageId, RoomName, User, UserId, UserName};
use async_trait::async_trait;
use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};
use tokio::sync::Semaphore;

/// A user with a fresh id.
pub fn user(name: &str) -> User {
    User {
        id: UserId(uuid::Uuid::new_v4()),
        name: UserName::parse(name).expect("valid name"),
        handle: None,
    }
}

/// A message log over another whose history reads (`recent` and `replay`) are counted, can be
/// held until released, and can be refused: a store that is slow, or still failing over.
pub struct Unreliable {
    inner: Arc<dyn MessageLog>,
    reads: AtomicUsize,
    /// Reads wait for a permit, when set.
    gate: Option<Semaphore>,
    /// How many of the next reads are refused.
    refusals: AtomicUsize,
}

impl Unreliable {
    /// Reads go through (until [`Self::refuse`]).
    pub fn over(inner: Arc<dyn MessageLog>) -> Self {
        Self {
            inner,
            reads: AtomicUsize::new(0),
            gate: None,
            refusals: AtomicUsize::new(0),
        }
    }

    /// Every read waits until [`Self::open`].
    pub fn gated(inner: Arc<dyn MessageLog>) -> Self {
        Self {
            gate: Some(Semaphore::new(0)),
            ..Self::over(inner)
        }
    }

    /// Lets every waiting and later read through.
    pub fn open(&self) {
        if let Some(gate) = &self.gate {
            gate.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }

    /// Refuses the next `reads` reads as unavailable.
    pub fn refuse(&self, reads: usize) {
        self.refusals.store(reads, Ordering::SeqCst);
    }

    /// How many reads have started.
    pub fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }

    async fn read(&self) -> Result<(), BackendError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            let _open = gate.acquire().await.expect("the gate is never closed");
        }
        let refused = self
            .refusals
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if refused {
            return Err(BackendError::Unavailable("failing over".to_owned()));
        }
        Ok(())
    }
}

#[async_trait]
impl MessageLog for Unreliable {
    async fn append(&self, room: &RoomName, draft: &Draft) -> Result<Appended, BackendError> {
        self.inner.append(room, draft).await
    }
    async fn amend(
        &self,
        room: &RoomName,
        record: &Draft,
        only_by: Option<UserId>,
    ) -> Result<Amended, BackendError> {
        self.inner.amend(room, record, only_by).await
    }
    async fn message(
        &self,
        room: &RoomName,
        id: MessageId,
    ) -> Result<Option<ChatMessage>, BackendError> {
        self.inner.message(room, id).await
    }
    async fn recent(&self, room: &RoomName, limit: usize) -> Messages {
        self.read().await?;
        self.inner.recent(room, limit).await
    }
    async fn older(&self, room: &RoomName, before: MessageId, limit: usize) -> Messages {
        self.inner.older(room, before, limit).await
    }
    async fn replay(
        &self,
        room: &RoomName,
        after: MessageId,
        limit: usize,
    ) -> Result<Replay, BackendError> {
        self.read().await?;
        self.inner.replay(room, after, limit).await
    }
}
