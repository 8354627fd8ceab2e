//! Every format Switchboard keeps in Redis or sends through it, in one place, beside the Lua
//! scripts that write most of them (`append.lua`, `hold.lua`, `sweep.lua`; `read.lua` reads):
//!
//! | where | format | written by |
//! |---|---|---|
//! | a room's stream entry | `m`: the [`Draft`] as JSON; `p`: the id of the entry before it | `append.lua` |
//! | a room's amendments | a hash: entry id → what its records left of it ([`Amendments`]), read with the entries | `append.lua`, `read.lua` |
//! | a room's deleted ids (before amendments) | a set of entry ids, read as `{"deleted":true}` amendments; no longer written | earlier versions |
//! | a room's channel: a message | `<id> <draft JSON>` | `append.lua` |
//! | a room's channel: presence | `presence {"arrived":[user…],"departed":[user…]}` | `hold.lua`, `sweep.lua` |
//! | a room's channel: typing | `typing <user JSON>` | [`typing`] |
//! | a room's channel: a removal | `removed <user id> <removed\|banned\|left>` | [`removed`] |
//! | a room's read marks | a hash: user id → message id | `mark_read.lua`, read by [`read_mark`] |
//! | a room's channel: a read mark moved | `read <user id> <message id>` | `mark_read.lua` |
//! | the control channel | `logout <user id>` | [`logout`] |
//!
//! Decoding never panics: what cannot be read is an error the caller logs and skips, so one bad
//! entry never hides the rest of a room.

use crate::backend::{BackendError, Delivery, Revocation};
use app::protocol::{ChatMessage, Draft, MessageId, Reaction, Removal, RoomName, User, UserId};
use app::session::SignInId;
use serde::Deserialize;

/// What the records about one message left of it, as `append.lua` keeps it in the room's
/// amendments hash: deleted, or its text now and its reactions.
#[derive(Debug, Default, Deserialize)]
pub struct Amendments {
    #[serde(default)]
    deleted: bool,
    text: Option<String>,
    edited: Option<MessageId>,
    #[serde(default)]
    reactions: Vec<Reaction>,
}

impl Amendments {
    /// Reads the JSON `append.lua` wrote; what cannot be read is logged and taken as none.
    pub fn read(json: &str) -> Self {
        serde_json::from_str(json)
            .inspect_err(|e| tracing::warn!(error = %e, "skipping unreadable amendments"))
            .unwrap_or_default()
    }

    /// The message as these left it.
    fn apply(self, message: &mut ChatMessage) {
        if self.deleted {
            return message.blank();
        }
        if let Some(text) = self.text {
            message.text = text;
            message.edited = self.edited;
        }
        message.reactions = self.reactions;
    }

    /// A reply's quote of the message these are about, as they left it.
    pub fn apply_to_quote(&self, message: &mut ChatMessage) {
        if let Some(quote) = &mut message.reply {
            quote.follow(self.deleted, self.text.as_deref());
        }
    }
}

/// Stream entries, in the order given, each with its amendments' JSON (if any) applied;
/// unreadable ones are logged and skipped. Replies quoting a message of these follow it too.
pub fn entries<'a>(
    room: &RoomName,
    entries: impl IntoIterator<Item = (&'a redis::streams::StreamId, &'a Option<String>)>,
) -> Vec<ChatMessage> {
    let mut messages: Vec<ChatMessage> = entries
        .into_iter()
        .filter_map(|(entry, amended)| {
            let mut message = entry_message(room, entry)
                .inspect_err(|e| tracing::warn!(error = %e, "skipping unreadable history entry"))
                .ok()?;
            if let Some(json) = amended {
                Amendments::read(json).apply(&mut message);
            }
            Some(message)
        })
        .collect();
    let originals: std::collections::HashMap<MessageId, (bool, Option<String>)> = messages
        .iter()
        .filter(|m| m.deleted || m.edited.is_some())
        .map(|m| (m.id, (m.deleted, m.edited.map(|_| m.text.clone()))))
        .collect();
    for quote in messages.iter_mut().filter_map(|m| m.reply.as_mut()) {
        if let Some((deleted, text)) = originals.get(&quote.id) {
            quote.follow(*deleted, text.as_deref());
        }
    }
    messages
}

/// The messages these replies quote that are not among them: their amendments are read apart.
pub fn quoted_elsewhere(messages: &[ChatMessage]) -> Vec<MessageId> {
    let here: std::collections::HashSet<MessageId> = messages.iter().map(|m| m.id).collect();
    let mut quoted: Vec<MessageId> = messages
        .iter()
        .filter_map(|m| m.reply.as_ref().map(|q| q.id))
        .filter(|id| !here.contains(id))
        .collect();
    quoted.sort_unstable();
    quoted.dedup();
    quoted
}

