//! The rooms each person has open, in Redis: one sorted set per user (`rooms:<user>`), each room
//! scored by when it was first opened, so the list keeps its order. It outlives its last change
//! as long as an idle room's history does (`ROOM_IDLE_DAYS`).

use super::{Keys, RedisConnection, Timed};
use crate::backend::{BackendError, RoomLists};
use app::protocol::{RoomName, UserId, MAX_ROOMS_PER_SOCKET};
use async_trait::async_trait;
use redis::Script;
use std::{sync::LazyLock, time::Duration};

/// Adds a room unless the list is full, keeping its first score, and renews the key's lifetime
/// (`open_room.lua`): one step, so two tabs opening rooms at once cannot push the list past the
/// cap.
static OPEN: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("open_room.lua")));

pub struct RedisRoomLists<C> {
    conn: Timed<C>,
    keys: Keys,
    /// How long a list outlives its last change.
    ttl: Duration,
}

impl<C> RedisRoomLists<C> {
    pub fn new(conn: Timed<C>, keys: Keys, ttl: Duration) -> Self {
        Self { conn, keys, ttl }
    }
}

#[async_trait]
impl<C: RedisConnection> RoomLists for RedisRoomLists<C> {
    async fn rooms(&self, user: UserId) -> Result<Vec<RoomName>, BackendError> {
        let names: Vec<String> = redis::cmd("ZRANGE")
            .arg(self.keys.room_list(user))
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn.clone())
            .await?;
        // A name that no longer parses (the rules tightened) is dropped, not an error.
        Ok(names
            .into_iter()
            .filter_map(|n| RoomName::parse(&n).ok())
            .collect())
    }

    async fn open(&self, user: UserId, room: &RoomName) -> Result<(), BackendError> {
        let _: i64 = OPEN
            .key(self.keys.room_list(user))
            .arg(room.as_str())
            .arg(crate::clock::unix_ms())
            .arg(MAX_ROOMS_PER_SOCKET)
            .arg(u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn close(&self, user: UserId, room: &RoomName) -> Result<(), BackendError> {
        let _: i64 = redis::cmd("ZREM")
            .arg(self.keys.room_list(user))
            .arg(room.as_str())
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
