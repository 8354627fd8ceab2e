//! Sessions in process memory, with the same rules as the Redis store: records expire, a rotated
//! id keeps reading for the grace period but cannot be saved, and logout deletes at once.

use crate::backend::RetiringStore;
use async_trait::async_trait;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Result, SessionStore};

#[derive(Debug, Clone)]
struct Entry {
    record: Record,
    /// Set when the id was rotated away: readable until then, never saved again.
    retired_until: Option<Instant>,
}

impl Entry {
    fn readable(&self) -> bool {
        self.record.expiry_date > OffsetDateTime::now_utc()
            && self
                .retired_until
                .is_none_or(|until| Instant::now() < until)
    }
}

#[derive(Debug, Clone)]
pub struct MemorySessionStore {
    entries: Arc<Mutex<HashMap<Id, Entry>>>,
    grace: Duration,
}

impl MemorySessionStore {
    pub fn new(grace: Duration) -> Self {
        Self {
            entries: Arc::default(),
            grace,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<Id, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        let mut entries = entries_pruned(self);
        while entries.contains_key(&record.id) {
            record.id = Id::default();
        }
        entries.insert(
            record.id,
            Entry {
                record: record.clone(),
                retired_until: None,
            },
        );
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<()> {
        if let Some(entry) = self.entries().get_mut(&record.id) {
            if entry.retired_until.is_none() {
                entry.record = record.clone();
            }
        }
        Ok(())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        Ok(self
            .entries()
            .get(id)
            .filter(|entry| entry.readable())
            .map(|entry| entry.record.clone()))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        self.entries().remove(id);
        Ok(())
    }
}

#[async_trait]
impl RetiringStore for MemorySessionStore {
    /// Keeps the first deadline when retired again, so repeated rotations cannot stretch it.
    async fn retire(&self, id: &Id) -> Result<()> {
        if let Some(entry) = self.entries().get_mut(id) {
            entry
                .retired_until
                .get_or_insert(Instant::now() + self.grace);
        }
        Ok(())
    }
}

/// The map, with expired and fully retired entries dropped (done on create, so the map cannot grow
/// without bound).
fn entries_pruned(store: &MemorySessionStore) -> std::sync::MutexGuard<'_, HashMap<Id, Entry>> {
    let mut entries = store.entries();
    entries.retain(|_, entry| entry.readable());
    entries
}
