//! Every format Switchboard keeps in Redis or sends through it, in one place, beside the Lua
//! scripts that write most of them (`append.lua`, `hold.lua`, `sweep.lua`):
//!
//! | where | format | written by |
//! |---|---|---|
//! | a room's stream entry | `m`: the [`Draft`] as JSON; `p`: the id of the entry before it | `append.lua` |
//! | a room's channel: a message | `<id> <draft JSON>` | `append.lua` |
//! | a room's channel: presence | `presence {"arrived":[user…],"departed":[user…]}` | `hold.lua`, `sweep.lua` |
//! | a room's channel: typing | `typing <user JSON>` | [`typing`] |
//! | the control channel | `logout <user id>` | [`logout`] |
//!
//! Decoding never panics: what cannot be read is an error the caller logs and skips, so one bad
//! entry never hides the rest of a room.

use crate::backend::{BackendError, Delivery};
use app::protocol::{ChatMessage, Draft, MessageId, RoomName, User, UserId};

/// Stream entries, in the order given; unreadable ones are logged and skipped.
pub fn entries<'a>(
    room: &RoomName,
    entries: impl IntoIterator<Item = &'a redis::streams::StreamId>,
) -> Vec<ChatMessage> {
    entries
        .into_iter()
        .filter_map(|entry| {
            entry_message(room, entry)
                .inspect_err(|e| tracing::warn!(error = %e, "skipping unreadable history entry"))
                .ok()
        })
        .collect()
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
    Ok(Delivery::Message(draft.into_message(room, id)))
}

/// A typing signal, as published on the room's channel.
pub fn typing(user: &User) -> String {
    let json = serde_json::to_string(user).expect("a user always serializes");
    format!("typing {json}")
}

/// A logout, as published on the control channel.
pub fn logout(user: UserId) -> String {
    format!("logout {user}")
}

/// The user a control message logs out, if it is one.
pub fn logged_out(payload: &[u8]) -> Option<UserId> {
    let text = std::str::from_utf8(payload).ok()?;
    let user = text.strip_prefix("logout ")?;
    user.parse().ok().map(UserId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::protocol::UserName;

    fn alice() -> User {
        User {
            id: UserId(uuid::Uuid::from_u128(7)),
            name: UserName::parse("alice").unwrap(),
        }
    }

    #[test]
    fn what_is_written_reads_back() {
        let lobby = RoomName::lobby();
        match room_event(lobby.clone(), typing(&alice()).as_bytes()).unwrap() {
            Delivery::Typing { user, .. } => assert_eq!(user, alice()),
            other => panic!("{other:?}"),
        }
        assert_eq!(logged_out(logout(alice().id).as_bytes()), Some(alice().id));
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
            b"1-0",
            b"x-y {}",
            b"\xff\xfe",
        ] {
            assert!(
                room_event(RoomName::lobby(), payload).is_err(),
                "{payload:?}"
            );
        }
        assert_eq!(logged_out(b"logout nobody"), None);
    }
}
