//! Read marks in Redis: one hash per room (`read:<room>`, user id -> message id), beside the
//! room's log and in its slot, so one script moves a mark and publishes the move on the room's
//! channel (`read <user id> <id>`). It lives as long as an idle room's history does.

use super::{codec, Keys, RedisConnection, Timed};
use crate::backend::{BackendError, ReadMarks};
use app::protocol::{MessageId, RoomName, UserId};
use async_trait::async_trait;
use redis::Script;
use std::{sync::LazyLock, time::Duration};

/// Compares, moves and publishes in one step (`mark_read.lua`): two tabs marking at once end on
/// the later id, and no instance hears a move that was not kept.
static MARK: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("mark_read.lua")));

pub struct RedisReadMarks<C> {
    conn: Timed<C>,
    keys: Keys,
    /// How long a room's marks outlive their last change.
    ttl: Duration,
}

impl<C> RedisReadMarks<C> {
    pub fn new(conn: Timed<C>, keys: Keys, ttl: Duration) -> Self {
        Self { conn, keys, ttl }
    }
}

#[async_trait]
impl<C: RedisConnection> ReadMarks for RedisReadMarks<C> {
    async fn mark(&self, room: &RoomName, user: UserId, id: MessageId) -> Result<(), BackendError> {
        let _: i64 = MARK
            .key(self.keys.read_marks(room))
            .arg(user.to_string())
            .arg(id.to_string())
            .arg(self.keys.channel(room))
            .arg(self.keys.publish_command())
            .arg(u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn read_mark(
        &self,
        room: &RoomName,
        user: UserId,
    ) -> Result<Option<MessageId>, BackendError> {
        let mark: Option<String> = redis::cmd("HGET")
            .arg(self.keys.read_marks(room))
            .arg(user.to_string())
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(mark.as_deref().and_then(codec::read_mark))
    }
}
