//! Messages in Redis: a Stream per room for order and history, published in the same script.

use super::{codec, subscriber::SubscriberHandle, Keys, RedisConnection, Timed};
use crate::backend::{
    Amended, Appended, BackendError, MessageLog, Messages, Replay, Revocation, Signals,
    Subscriptions,
};
use app::protocol::{
    ChatMessage, Draft, MessageId, Removal, RoomName, User, UserId, MAX_REACTIONS,
};
use app::session::SignIn;
use async_trait::async_trait;
use redis::{streams::StreamRangeReply, AsyncCommands, Script};
use std::{sync::LazyLock, time::Duration};

/// How long a `client_id` is remembered for idempotent re-sends.
const DEDUP_SECS: u64 = 24 * 3600;

static APPEND: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("append.lua")));
static READ: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("read.lua")));

/// The message log, subscriptions and signals over Redis.
pub struct RedisBroker<C> {
    conn: Timed<C>,
    keys: Keys,
    history_max: u64,
    room_idle: Duration,
    subscriber: SubscriberHandle,
}

impl<C> RedisBroker<C> {
    pub fn new(
        conn: Timed<C>,
        keys: Keys,
        history_max: u64,
        room_idle: Duration,
        subscriber: SubscriberHandle,
    ) -> Self {
        Self {
            conn,
            keys,
            history_max,
            room_idle,
            subscriber,
        }
    }
}

impl<C: RedisConnection> RedisBroker<C> {
    /// Publishes on one of our channels, sharded on a cluster.
    async fn publish(&self, channel: String, payload: String) -> Result<(), BackendError> {
        let _: () = redis::cmd(self.keys.publish_command())
            .arg(channel)
            .arg(payload)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}

/// What the append script answered: the id stored (or found) and how it went.
enum Stored {
    New(MessageId),
    Duplicate(MessageId),
    /// A record's answer, other than stored.
    Refused(Amended),
}

/// What the read script answered: the entries, each one's amendments, the stream's newest id.
type Read = (StreamRangeReply, Vec<Option<String>>, Option<String>);

impl<C: RedisConnection> RedisBroker<C> {
    /// Runs the append script for `draft` (a record when it names a target, about a message by
    /// `only_by` if that is set).
    async fn store(
        &self,
        room: &RoomName,
        draft: &Draft,
        only_by: Option<UserId>,
    ) -> Result<Stored, BackendError> {
        let body =
            serde_json::to_string(draft).map_err(|e| BackendError::Corrupt(e.to_string()))?;
        let (sent_key, has_client_id) = match &draft.client_id {
            Some(client_id) => (self.keys.sent(room, draft.user.id, client_id), "1"),
            // Unused by the script, but a key must be named (and in the room's hash slot).
            None => (
                self.keys.sent(
                    room,
                    draft.user.id,
                    &app::protocol::ClientId(uuid::Uuid::nil()),
                ),
                "0",
            ),
        };
        let target = draft.target.map(|id| id.to_string()).unwrap_or_default();
        let mut conn = self.conn.clone();
        let (id, status): (String, u8) = APPEND
            .key(self.keys.log(room))
            .key(sent_key)
            .key(self.keys.amended(room))
            .key(self.keys.deleted(room))
            .arg(self.keys.channel(room))
            .arg(body)
            .arg(self.history_max)
            .arg(DEDUP_SECS)
            .arg(has_client_id)
            .arg(self.room_idle.as_secs().max(1))
            .arg(self.keys.publish_command())
            .arg(target)
            .arg(only_by.map(|user| user.0.to_string()).unwrap_or_default())
            .arg(MAX_REACTIONS)
            .invoke_async(&mut conn)
            .await?;
        let id = || {
            id.parse()
                .map_err(|e: app::protocol::MessageIdError| BackendError::Corrupt(e.to_string()))
        };
        Ok(match status {
            0 => Stored::New(id()?),
            1 => Stored::Duplicate(id()?),
            2 => Stored::Refused(Amended::NotFound),
            3 => Stored::Refused(Amended::Unchanged),
            4 => Stored::Refused(Amended::NotTheirs),
            _ => Stored::Refused(Amended::TooMany),
        })
    }

