//! Who has an account: the durable records behind a sign-in, kept apart from Redis.
//!
//! Redis keeps what may be lost or rebuilt (sessions, recent history, presence, limits); an
//! account must outlive all of that, so its record lives in PostgreSQL ([`postgres`], with the
//! migrations in `migrations/` run at start-up), or, with no database configured, in this
//! process's memory ([`memory`], announced in the log: development and single-instance use).
//!
//! Two handles that a person would read as the same name are one handle: the store keeps each
//! account under its [`HandleKey`] and refuses a second account with the same key, atomically
//! (a unique index), so two instances signing up "alice" at the same moment give one of them
//! [`AccountError::HandleTaken`].

mod handle_key;
mod memory;
pub mod password;
mod postgres;

pub use handle_key::{new_handle, HandleKey};
pub use password::{PasswordHash, PasswordPolicy};

use app::protocol::{Handle, User, UserId, UserName};
use async_trait::async_trait;
use std::sync::Arc;

/// One account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: UserId,
    /// As its owner wrote it.
    pub handle: Handle,
    /// The display name, which anyone may share.
    pub name: UserName,
    /// `None` for an account that signs in only through single sign-on.
    pub password: Option<PasswordHash>,
}

impl Account {
    /// The account as the session and the page know it.
    pub fn user(&self) -> User {
        User {
            id: self.id,
            name: self.name.clone(),
            handle: Some(self.handle.clone()),
        }
    }
}

/// Why the store did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// Another account holds this handle, or one that looks the same.
    #[error("that handle is taken")]
    HandleTaken,
    /// The database could not be reached or failed the statement.
    #[error("the account store is unavailable: {0}")]
    Unavailable(String),
}

/// The accounts, wherever they are kept. Every instance shares one (PostgreSQL); the in-memory
/// store serves one instance.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Stores `account` under its handle's key, unless another account holds that key.
    async fn create(&self, account: &Account) -> Result<(), AccountError>;

    /// The account whose handle has this key.
    async fn by_handle(&self, key: &HandleKey) -> Result<Option<Account>, AccountError>;

    async fn by_id(&self, id: UserId) -> Result<Option<Account>, AccountError>;

    /// The accounts among `ids`, in one look-up, in no particular order; deleted ones are
    /// missing.
    async fn by_ids(&self, ids: &[UserId]) -> Result<Vec<Account>, AccountError>;

    /// Replaces the account's password hash; `false` when there is no such account.
    async fn set_password(&self, id: UserId, hash: &PasswordHash) -> Result<bool, AccountError>;

    /// Deletes the account (its messages keep their author's id); `false` when there was none.
    async fn delete(&self, id: UserId) -> Result<bool, AccountError>;

    /// The account an OpenID provider's `(issuer, subject)` signs in to.
    async fn by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Account>, AccountError>;

    /// Stores `account` as [`Self::create`] does, signed in to by `(issuer, subject)`, in one
    /// step: a taken handle stores neither.
    async fn create_with_identity(
        &self,
        account: &Account,
        issuer: &str,
        subject: &str,
    ) -> Result<(), AccountError>;
}

/// The accounts in `pool` (migrated, see [`crate::database`]), or in memory.
pub fn store(pool: Option<sqlx::PgPool>) -> Arc<dyn AccountStore> {
    match pool {
        Some(pool) => Arc::new(postgres::PgAccounts::new(pool)),
        None => in_memory(),
    }
}

/// Accounts in this process's memory (the tests', and the embedded default's).
pub fn in_memory() -> Arc<dyn AccountStore> {
    Arc::new(memory::MemoryAccounts::default())
}

/// The behaviour both stores share, run against each (the PostgreSQL one in the integration
/// tests, against a real server).
#[cfg(test)]
pub(crate) mod contract {
    use super::*;

    pub fn account(handle: &str) -> Account {
        Account {
            id: UserId(uuid::Uuid::new_v4()),
            handle: Handle::parse(handle).expect("a valid handle"),
            name: UserName::parse(handle).expect("a valid name"),
            password: Some(PasswordHash::from_stored("$argon2id$stand-in".to_owned())),
        }
    }

    pub async fn holds(store: &dyn AccountStore) {
        let ada = account("Ada");
        store.create(&ada).await.expect("created");
        let key = HandleKey::of(&ada.handle);
        assert_eq!(store.by_handle(&key).await.unwrap(), Some(ada.clone()));
        assert_eq!(store.by_id(ada.id).await.unwrap(), Some(ada.clone()));
        let nobody = UserId(uuid::Uuid::new_v4());
        assert_eq!(
            store.by_ids(&[nobody, ada.id, ada.id]).await.unwrap(),
            vec![ada.clone()]
        );
        assert_eq!(store.by_ids(&[]).await.unwrap(), vec![]);

        // The same handle in another case, or spelled with a Cyrillic look-alike: taken.
        for twin in ["ada", "АDA"] {
            assert!(
                matches!(
                    store.create(&account(twin)).await,
                    Err(AccountError::HandleTaken)
                ),
                "{twin} is refused"
            );
        }

        let new = PasswordHash::from_stored("$argon2id$another".to_owned());
        assert!(store.set_password(ada.id, &new).await.unwrap());
        let stored = store.by_id(ada.id).await.unwrap().unwrap();
        assert_eq!(stored.password, Some(new));

        assert!(store.delete(ada.id).await.unwrap());
        assert!(!store.delete(ada.id).await.unwrap());
        assert_eq!(store.by_handle(&key).await.unwrap(), None);
        // A deleted account's handle is free again.
        store.create(&account("ada")).await.expect("created again");
    }
}
