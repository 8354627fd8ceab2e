//! Presence in Redis: per room, a sorted set of entries (`<user id>|<instance>`, scored by the
//! unix-ms deadline the holding instance keeps pushing forward), the present users' JSON, and
//! each user's number of entries. Two scripts change them atomically and publish the
//! transitions on the room's channel, so every instance hears each one once, in order with the
//! room's messages. On a cluster the three keys and the channel share the room's hash tag.

use super::{Keys, RedisConnection, Timed};
use crate::backend::{BackendError, PresenceStore, Users};
use app::protocol::{RoomName, User, UserId};
use async_trait::async_trait;
use redis::{AsyncCommands, Script};
use std::{sync::LazyLock, time::Duration};

static HOLD: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("hold.lua")));
static SWEEP: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("sweep.lua")));

/// How long a room's presence keys outlive the last hold: an idle room's presence goes away.
const KEEP_AFTER: Duration = Duration::from_secs(3600);
/// Most entries one sweep removes (the next sweep takes the rest).
const SWEEP_BATCH: usize = 1000;

pub struct RedisPresence<C> {
    conn: Timed<C>,
    keys: Keys,
    instance: String,
}

impl<C> RedisPresence<C> {
    pub fn new(conn: Timed<C>, keys: Keys, instance: String) -> Self {
        Self {
            conn,
            keys,
            instance,
        }
    }

    fn invoke<'a>(&self, script: &'a Script, room: &RoomName) -> redis::ScriptInvocation<'a> {
        let keys = &self.keys;
        let mut invocation = script.prepare_invoke();
        invocation
            .key(keys.presence_entries(room))
            .key(keys.presence_users(room))
            .key(keys.presence_counts(room))
            .arg(keys.channel(room))
            .arg(keys.publish_command());
        invocation
    }

    fn member(&self, user: UserId) -> String {
        format!("{user}|{}", self.instance)
    }
}

fn decode_user(json: &str) -> Result<User, BackendError> {
    serde_json::from_str(json).map_err(|e| BackendError::Corrupt(format!("presence user: {e}")))
}

#[async_trait]
impl<C: RedisConnection> PresenceStore for RedisPresence<C> {
    async fn hold(&self, room: &RoomName, users: &[User], until_ms: u64) -> Users {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let keep_ms =
            until_ms.saturating_sub(crate::clock::unix_ms()) + KEEP_AFTER.as_millis() as u64;
        let mut invocation = self.invoke(&HOLD, room);
        invocation.arg(until_ms).arg(&self.instance).arg(keep_ms);
        for user in users {
            let json = serde_json::to_string(user).expect("a user always serializes");
            invocation.arg(user.id.to_string()).arg(json);
        }
        let arrived: Vec<String> = invocation.invoke_async(&mut self.conn.clone()).await?;
        arrived.iter().map(|json| decode_user(json)).collect()
    }

    async fn release(
        &self,
        room: &RoomName,
        user: UserId,
        until_ms: u64,
    ) -> Result<(), BackendError> {
        let _: () = redis::cmd("ZADD")
            .arg(self.keys.presence_entries(room))
            .arg("XX")
            .arg(until_ms)
            .arg(self.member(user))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    async fn sweep(&self, room: &RoomName, now_ms: u64) -> Result<Vec<(User, u64)>, BackendError> {
        let mut invocation = self.invoke(&SWEEP, room);
        invocation.arg(now_ms).arg(SWEEP_BATCH);
        let report: Vec<String> = invocation.invoke_async(&mut self.conn.clone()).await?;
        report
            .chunks_exact(2)
            .map(|pair| {
                let ended = pair[1].parse::<f64>().unwrap_or_default() as u64;
                Ok((decode_user(&pair[0])?, ended))
            })
            .collect()
    }

    async fn online(&self, room: &RoomName) -> Users {
        let users: Vec<String> = self
            .conn
            .clone()
            .hvals(self.keys.presence_users(room))
            .await?;
        users.iter().map(|json| decode_user(json)).collect()
    }
}