    /// A range of the room's log (`XRANGE` or `XREVRANGE`, between `from` and `to`), each entry
    /// with its amendments, in one step; and the newest id when `newest` is asked for.
    async fn read(
        &self,
        room: &RoomName,
        command: &str,
        (from, to): (String, &str),
        limit: usize,
        newest: bool,
    ) -> Result<Read, BackendError> {
        Ok(READ
            .key(self.keys.log(room))
            .key(self.keys.amended(room))
            .key(self.keys.deleted(room))
            .arg(command)
            .arg(from)
            .arg(to)
            .arg(limit)
            .arg(if newest { "1" } else { "0" })
            .invoke_async(&mut self.conn.clone())
            .await?)
    }

    /// The entries read, oldest first when `newest_first` is how they came, as their records
    /// left them, replies following the messages they quote (those outside the range read
    /// apart, in one more round trip when there are any).
    async fn messages(
        &self,
        room: &RoomName,
        reply: &StreamRangeReply,
        amended: &[Option<String>],
        newest_first: bool,
    ) -> Messages {
        let none = None;
        let pairs = reply
            .ids
            .iter()
            .enumerate()
            .map(|(i, entry)| (entry, amended.get(i).unwrap_or(&none)));
        let mut messages = match newest_first {
            true => codec::entries(room, pairs.rev()),
            false => codec::entries(room, pairs),
        };
        let quoted = codec::quoted_elsewhere(&messages);
        if quoted.is_empty() {
            return Ok(messages);
        }
        let found: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(self.keys.amended(room))
            .arg(quoted.iter().map(ToString::to_string).collect::<Vec<_>>())
            .query_async(&mut self.conn.clone())
            .await?;
        let amended: std::collections::HashMap<MessageId, codec::Amendments> = quoted
            .into_iter()
            .zip(found)
            .filter_map(|(id, json)| Some((id, codec::Amendments::read(&json?))))
            .collect();
        for message in &mut messages {
            let quoted = message.reply.as_ref().map(|q| q.id);
            if let Some(amendments) = quoted.and_then(|id| amended.get(&id)) {
                amendments.apply_to_quote(message);
            }
        }
        Ok(messages)
    }
}

#[async_trait]
impl<C: RedisConnection> MessageLog for RedisBroker<C> {
    async fn append(&self, room: &RoomName, draft: &Draft) -> Result<Appended, BackendError> {
        match self.store(room, draft, None).await? {
            Stored::New(id) => Ok(Appended {
                id,
                duplicate: false,
            }),
            Stored::Duplicate(id) => Ok(Appended {
                id,
                duplicate: true,
            }),
            // Only a draft with a target is checked as a record.
            Stored::Refused(_) => Err(BackendError::Corrupt(format!(
                "{room}: an append was taken for a record"
            ))),
        }
    }

    async fn amend(
        &self,
        room: &RoomName,
        record: &Draft,
        only_by: Option<UserId>,
    ) -> Result<Amended, BackendError> {
        if record.target.is_none() || !record.kind.is_record() {
            return Ok(Amended::NotFound);
        }
        Ok(match self.store(room, record, only_by).await? {
            Stored::New(id) | Stored::Duplicate(id) => Amended::Stored(id),
            Stored::Refused(refused) => refused,
        })
    }

    async fn message(
        &self,
        room: &RoomName,
        id: MessageId,
    ) -> Result<Option<ChatMessage>, BackendError> {
        let (reply, amended, _) = self
            .read(room, "XRANGE", (id.to_string(), &id.to_string()), 1, false)
            .await?;
        Ok(self.messages(room, &reply, &amended, false).await?.pop())
    }

    async fn recent(&self, room: &RoomName, limit: usize) -> Messages {
        let (reply, amended, _) = self
            .read(room, "XREVRANGE", ("+".to_owned(), "-"), limit, false)
            .await?;
        self.messages(room, &reply, &amended, true).await
    }

    async fn older(&self, room: &RoomName, before: MessageId, limit: usize) -> Messages {
        let (reply, amended, _) = self
            .read(room, "XREVRANGE", (format!("({before}"), "-"), limit, false)
            .await?;
        self.messages(room, &reply, &amended, true).await
    }

