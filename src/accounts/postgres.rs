//! Accounts in PostgreSQL, shared by every instance. The schema is `migrations/`, embedded in the
//! binary and brought up to date at start-up (sqlx keeps which migrations ran, and takes an
//! advisory lock, so instances starting together migrate once).
//!
//! The handle's key has a unique constraint: two instances creating the same handle at once
//! both send their `INSERT`, and the database refuses the second (`23505`), which becomes
//! [`AccountError::HandleTaken`].

use super::{Account, AccountError, AccountStore, HandleKey, PasswordHash};
use crate::settings::DatabaseUrl;
use anyhow::Context;
use app::protocol::{Handle, UserId, UserName};
use async_trait::async_trait;
use sqlx::{postgres::PgPoolOptions, PgPool, Row};
use std::time::Duration;

/// How long a statement waits for a pooled connection before the caller hears "unavailable".
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

pub struct PgAccounts {
    pool: PgPool,
}

impl PgAccounts {
    /// Connects and migrates: start-up fails with a clear error when the database cannot be
    /// reached or migrated, rather than serving sign-ins that all fail.
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url.expose())
            .await
            .with_context(|| format!("DATABASE_URL: cannot connect to {}", url.redacted()))?;
        sqlx::migrate!()
            .run(&pool)
            .await
            .context("migrating the accounts database")?;
        Ok(Self { pool })
    }
}

impl PgAccounts {
    /// The account a query for at most one row finds.
    async fn one(
        &self,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Option<Account>, AccountError> {
        query
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(account)
            .transpose()
    }
}

/// Inserts `account` on `conn` (a pooled connection or a transaction).
async fn insert(conn: &mut sqlx::PgConnection, account: &Account) -> Result<(), AccountError> {
    let inserted = sqlx::query(
        "INSERT INTO accounts (id, handle, handle_key, name, password_hash) \
             VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(account.id.0)
    .bind(account.handle.as_str())
    .bind(HandleKey::of(&account.handle).as_str())
    .bind(account.name.as_str())
    .bind(account.password.as_ref().map(PasswordHash::as_str))
    .execute(&mut *conn)
    .await;
    match inserted {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(AccountError::HandleTaken),
        Err(e) => Err(unavailable(e)),
    }
}

fn unavailable(e: sqlx::Error) -> AccountError {
    AccountError::Unavailable(e.to_string())
}

/// A row as an account; a row that no longer parses (edited by hand) is a failure, not a panic.
fn account(row: &sqlx::postgres::PgRow) -> Result<Account, AccountError> {
    let corrupt =
        |what: &str| AccountError::Unavailable(format!("a stored account's {what} is unusable"));
    let handle: String = row.try_get("handle").map_err(unavailable)?;
    let name: String = row.try_get("name").map_err(unavailable)?;
    let password: Option<String> = row.try_get("password_hash").map_err(unavailable)?;
    Ok(Account {
        id: UserId(row.try_get("id").map_err(unavailable)?),
        handle: Handle::parse(&handle).map_err(|_| corrupt("handle"))?,
        name: UserName::parse(&name).map_err(|_| corrupt("name"))?,
        password: password.map(PasswordHash::from_stored),
    })
}

#[async_trait]
impl AccountStore for PgAccounts {
    async fn create(&self, account: &Account) -> Result<(), AccountError> {
        let mut conn = self.pool.acquire().await.map_err(unavailable)?;
        insert(&mut conn, account).await
    }

    async fn by_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Account>, AccountError> {
        let query = sqlx::query(
            "SELECT a.id, a.handle, a.name, a.password_hash FROM accounts a \
             JOIN identities i ON i.account_id = a.id WHERE i.issuer = $1 AND i.subject = $2",
        );
        self.one(query.bind(issuer).bind(subject)).await
    }

    async fn create_with_identity(
        &self,
        account: &Account,
        issuer: &str,
        subject: &str,
    ) -> Result<(), AccountError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        insert(&mut tx, account).await?;
        sqlx::query("INSERT INTO identities (issuer, subject, account_id) VALUES ($1, $2, $3)")
            .bind(issuer)
            .bind(subject)
            .bind(account.id.0)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn by_handle(&self, key: &HandleKey) -> Result<Option<Account>, AccountError> {
        let query = sqlx::query(
            "SELECT id, handle, name, password_hash FROM accounts WHERE handle_key = $1",
        );
        self.one(query.bind(key.as_str())).await
    }

    async fn by_id(&self, id: UserId) -> Result<Option<Account>, AccountError> {
        let query =
            sqlx::query("SELECT id, handle, name, password_hash FROM accounts WHERE id = $1");
        self.one(query.bind(id.0)).await
    }

    async fn set_password(&self, id: UserId, hash: &PasswordHash) -> Result<bool, AccountError> {
        let done = sqlx::query("UPDATE accounts SET password_hash = $2 WHERE id = $1")
            .bind(id.0)
            .bind(hash.as_str())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete(&self, id: UserId) -> Result<bool, AccountError> {
        let done = sqlx::query("DELETE FROM accounts WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }
}
