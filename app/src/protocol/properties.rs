//! Properties of the wire protocol, over generated values: every frame survives a JSON round
//! trip, message ids order and print as Redis' do, and reading arbitrary text never panics.

use super::*;
use proptest::prelude::*;

fn room() -> impl Strategy<Value = RoomName> {
    "[a-z0-9_-]{1,32}".prop_map(|s| RoomName::parse(&s).unwrap())
}

fn message_id() -> impl Strategy<Value = MessageId> {
    (any::<u64>(), any::<u64>()).prop_map(|(ms, seq)| MessageId { ms, seq })
}

fn client_id() -> impl Strategy<Value = ClientId> {
    any::<u128>().prop_map(|n| ClientId(uuid::Uuid::from_u128(n)))
}

fn user() -> impl Strategy<Value = User> {
    (
        any::<u128>(),
        "[^\\p{C}\u{202A}-\u{202E}\u{2066}-\u{2069}\u{200E}\u{200F}\u{061C}\u{FFFD}]{1,32}",
    )
        .prop_filter_map("a valid name", |(id, name)| {
            Some(User {
                id: UserId(uuid::Uuid::from_u128(id)),
                name: UserName::parse(&name).ok()?,
                handle: None,
            })
        })
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        (room(), any::<String>(), client_id()).prop_map(|(room, text, client_id)| {
            ClientMsg::Send {
                room,
                text,
                client_id,
            }
        }),
        (room(), proptest::option::of(message_id()))
            .prop_map(|(room, after)| ClientMsg::Join { room, after }),
        room().prop_map(|room| ClientMsg::Leave { room }),
        room().prop_map(|room| ClientMsg::Typing { room }),
        (room(), message_id()).prop_map(|(room, before)| ClientMsg::History { room, before }),
    ]
}

fn chat_message() -> impl Strategy<Value = ChatMessage> {
    (
        message_id(),
        room(),
        user(),
        any::<String>(),
        prop_oneof![
            Just(MessageKind::Text),
            Just(MessageKind::Me),
            Just(MessageKind::Join),
            Just(MessageKind::Leave),
            Just(MessageKind::Deleted)
        ],
        proptest::option::of(client_id()),
        proptest::option::of(message_id()),
        any::<bool>(),
    )
        .prop_map(
            |(id, room, user, text, kind, client_id, target, deleted)| ChatMessage {
                id,
                room,
                user,
                text,
                kind,
                at: id.ms,
                client_id,
                others: None,
                target,
                deleted,
            },
        )
}

fn server_msg() -> impl Strategy<Value = ServerMsg> {
    prop_oneof![
        chat_message().prop_map(ServerMsg::Message),
        (client_id(), message_id()).prop_map(|(client_id, id)| ServerMsg::Ack { client_id, id }),
        (room(), message_id(), proptest::option::of(message_id()))
            .prop_map(|(room, after, first)| ServerMsg::Gap { room, after, first }),
        (
            room(),
            any::<u32>(),
            proptest::collection::vec(user(), 0..4)
        )
            .prop_map(|(room, count, users)| ServerMsg::Presence { room, count, users }),
        (
            any::<String>(),
            proptest::option::of(client_id()),
            proptest::option::of(room()),
            proptest::option::of(any::<u64>())
        )
            .prop_map(
                |(message, client_id, room, retry_after_ms)| ServerMsg::Error {
                    code: ErrorCode::RateLimited,
                    message,
                    client_id,
                    room,
                    retry_after_ms,
                }
            ),
        (
            room(),
            prop_oneof![
                Just(Removal::Removed),
                Just(Removal::Banned),
                Just(Removal::Left)
            ]
        )
            .prop_map(|(room, reason)| ServerMsg::Removed { room, reason }),
        Just(ServerMsg::Heartbeat),
    ]
}

proptest! {
    #[test]
    fn client_frames_survive_a_json_round_trip(msg in client_msg()) {
        let json = serde_json::to_string(&msg).unwrap();
        prop_assert_eq!(serde_json::from_str::<ClientMsg>(&json).unwrap(), msg);
    }

    #[test]
    fn server_frames_survive_a_json_round_trip(msg in server_msg()) {
        let json = msg.to_json();
        prop_assert_eq!(serde_json::from_str::<ServerMsg>(&json).unwrap(), msg);
    }

    #[test]
    fn message_ids_print_and_order_as_redis_does(a in message_id(), b in message_id()) {
        prop_assert_eq!(a.to_string().parse::<MessageId>().unwrap(), a);
        // Ordered by time, then by sequence within the millisecond: never as strings.
        prop_assert_eq!(a.cmp(&b), (a.ms, a.seq).cmp(&(b.ms, b.seq)));
    }

    #[test]
    fn only_canonical_ids_parse(text in "\\PC{0,24}") {
        if let Ok(id) = text.parse::<MessageId>() {
            let (ms, seq) = text.split_once('-').unwrap();
            prop_assert!(ms.bytes().chain(seq.bytes()).all(|b| b.is_ascii_digit()));
            prop_assert_eq!(id.ms, ms.parse::<u64>().unwrap());
        }
    }

    #[test]
    fn reading_any_text_as_a_frame_never_panics(text in any::<String>()) {
        let _ = serde_json::from_str::<ClientMsg>(&text);
        let _ = client_id_of(&text);
        let _ = Said::parse(&text);
        let _ = UserName::parse(&text);
        let _ = RoomName::parse(&text);
    }

    #[test]
    fn socket_queries_parse_or_say_why(text in any::<String>(), room in room(), after in proptest::option::of(message_id())) {
        let _ = parse_socket_query(&text);
        let mut query = format!("room={room}");
        if let Some(after) = after {
            query.push_str(&format!("&after={after}"));
        }
        prop_assert_eq!(parse_socket_query(&query), Ok((room, after)));
    }

    #[test]
    fn accepted_names_are_what_they_claim(text in any::<String>()) {
        if let Ok(name) = UserName::parse(&text) {
            let name = name.as_str();
            prop_assert!(!name.is_empty() && name.chars().count() <= MAX_NAME_CHARS);
            prop_assert!(!name.chars().any(|c| c.is_control() || c == char::REPLACEMENT_CHARACTER));
            prop_assert_eq!(name, name.trim());
        }
        if let Ok(room) = RoomName::parse(&text) {
            prop_assert!(room.as_str().bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_'));
        }
    }
}
