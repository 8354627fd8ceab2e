//! A tower-sessions store over the `redis` crate: one string key per session, JSON-encoded,
//! expiring in Redis when the session does.

use super::Keys;
use async_trait::async_trait;
use redis::{aio::ConnectionManager, AsyncCommands, SetExpiry, SetOptions};
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result, SessionStore};

#[derive(Clone)]
pub struct RedisSessionStore {
    conn: ConnectionManager,
    keys: Keys,
}

impl std::fmt::Debug for RedisSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessionStore")
            .field("keys", &self.keys)
            .finish()
    }
}

impl RedisSessionStore {
    pub fn new(conn: ConnectionManager, keys: Keys) -> Self {
        Self { conn, keys }
    }

    /// Writes `record`; with `only_new`, only if no session has its id yet. Returns whether it
    /// was written.
    async fn write(&self, record: &Record, only_new: bool) -> Result<bool> {
        let expires = record.expiry_date.unix_timestamp();
        let key = self.keys.session(&record.id);
        let mut conn = self.conn.clone();
        if expires <= time::OffsetDateTime::now_utc().unix_timestamp() {
            let _: () = conn.del(&key).await.map_err(backend)?;
            return Ok(true);
        }
        let value = serde_json::to_vec(record).map_err(|e| Error::Encode(e.to_string()))?;
        let mut options = SetOptions::default().with_expiration(SetExpiry::EXAT(expires as u64));
        if only_new {
            options = options.conditional_set(redis::ExistenceCheck::NX);
        }
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
impl SessionStore for RedisSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        // Ids are 128 random bits; a collision is not expected, but never overwrite one.
        while !self.write(record, true).await? {
            record.id = Id::default();
        }
        Ok(())
    }

    async fn save(&self, record: &Record) -> Result<()> {
        self.write(record, false).await.map(|_| ())
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let mut conn = self.conn.clone();
        let raw: Option<Vec<u8>> = conn.get(self.keys.session(id)).await.map_err(backend)?;
        raw.map(|bytes| serde_json::from_slice(&bytes).map_err(|e| Error::Decode(e.to_string())))
            .transpose()
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        let mut conn = self.conn.clone();
        conn.del::<_, ()>(self.keys.session(id))
            .await
            .map_err(backend)
    }
}
