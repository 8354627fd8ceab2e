//! The room records in PostgreSQL, in the accounts' database (`migrations/`).
//!
//! Each change is one statement or one transaction, so two instances acting on one room at once
//! see each other's result, never half of it: a public room opened by two people at the same
//! moment is stored once (`ON CONFLICT DO NOTHING`), a second direct conversation between the
//! same people is refused by the unique key, and a ban removes the membership and keeps the
//! person out in the same commit as its line in the log.

use super::{
    DirectKey, Listing, LogEntry, Member, MembershipError, Memberships, Moderation, Role, Room,
    RoomKind, Standing,
};
use app::protocol::{MessageId, RoomName, UserId};
use async_trait::async_trait;
use sqlx::{postgres::PgRow, PgPool, Row};
use uuid::Uuid;

pub struct PgMemberships {
    pool: PgPool,
}

impl PgMemberships {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The room a query for at most one row finds.
    async fn one_room(
        &self,
        query: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Option<Room>, MembershipError> {
        query
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(room)
            .transpose()
    }
}

/// The columns [`room`] reads, for `concat!` (sqlx takes only `&'static str` statements).
macro_rules! room_columns {
    () => {
        "r.name, r.kind, r.title, r.topic, r.created_by"
    };
}

fn unavailable(e: sqlx::Error) -> MembershipError {
    match &e {
        // A reference to a room or an account that is not (or no longer) there.
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => MembershipError::Missing,
        sqlx::Error::Database(db) if db.is_unique_violation() => MembershipError::Taken,
        _ => MembershipError::Unavailable(e.to_string()),
    }
}

fn corrupt(what: &str) -> MembershipError {
    MembershipError::Unavailable(format!("a stored room's {what} is unusable"))
}

fn room(row: &PgRow) -> Result<Room, MembershipError> {
    let name: String = row.try_get("name").map_err(unavailable)?;
    let kind: String = row.try_get("kind").map_err(unavailable)?;
    let created_by: Option<Uuid> = row.try_get("created_by").map_err(unavailable)?;
    Ok(Room {
        name: RoomName::parse(&name).map_err(|_| corrupt("name"))?,
        kind: RoomKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
        title: row.try_get("title").map_err(unavailable)?,
        topic: row.try_get("topic").map_err(unavailable)?,
        created_by: created_by.map(UserId),
    })
}

fn role(raw: &str) -> Result<Role, MembershipError> {
    Role::parse(raw).ok_or_else(|| corrupt("role"))
}

fn entry(row: &PgRow) -> Result<LogEntry, MembershipError> {
    let action: String = row.try_get("action").map_err(unavailable)?;
    let target: Option<Uuid> = row.try_get("target_account").map_err(unavailable)?;
    let message: Option<String> = row.try_get("target_message").map_err(unavailable)?;
    let detail: String = row.try_get("detail").map_err(unavailable)?;
    let at_ms: i64 = row.try_get("at_ms").map_err(unavailable)?;
    let user = || target.map(UserId).ok_or_else(|| corrupt("log target"));
    let action = match action.as_str() {
        "delete_message" => Moderation::DeletedMessage(
            message
                .and_then(|id| id.parse::<MessageId>().ok())
                .ok_or_else(|| corrupt("log message"))?,
        ),
        "remove_member" => Moderation::RemovedMember(user()?),
        "ban" => Moderation::Banned(user()?),
        "unban" => Moderation::Unbanned(user()?),
        "topic" => Moderation::Topic(detail),
        "role" => Moderation::Role(user()?, role(&detail)?),
        _ => return Err(corrupt("log action")),
    };
    Ok(LogEntry {
        actor: UserId(row.try_get("actor").map_err(unavailable)?),
        action,
        at_ms: u64::try_from(at_ms).unwrap_or_default(),
    })
}

/// `Missing` unless the statement changed exactly one row.
fn one_row(done: sqlx::postgres::PgQueryResult) -> Result<(), MembershipError> {
    match done.rows_affected() {
        1 => Ok(()),
        _ => Err(MembershipError::Missing),
    }
}

#[async_trait]
impl Memberships for PgMemberships {
    async fn create(&self, new: &Room, members: &[Member]) -> Result<(), MembershipError> {
        let key = (new.kind == RoomKind::Direct)
            .then(|| DirectKey::of(&members.iter().map(|m| m.user).collect::<Vec<_>>()));
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO rooms (name, kind, title, topic, created_by, direct_key) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(new.name.as_str())
        .bind(new.kind.as_str())
        .bind(&new.title)
        .bind(&new.topic)
        .bind(new.created_by.map(|id| id.0))
        .bind(key.as_ref().map(DirectKey::as_str))
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        for member in members {
            sqlx::query("INSERT INTO memberships (room, account_id, role) VALUES ($1, $2, $3)")
                .bind(new.name.as_str())
                .bind(member.user.0)
                .bind(member.role.as_str())
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn open_public(&self, name: &RoomName) -> Result<Option<Room>, MembershipError> {
        sqlx::query(
            "INSERT INTO rooms (name, kind, title) VALUES ($1, 'public', $1) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.as_str())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        let found = self.room(name).await?;
        Ok(found.filter(|room| room.kind == RoomKind::Public))
    }

    async fn room(&self, name: &RoomName) -> Result<Option<Room>, MembershipError> {
        let query = concat!(
            "SELECT ",
            room_columns!(),
            " FROM rooms r WHERE r.name = $1"
        );
        self.one_room(sqlx::query(query).bind(name.as_str())).await
    }

    async fn standing(
        &self,
        name: &RoomName,
        user: UserId,
    ) -> Result<Option<(Room, Standing)>, MembershipError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            room_columns!(),
            ", m.role, (b.account_id IS NOT NULL) AS banned FROM rooms r \
             LEFT JOIN memberships m ON m.room = r.name AND m.account_id = $2 \
             LEFT JOIN bans b ON b.room = r.name AND b.account_id = $2 \
             WHERE r.name = $1"
        ))
        .bind(name.as_str())
        .bind(user.0)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        let Some(row) = row else { return Ok(None) };
        let held: Option<String> = row.try_get("role").map_err(unavailable)?;
        let banned: bool = row.try_get("banned").map_err(unavailable)?;
        let standing = match held {
            Some(held) => Standing::Member(role(&held)?),
            None if banned => Standing::Banned,
            None => Standing::Outsider,
        };
        Ok(Some((room(&row)?, standing)))
    }

