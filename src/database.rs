//! The PostgreSQL database behind the durable records ([`crate::accounts`] and
//! [`crate::memberships`] share one pool). The schema is `migrations/`, embedded in the binary
//! and brought up to date at start-up: sqlx keeps which migrations ran and takes an advisory
//! lock, so instances starting together migrate once.

use crate::settings::DatabaseUrl;
use anyhow::Context;
use sqlx::{postgres::PgPoolOptions, PgPool};
use std::time::Duration;

/// How long a statement waits for a pooled connection before the caller hears "unavailable".
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Connects and migrates: start-up fails with a clear error when the database cannot be reached
/// or migrated, rather than serving sign-ins that all fail.
pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect(url.expose())
        .await
        .with_context(|| format!("DATABASE_URL: cannot connect to {}", url.redacted()))?;
    sqlx::migrate!()
        .run(&pool)
        .await
        .context("migrating the database")?;
    Ok(pool)
}
