//! What the browser keeps of an account between page loads: one `localStorage` entry per kind of
//! thing and per account (`switchboard:<kind>:<user id>`), holding JSON. The drafts, the muted
//! rooms and the unsent messages each keep theirs here.
//!
//! Storage can be missing (some private windows), refused, or full. Reading then finds nothing
//! and writing says so ([`Unstored`]); each user decides what that costs. On the server, which
//! never keeps anything for a page, a read finds nothing and a write does nothing.

use crate::protocol::UserId;
use leptos::prelude::*;
use serde::{de::DeserializeOwned, Serialize};
use std::marker::PhantomData;

/// The browser did not keep a value: it has no storage, refused it, or is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unstored;

/// One account's entry of one kind. `Copy`: a handle on the key.
pub struct Stored<T> {
    key: StoredValue<String>,
    kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Stored<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Stored<T> {}

impl<T: Serialize + DeserializeOwned + Default + PartialEq> Stored<T> {
    /// The entry of `kind` (a short word: `drafts`, `muted`, `outbox`) for `user`.
    pub fn new(kind: &str, user: UserId) -> Self {
        Self {
            key: StoredValue::new(format!("switchboard:{kind}:{}", user.0)),
            kind: PhantomData,
        }
    }

    /// What the entry holds; the default when there is none or it cannot be read (an older
    /// format, a hand edit).
    pub fn read(self) -> T {
        self.key
            .with_value(|key| read(key))
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }

    /// Keeps `value` (the default removes the entry).
    pub fn write(self, value: &T) -> Result<(), Unstored> {
        if *value == T::default() {
            return self.remove();
        }
        let json = serde_json::to_string(value).map_err(|_| Unstored)?;
        self.key.with_value(|key| write(key, Some(&json)))
    }

    /// Removes the entry.
    pub fn remove(self) -> Result<(), Unstored> {
        self.key.with_value(|key| write(key, None))
    }

    /// Whether a `storage` event's key (another tab changed storage) is this entry's.
    pub fn is(self, key: Option<&str>) -> bool {
        self.key.with_value(|mine| key == Some(mine.as_str()))
    }
}

/// What storage holds under `key`.
fn read(key: &str) -> Option<String> {
    #[cfg(feature = "hydrate")]
    if let Ok(Some(storage)) = window().local_storage() {
        return storage.get_item(key).ok().flatten();
    }
    let _ = key;
    None
}

/// Stores `value` under `key`, or removes the entry.
fn write(key: &str, value: Option<&str>) -> Result<(), Unstored> {
    #[cfg(feature = "hydrate")]
    {
        let storage = window().local_storage().ok().flatten().ok_or(Unstored)?;
        match value {
            Some(value) => storage.set_item(key, value),
            None => storage.remove_item(key),
        }
        .map_err(|_| Unstored)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (key, value);
        Ok(())
    }
}