    async fn direct(&self, key: &DirectKey) -> Result<Option<Room>, MembershipError> {
        let query = concat!(
            "SELECT ",
            room_columns!(),
            " FROM rooms r WHERE r.direct_key = $1"
        );
        self.one_room(sqlx::query(query).bind(key.as_str())).await
    }

    async fn add(
        &self,
        name: &RoomName,
        user: UserId,
        role: Role,
    ) -> Result<bool, MembershipError> {
        let done = sqlx::query(
            "INSERT INTO memberships (room, account_id, role) SELECT $1, $2, $3 \
             WHERE NOT EXISTS (SELECT 1 FROM bans WHERE room = $1 AND account_id = $2) \
             ON CONFLICT (room, account_id) DO NOTHING",
        )
        .bind(name.as_str())
        .bind(user.0)
        .bind(role.as_str())
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn leave(&self, name: &RoomName, user: UserId) -> Result<bool, MembershipError> {
        let done = sqlx::query("DELETE FROM memberships WHERE room = $1 AND account_id = $2")
            .bind(name.as_str())
            .bind(user.0)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn forget(&self, user: UserId) -> Result<(), MembershipError> {
        // The account's deletion cascaded to these already; this holds for a store used alone.
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        for statement in [
            "DELETE FROM memberships WHERE account_id = $1",
            "DELETE FROM bans WHERE account_id = $1",
        ] {
            sqlx::query(statement)
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn members(
        &self,
        name: &RoomName,
        limit: usize,
    ) -> Result<(Vec<Member>, u64), MembershipError> {
        let rows = sqlx::query(
            "SELECT account_id, role, count(*) OVER () AS total FROM memberships WHERE room = $1 \
             ORDER BY CASE role WHEN 'owner' THEN 0 WHEN 'moderator' THEN 1 ELSE 2 END, \
             joined_at, account_id LIMIT $2",
        )
        .bind(name.as_str())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        let total = match rows.first() {
            Some(row) => row.try_get::<i64, _>("total").map_err(unavailable)?,
            None => 0,
        };
        let members = rows
            .iter()
            .map(|row| {
                let held: String = row.try_get("role").map_err(unavailable)?;
                Ok(Member {
                    user: UserId(row.try_get("account_id").map_err(unavailable)?),
                    role: role(&held)?,
                })
            })
            .collect::<Result<_, MembershipError>>()?;
        Ok((members, u64::try_from(total).unwrap_or_default()))
    }

    async fn banned(&self, name: &RoomName) -> Result<Vec<UserId>, MembershipError> {
        let rows = sqlx::query(
            "SELECT account_id FROM bans WHERE room = $1 ORDER BY banned_at, account_id",
        )
        .bind(name.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| Ok(UserId(row.try_get("account_id").map_err(unavailable)?)))
            .collect()
    }

    async fn rooms_of(&self, user: UserId) -> Result<Vec<(Room, Role)>, MembershipError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            room_columns!(),
            ", m.role FROM rooms r JOIN memberships m ON m.room = r.name \
             WHERE m.account_id = $1 ORDER BY m.joined_at, r.name"
        ))
        .bind(user.0)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let held: String = row.try_get("role").map_err(unavailable)?;
                Ok((room(row)?, role(&held)?))
            })
            .collect()
    }