fn entry_message(
    room: &RoomName,
    entry: &redis::streams::StreamId,
) -> Result<ChatMessage, BackendError> {
    let corrupt = |why: String| BackendError::Corrupt(format!("{room} {}: {why}", entry.id));
    let id: MessageId = entry
        .id
        .parse()
        .map_err(|e: app::protocol::MessageIdError| corrupt(e.to_string()))?;
    let body: Vec<u8> = entry
        .get("m")
        .ok_or_else(|| corrupt("no m field".to_owned()))?;
    let draft: Draft = serde_json::from_slice(&body).map_err(|e| corrupt(e.to_string()))?;
    Ok(draft.into_message(room.clone(), id))
}

/// What a room's channel carried: a message, a presence change or a typing signal.
pub fn room_event(room: RoomName, payload: &[u8]) -> Result<Delivery, BackendError> {
    let corrupt =
        |what: &str, why: String| BackendError::Corrupt(format!("{what} in {room}: {why}"));
    if let Some(user) = payload.strip_prefix(b"typing ") {
        let user: User =
            serde_json::from_slice(user).map_err(|e| corrupt("typing", e.to_string()))?;
        return Ok(Delivery::Typing { room, user });
    }
    if let Some(removal) = payload.strip_prefix(b"removed ") {
        let (user, reason) = read_removal(removal)
            .ok_or_else(|| corrupt("removal", String::from_utf8_lossy(removal).into_owned()))?;
        return Ok(Delivery::Removed { room, user, reason });
    }
    if let Some(read) = payload.strip_prefix(b"read ") {
        let (user, id) = read_move(read)
            .ok_or_else(|| corrupt("read mark", String::from_utf8_lossy(read).into_owned()))?;
        return Ok(Delivery::Read { room, user, id });
    }
    if let Some(change) = payload.strip_prefix(b"presence ") {
        #[derive(serde::Deserialize)]
        struct Change {
            arrived: Vec<User>,
            departed: Vec<User>,
        }
        let change: Change =
            serde_json::from_slice(change).map_err(|e| corrupt("presence", e.to_string()))?;
        return Ok(Delivery::Presence {
            room,
            arrived: change.arrived,
            departed: change.departed,
        });
    }
    let text = std::str::from_utf8(payload).map_err(|_| corrupt("message", "not UTF-8".into()))?;
    let (id, draft) = text
        .split_once(' ')
        .ok_or_else(|| corrupt("message", "no id".into()))?;
    let id: MessageId = id
        .parse()
        .map_err(|_| corrupt("message", "bad id".into()))?;
    let draft: Draft =
        serde_json::from_str(draft).map_err(|e| corrupt("message", e.to_string()))?;
    Ok(Delivery::Message(Box::new(draft.into_message(room, id))))
}

/// A typing signal, as published on the room's channel.
pub fn typing(user: &User) -> String {
    let json = serde_json::to_string(user).expect("a user always serializes");
    format!("typing {json}")
}

/// A removal, as published on the room's channel.
pub fn removed(user: UserId, reason: Removal) -> String {
    let reason = match reason {
        Removal::Removed => "removed",
        Removal::Banned => "banned",
        Removal::Left => "left",
    };
    format!("removed {user} {reason}")
}

fn read_removal(payload: &[u8]) -> Option<(UserId, Removal)> {
    let (user, reason) = std::str::from_utf8(payload).ok()?.split_once(' ')?;
    let reason = match reason {
        "removed" => Removal::Removed,
        "banned" => Removal::Banned,
        "left" => Removal::Left,
        _ => return None,
    };
    Some((UserId(user.parse().ok()?), reason))
}

fn read_move(payload: &[u8]) -> Option<(UserId, MessageId)> {
    let (user, id) = std::str::from_utf8(payload).ok()?.split_once(' ')?;
    Some((UserId(user.parse().ok()?), read_mark(id)?))
}

/// A read mark as stored (a message id); what is not one is logged and taken as no mark.
pub fn read_mark(stored: &str) -> Option<MessageId> {
    stored
        .parse()
        .inspect_err(|e| tracing::warn!(error = %e, "skipping an unreadable read mark"))
        .ok()
}

/// A frame posted for an event stream, as published on its instance's inbox:
/// `post <stream> <user id> <frame>` (the frame last: it may hold spaces).
pub fn posted(stream: &str, user: UserId, frame: &str) -> String {
    format!("post {stream} {user} {frame}")
}

/// The posted frame an inbox message carries, if it is one (else it is the instance's probe).
pub fn post_of(payload: &[u8]) -> Option<Delivery> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut parts = text.strip_prefix("post ")?.splitn(3, ' ');
    let stream = parts.next()?.to_owned();
    let user = UserId(parts.next()?.parse().ok()?);
    let frame = parts.next()?.to_owned();
    Some(Delivery::Posted {
        stream,
        user,
        frame,
    })
}

/// A revocation, as published on the control channel: `logout <sign-in id>` (the form from
/// before accounts, when a guest's sign-in was their user id, so older instances still close a
/// guest's sockets) or `ended <user id> <before ms>[ <sign-in id kept>]`.
pub fn revocation(revocation: Revocation) -> String {
    match revocation {
        Revocation::SignIn(id) => format!("logout {id}"),
        Revocation::Account {
            user,
            before_ms,
            keep,
        } => format!("ended {user} {}", ended_mark(before_ms, keep)),
    }
}