    /// `XRANGE (after +`, with the stream's newest id in the same step. Whether messages are
    /// missing is exact:
    /// - the first entry's `p` (its predecessor's id, written by the append script) newer than
    ///   `after` means the messages between were trimmed (Redis' own `max-deleted-entry-id` is
    ///   not moved by trimming);
    /// - a first entry without `p` is the first of a stream that was created after `after`, and
    ///   an empty or missing stream cannot hold `after` at all: Redis lost the room (a restart
    ///   without persistence, a flush), so what came after `after` is unknown.
    async fn replay(
        &self,
        room: &RoomName,
        after: MessageId,
        limit: usize,
    ) -> Result<Replay, BackendError> {
        let (reply, amended, newest) = self
            .read(room, "XRANGE", (format!("({after}"), "+"), limit, true)
            .await?;
        let gap = match reply.ids.first() {
            Some(first) => match first.get::<String>("p") {
                Some(previous) => previous
                    .parse::<MessageId>()
                    .is_ok_and(|previous| previous > after),
                None => true,
            },
            None => newest
                .and_then(|newest| newest.parse::<MessageId>().ok())
                .is_none_or(|newest| newest < after),
        };
        Ok(Replay {
            messages: self.messages(room, &reply, &amended, false).await?,
            gap,
        })
    }
}

#[async_trait]
impl<C: RedisConnection> Subscriptions for RedisBroker<C> {
    async fn subscribe(&self, room: &RoomName) -> Result<(), BackendError> {
        self.subscriber.subscribe(room.clone()).await
    }

    fn unsubscribe(&self, room: &RoomName) {
        self.subscriber.unsubscribe(room.clone());
    }
}

#[async_trait]
impl<C: RedisConnection> Signals for RedisBroker<C> {
    async fn post(
        &self,
        inbox: &str,
        stream: &str,
        user: UserId,
        frame: &str,
    ) -> Result<(), BackendError> {
        self.publish(self.keys.probe(inbox), codec::posted(stream, user, frame))
            .await
    }

    /// The mark first, then the announcement: an instance that hears the announcement, or
    /// checks after it, finds the mark. (Two commands, not one transaction: on a cluster the
    /// mark and the control channel live in different slots.)
    async fn revoke(&self, revocation: Revocation, ttl: Duration) -> Result<(), BackendError> {
        let mut conn = self.conn.clone();
        let ttl = ttl.as_secs().max(1);
        let () = match revocation {
            Revocation::SignIn(id) => conn.set_ex(self.keys.revoked(id), 1, ttl).await?,
            Revocation::Account {
                user,
                before_ms,
                keep,
            } => {
                let mark = codec::ended_mark(before_ms, keep);
                conn.set_ex(self.keys.revoked_before(user), mark, ttl)
                    .await?
            }
        };
        self.publish(self.keys.control(), codec::revocation(revocation))
            .await
    }

    /// Two reads (a sign-in's mark and its account's sit in different slots on a cluster); a
    /// guest has no account mark to read.
    async fn is_revoked(&self, sign_in: &SignIn) -> Result<bool, BackendError> {
        let mut conn = self.conn.clone();
        if conn.exists(self.keys.revoked(sign_in.id)).await? {
            return Ok(true);
        }
        if sign_in.user.is_guest() {
            return Ok(false);
        }
        let mark: Option<String> = conn.get(self.keys.revoked_before(sign_in.user.id)).await?;
        let ended = mark.as_deref().and_then(codec::read_ended_mark);
        Ok(ended.is_some_and(|(before_ms, keep)| {
            Revocation::Account {
                user: sign_in.user.id,
                before_ms,
                keep,
            }
            .ends(sign_in)
        }))
    }

    async fn typing(&self, room: &RoomName, user: &User) -> Result<(), BackendError> {
        self.publish(self.keys.channel(room), codec::typing(user))
            .await
    }

    async fn removed(
        &self,
        room: &RoomName,
        user: UserId,
        reason: Removal,
    ) -> Result<(), BackendError> {
        self.publish(self.keys.channel(room), codec::removed(user, reason))
            .await
    }
}