    async fn directory(&self) -> Result<Vec<Listing>, MembershipError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            room_columns!(),
            ", count(m.account_id) AS members FROM rooms r \
             LEFT JOIN memberships m ON m.room = r.name WHERE r.kind = 'public' \
             GROUP BY r.name ORDER BY members DESC, r.name"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let members: i64 = row.try_get("members").map_err(unavailable)?;
                Ok(Listing {
                    room: room(row)?,
                    members: u64::try_from(members).unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn moderate(
        &self,
        name: &RoomName,
        actor: UserId,
        action: &Moderation,
    ) -> Result<(), MembershipError> {
        let room = name.as_str();
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let mut detail = String::new();
        match action {
            // The message log (Redis) holds the tombstone; the record here says who and when.
            Moderation::DeletedMessage(_) => {}
            Moderation::RemovedMember(user) => one_row(
                sqlx::query("DELETE FROM memberships WHERE room = $1 AND account_id = $2")
                    .bind(room)
                    .bind(user.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?,
            )?,
            Moderation::Banned(user) => {
                sqlx::query("DELETE FROM memberships WHERE room = $1 AND account_id = $2")
                    .bind(room)
                    .bind(user.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                sqlx::query(
                    "INSERT INTO bans (room, account_id) VALUES ($1, $2) \
                     ON CONFLICT (room, account_id) DO NOTHING",
                )
                .bind(room)
                .bind(user.0)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            }
            Moderation::Unbanned(user) => one_row(
                sqlx::query("DELETE FROM bans WHERE room = $1 AND account_id = $2")
                    .bind(room)
                    .bind(user.0)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?,
            )?,
            Moderation::Topic(topic) => {
                detail = topic.clone();
                one_row(
                    sqlx::query("UPDATE rooms SET topic = $2 WHERE name = $1")
                        .bind(room)
                        .bind(topic)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?,
                )?
            }
            Moderation::Role(user, held) => {
                detail = held.as_str().to_owned();
                one_row(
                    sqlx::query(
                        "UPDATE memberships SET role = $3 WHERE room = $1 AND account_id = $2",
                    )
                    .bind(room)
                    .bind(user.0)
                    .bind(held.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?,
                )?
            }
        }
        let message = match action {
            Moderation::DeletedMessage(id) => Some(id.to_string()),
            _ => None,
        };
        sqlx::query(
            "INSERT INTO moderation_log (room, actor, action, target_account, target_message, detail) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(room)
        .bind(actor.0)
        .bind(action.action())
        .bind(action.target().map(|id| id.0))
        .bind(message)
        .bind(detail)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)
    }

    async fn log(&self, name: &RoomName, limit: usize) -> Result<Vec<LogEntry>, MembershipError> {
        let rows = sqlx::query(
            "SELECT actor, action, target_account, target_message, detail, \
             (extract(epoch FROM at) * 1000)::bigint AS at_ms \
             FROM moderation_log WHERE room = $1 ORDER BY id DESC LIMIT $2",
        )
        .bind(name.as_str())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        rows.iter().map(entry).collect()
    }
}