/// The revocation a control message announces, if it is one.
pub fn revoked(payload: &[u8]) -> Option<Revocation> {
    let text = std::str::from_utf8(payload).ok()?;
    if let Some(id) = text.strip_prefix("logout ") {
        return id.parse().ok().map(|id| Revocation::SignIn(SignInId(id)));
    }
    let (user, mark) = text.strip_prefix("ended ")?.split_once(' ')?;
    let (before_ms, keep) = read_ended_mark(mark)?;
    Some(Revocation::Account {
        user: UserId(user.parse().ok()?),
        before_ms,
        keep,
    })
}

/// What `revoked-before:<user>` holds: `<before ms>[ <sign-in id kept>]`.
pub fn ended_mark(before_ms: u64, keep: Option<SignInId>) -> String {
    match keep {
        Some(keep) => format!("{before_ms} {keep}"),
        None => before_ms.to_string(),
    }
}

/// The parts of an [`ended_mark`].
pub fn read_ended_mark(mark: &str) -> Option<(u64, Option<SignInId>)> {
    match mark.split_once(' ') {
        Some((before, keep)) => Some((before.parse().ok()?, Some(SignInId(keep.parse().ok()?)))),
        None => Some((mark.parse().ok()?, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::protocol::UserName;

    fn alice() -> User {
        User {
            id: UserId(uuid::Uuid::from_u128(7)),
            name: UserName::parse("alice").unwrap(),
            handle: None,
        }
    }

    #[test]
    fn what_is_written_reads_back() {
        let lobby = RoomName::lobby();
        match room_event(lobby.clone(), typing(&alice()).as_bytes()).unwrap() {
            Delivery::Typing { user, .. } => assert_eq!(user, alice()),
            other => panic!("{other:?}"),
        }
        for ended in [
            Revocation::SignIn(SignInId(uuid::Uuid::from_u128(9))),
            Revocation::Account {
                user: alice().id,
                before_ms: 1_764_000_000_123,
                keep: None,
            },
            Revocation::Account {
                user: alice().id,
                before_ms: 1_764_000_000_123,
                keep: Some(SignInId(uuid::Uuid::from_u128(3))),
            },
        ] {
            assert_eq!(revoked(revocation(ended).as_bytes()), Some(ended));
        }
        // What instances from before accounts publish for a guest's logout.
        assert_eq!(
            revoked(b"logout 00000000-0000-0000-0000-000000000007"),
            Some(Revocation::SignIn(SignInId(uuid::Uuid::from_u128(7))))
        );
        for reason in [Removal::Removed, Removal::Banned, Removal::Left] {
            match room_event(lobby.clone(), removed(alice().id, reason).as_bytes()).unwrap() {
                Delivery::Removed {
                    user, reason: read, ..
                } => {
                    assert_eq!((user, read), (alice().id, reason))
                }
                other => panic!("{other:?}"),
            }
        }
        // What mark_read.lua publishes.
        match room_event(
            lobby.clone(),
            b"read 00000000-0000-0000-0000-000000000007 1764000000123-4",
        )
        .unwrap()
        {
            Delivery::Read { user, id, .. } => {
                assert_eq!(
                    (user, id.to_string()),
                    (alice().id, "1764000000123-4".into())
                )
            }
            other => panic!("{other:?}"),
        }
        let presence = br#"presence {"arrived":[{"id":"00000000-0000-0000-0000-000000000007","name":"alice"}],"departed":[]}"#;
        assert!(matches!(
            room_event(lobby.clone(), presence).unwrap(),
            Delivery::Presence { arrived, .. } if arrived == vec![alice()]
        ));
        let message = br#"1-0 {"user":{"id":"00000000-0000-0000-0000-000000000007","name":"alice"},"text":"hi","kind":"text"}"#;
        match room_event(lobby.clone(), message) {
            Ok(Delivery::Message(m)) => assert_eq!((m.text.as_str(), m.id.ms), ("hi", 1)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_an_error_never_a_panic() {
        for payload in [
            &b""[..],
            b"typing {",
            b"presence [",
            b"removed nobody left",
            b"removed 00000000-0000-0000-0000-000000000007 gone",
            b"read nobody 1-0",
            b"read 00000000-0000-0000-0000-000000000007 soon",
            b"1-0",
            b"x-y {}",
            b"\xff\xfe",
        ] {
            assert!(
                room_event(RoomName::lobby(), payload).is_err(),
                "{payload:?}"
            );
        }
        for garbage in [
            &b"logout nobody"[..],
            b"ended nobody 1",
            b"ended 00000000-0000-0000-0000-000000000007",
            b"ended 00000000-0000-0000-0000-000000000007 soon",
        ] {
            assert_eq!(revoked(garbage), None, "{garbage:?}");
        }
    }
}
