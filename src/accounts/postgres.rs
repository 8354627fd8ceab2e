//! Accounts in PostgreSQL, shared by every instance (the pool and the migrations are
//! [`crate::database`]'s).
//!
//! The handle's key has a unique constraint: two instances creating the same handle at once
//! both send their `INSERT`, and the database refuses the second (`23505`), which becomes
//! [`AccountError::HandleTaken`].

use super::{Account, AccountError, AccountStore, HandleKey, PasswordHash};
use app::protocol::{Handle, UserId, UserName};
use async_trait::async_trait;
use sqlx::{PgPool, Row};

pub struct PgAccounts {
    pool: PgPool,
}

impl PgAccounts {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
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

    async fn by_ids(&self, ids: &[UserId]) -> Result<Vec<Account>, AccountError> {
        let ids: Vec<uuid::Uuid> = ids.iter().map(|id| id.0).collect();
        sqlx::query("SELECT id, handle, name, password_hash FROM accounts WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?
            .iter()
            .map(account)
            .collect()
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
