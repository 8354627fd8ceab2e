//! A tower-sessions store over the `redis` crate.
//!
//! A live session is one string key, `sb:session:<id>`, holding the JSON record and expiring in
//! Redis when the session does. When the id is rotated ([`RetiringStore::retire`]) the record
//! moves to `sb:retired:<id>` for the grace period: the old id still reads, but can no longer be
//! saved or extended, and then it is gone. On a cluster both keys carry the id as their hash
//! tag, so the script that moves one to the other touches one slot.

use super::{Keys, RedisConnection, Timed};
use crate::backend::RetiringStore;
use async_trait::async_trait;
use redis::{AsyncCommands, Script, SetExpiry, SetOptions};
use std::{sync::LazyLock, time::Duration};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};

/// Moves a live session to its retired key for ARGV[1] seconds. A session retired already keeps
/// its first deadline, so repeated rotations cannot stretch an old id's life.
static RETIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
        local record = redis.call("GET", KEYS[1])
        if record then
          redis.call("SET", KEYS[2], record, "EX", ARGV[1], "NX")
          redis.call("DEL", KEYS[1])
        end
        return 1
        "#,
    )
});

#[derive(Clone)]
pub struct RedisSessionStore<C> {
    conn: Timed<C>,
    keys: Keys,
    grace: Duration,
}

impl<C> std::fmt::Debug for RedisSessionStore<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("keys", &self.keys)
            .finish()
    }
}

impl<C: RedisConnection> RedisSessionStore<C> {
    pub fn new(conn: Timed<C>, keys: Keys, grace: Duration) -> Self {
        Self { conn, keys, grace }
    }

    /// Writes `record` if `condition` holds for its key (NX: new, XX: exists). Returns whether it
    /// was written.
    async fn write(&self, record: &Record, condition: redis::ExistenceCheck) -> Result<bool> {
        let expires = record.expiry_date.unix_timestamp();
        let key = self.keys.session(&record.id);
        let mut conn = self.conn.clone();
        if expires <= time::OffsetDateTime::now_utc().unix_timestamp() {
            let _: () = conn.del(&key).await.map_err(backend)?;
            return Ok(true);
        }
        let value = serde_json::to_vec(record).map_err(|e| Error::Encode(e.to_string()))?;
        let options = SetOptions::default()
            .with_expiration(SetExpiry::EXAT(expires as u64))
            .conditional_set(condition);
        let written: Option<String> = conn
            .set_options(&key, value, options)
            .await
            .map_err(backend)?;
        Ok(written.is_some())
    }
}

fn backend(e: redis::RedisError) -> Error {
    Error::Backend(e.to_string())
}

#[async_trait]
impl<C: RedisConnection> SessionStore for RedisSessionStore<C> {
    async fn create(&self, record: &mut Record) -> Result<()> {
        // Ids are 128 random bits; a collision is not expected, but never overwrite one.
        while !self.write(record, redis::ExistenceCheck::NX).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    /// Only a live session is saved: a retired or expired one is not brought back.
    async fn save(&self, record: &Record) -> Result<()> {
        self.write(record, redis::ExistenceCheck::XX)
            .await
            .map(|_| ())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let mut conn = self.conn.clone();
        let (live, retired): (Option<Vec<u8>>, Option<Vec<u8>>) = redis::pipe()
            .get(self.keys.session(id))
            .get(self.keys.retired_session(id))
            .query_async(&mut conn)
            .await
            .map_err(backend)?;
        live.or(retired)
            .map(|bytes| serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string())))
            .transpose()
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        let mut conn = self.conn.clone();
        conn.del::<_, ()>(&[self.keys.session(id), self.keys.retired_session(id)])
            .await
            .map_err(backend)
    }
}

#[async_trait]
impl<C: RedisConnection> RetiringStore for RedisSessionStore<C> {
    async fn retire(&self, id: &Id) -> Result<()> {
        RETIRE
            .key(self.keys.session(id))
            .key(self.keys.retired_session(id))
            .arg(self.grace.as_secs().max(1))
            .invoke_async::<()>(&mut self.conn.clone())
            .await
            .map_err(backend)
    }
}
