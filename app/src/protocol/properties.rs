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

fn emoji() -> impl Strategy<Value = Emoji> {
    prop_oneof![Just("👍"), Just("❤️"), Just("🎉"), Just("1️⃣"), Just("👨‍👩‍👧")]
        .prop_map(|e| Emoji::parse(e).unwrap())
}

fn quote() -> impl Strategy<Value = Quote> {
    (message_id(), user(), any::<String>(), any::<bool>()).prop_map(|(id, user, text, deleted)| {
        Quote {
            id,
            user,
            text,
            deleted,
        }
    })
}

fn reaction() -> impl Strategy<Value = Reaction> {
    (emoji(), proptest::collection::vec(user(), 1..4))
        .prop_map(|(emoji, users)| Reaction { emoji, users })
}

fn client_msg() -> impl Strategy<Value = ClientMsg> {
    prop_oneof![
        (
            room(),
            any::<String>(),
            client_id(),
            proptest::option::of(message_id())
        )
            .prop_map(|(room, text, client_id, reply_to)| ClientMsg::Send {
                room,
                text,
                client_id,
                reply_to,
            }),
        (room(), message_id(), any::<String>()).prop_map(|(room, id, text)| ClientMsg::Edit {
            room,
            id,
            text
        }),
        (room(), message_id(), any::<String>(), any::<bool>()).prop_map(|(room, id, emoji, on)| {
            ClientMsg::React {
                room,
                id,
                emoji,
                on,
            }
        }),
        (room(), proptest::option::of(message_id()))
            .prop_map(|(room, after)| ClientMsg::Join { room, after }),
        room().prop_map(|room| ClientMsg::Leave { room }),
        room().prop_map(|room| ClientMsg::Typing { room }),
        (room(), message_id()).prop_map(|(room, before)| ClientMsg::History { room, before }),
        (room(), message_id()).prop_map(|(room, id)| ClientMsg::Read { room, id }),
        Just(ClientMsg::Ping),
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
            Just(MessageKind::Deleted),
            Just(MessageKind::Edited),
            Just(MessageKind::Reacted)
        ],
        proptest::option::of(client_id()),
        proptest::option::of(message_id()),
        any::<bool>(),
        (
            proptest::option::of(message_id()),
            proptest::collection::vec(reaction(), 0..3),
            proptest::option::of(quote()),
            proptest::option::of((emoji(), any::<bool>())),
        ),
    )
        .prop_map(
            |(
                id,
                room,
                user,
                text,
                kind,
                client_id,
                target,
                deleted,
                (edited, reactions, reply, change),
            )| {
                ChatMessage {
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
                    edited,
                    reactions,
                    reply: reply.map(Box::new),
                    reaction: change.map(|(emoji, on)| ReactionChange { emoji, on }),
                }
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
            proptest::option::of(any::<u64>()),
            proptest::option::of(message_id()),
            prop_oneof![
                Just(ErrorCode::RateLimited),
                Just(ErrorCode::NoSuchMessage),
                Just(ErrorCode::NotYours),
                Just(ErrorCode::InvalidReaction)
            ]
        )
            .prop_map(|(message, client_id, room, retry_after_ms, target, code)| {
                ServerMsg::Error {
                    code,
                    message,
                    client_id,
                    room,
                    retry_after_ms,
                    target,
                }
            }),
        (
            room(),
            prop_oneof![
                Just(Removal::Removed),
                Just(Removal::Banned),
                Just(Removal::Left)
            ]
        )
            .prop_map(|(room, reason)| ServerMsg::Removed { room, reason }),
        (room(), message_id()).prop_map(|(room, id)| ServerMsg::Read { room, id }),
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
        let _ = target_of(&text);
        let _ = Emoji::parse(&text);
        let _ = snippet(&text);
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

    #[test]
    fn accepted_reactions_are_short_symbols(text in "\\PC{0,14}") {
        if let Ok(emoji) = Emoji::parse(&text) {
            let emoji = emoji.as_str();
            prop_assert!(!emoji.is_ascii() && emoji.chars().count() <= MAX_EMOJI_CHARS);
            prop_assert!(!emoji.chars().any(|c| c.is_ascii_alphabetic() || c.is_whitespace()));
        }
    }

    #[test]
    fn a_snippet_is_the_start_of_the_text(text in any::<String>()) {
        let quoted = snippet(&text);
        prop_assert!(quoted.chars().count() <= QUOTE_CHARS + 1);
        prop_assert!(text.starts_with(quoted.trim_end_matches('…').trim_end()));
    }

    /// Records applied in order give the same message however often each arrives: a retried
    /// frame, a resume that replays what a live socket brought, two tabs at once.
    #[test]
    fn records_are_idempotent(ops in proptest::collection::vec((0u128..3, 0usize..3, any::<bool>(), any::<bool>()), 0..24)) {
        let author = User { id: UserId(uuid::Uuid::from_u128(0)), name: UserName::parse("ada").unwrap(), handle: None };
        let target = Draft::new(author.clone(), MessageKind::Text, "hi").into_message(RoomName::lobby(), MessageId { ms: 1, seq: 0 });
        let (mut once, mut twice) = (target.clone(), target.clone());
        let emojis = ["👍", "🎉", "😮"];
        for (n, (who, e, on, edit)) in ops.into_iter().enumerate() {
            let user = User { id: UserId(uuid::Uuid::from_u128(who)), name: UserName::parse("u").unwrap(), handle: None };
            let draft = match edit {
                true => Draft::edit(author.clone(), target.id, format!("v{n}")),
                false => Draft::reaction(user, target.id, Emoji::parse(emojis[e]).unwrap(), on),
            };
            let record = draft.into_message(RoomName::lobby(), MessageId { ms: 2, seq: n as u64 });
            once.apply(&record);
            twice.apply(&record);
            twice.apply(&record);
        }
        prop_assert_eq!(&once, &twice);
        prop_assert!(once.reactions.iter().all(|r| !r.users.is_empty()));
        for r in &once.reactions {
            let mut ids: Vec<_> = r.users.iter().map(|u| u.id).collect();
            ids.dedup();
            prop_assert_eq!(ids.len(), r.users.len(), "one reaction per person");
        }
    }
}
