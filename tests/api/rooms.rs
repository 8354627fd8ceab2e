//! One socket, several rooms: `join` and `leave` frames, each room with its own history, resume
//! and order; and the pages of rooms by URL.

use crate::{helpers::Browser, logged_in, World};
use app::protocol::{ErrorCode, MessageKind, ServerMsg, MAX_ROOMS_PER_SOCKET};
use serde_json::json;

backends!(
    one_socket_carries_several_rooms,
    a_join_resumes_a_room_exactly,
    rooms_per_socket_are_capped,
    rooms_have_pages_and_bad_names_a_404,
    a_users_open_rooms_are_kept_for_them,
    a_private_address_is_not_found_by_an_outsider_at_any_door,
);

/// The text of the next text message on `socket`, with its room.
async fn next_text(socket: &mut crate::helpers::Socket) -> (String, String) {
    socket
        .wait_for("a text message", |f| match f {
            ServerMsg::Message(m) if m.kind == MessageKind::Text => {
                Some((m.room.to_string(), m.text.clone()))
            }
            _ => None,
        })
        .await
}

async fn one_socket_carries_several_rooms(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let bob = logged_in(world.b(), "bob").await;
    let mut a = alice.connect(&world.a, "room=lobby").await.unwrap();
    let mut b = bob.connect(world.b(), "room=rust").await.unwrap();
    b.say_acked("rust", "before alice came").await;

    a.send_json(json!({"type": "join", "room": "rust"})).await;
    a.wait_for("joined", |f| {
        matches!(f, ServerMsg::Joined { room } if room.as_str() == "rust").then_some(())
    })
    .await;
    assert_eq!(
        next_text(&mut a).await,
        ("rust".into(), "before alice came".into()),
        "the joined room's history follows `joined`"
    );

    // Live messages of both rooms reach the one socket, each tagged with its room.
    b.say_acked("rust", "in rust").await;
    assert_eq!(next_text(&mut a).await, ("rust".into(), "in rust".into()));
    a.say_acked("rust", "alice in rust").await;
    b.wait_for("alice's message", |f| {
        matches!(f, ServerMsg::Message(m) if m.text == "alice in rust").then_some(())
    })
    .await;

    // Not in a room: a send there is refused, naming the message.
    let stray = a.say_in("elsewhere", "lost?").await;
    let refusal = a
        .wait_for("refusal", |f| match f {
            ServerMsg::Error {
                code, client_id, ..
            } if *client_id == Some(stray) => Some(*code),
            _ => None,
        })
        .await;
    assert_eq!(refusal, ErrorCode::WrongRoom);

    // After `leave`, nothing more comes from the room. Bob's rust message is published before
    // his lobby one, through the same subscriber, so it would arrive first if it came at all.
    a.send_json(json!({"type": "leave", "room": "rust"})).await;
    a.wait_for("left", |f| {
        matches!(f, ServerMsg::Left { room } if room.as_str() == "rust").then_some(())
    })
    .await;
    let mut b_lobby = bob.connect(world.b(), "room=lobby").await.unwrap();
    b.say_acked("rust", "after alice left").await;
    b_lobby.say_acked("lobby", "in the lobby").await;
    assert_eq!(
        next_text(&mut a).await,
        ("lobby".into(), "in the lobby".into())
    );
}

/// The rooms `browser`'s user has open, as the page learns them (`whoami`) from `instance`.
async fn open_rooms(browser: &mut Browser, instance: &crate::helpers::Instance) -> Vec<String> {
    let whoami = browser
        .request(
            reqwest::Method::POST,
            &format!("{}/api/whoami", instance.base),
            Some(&[]),
        )
        .await;
    assert_eq!(whoami.status, 200, "{}", whoami.body);
    serde_json::from_value(whoami.json()["rooms"].clone()).expect("a list of rooms")
}

async fn a_users_open_rooms_are_kept_for_them(world: &World) {
    let mut alice = logged_in(&world.a, "alice").await;
    assert_eq!(open_rooms(&mut alice, &world.a).await, Vec::<String>::new());
    // Entered by the socket's URL, then by `join`: kept in the order first opened.
    let mut a = alice.connect(&world.a, "room=rust").await.unwrap();
    for room in ["ops", "lobby", "ops"] {
        a.send_json(json!({"type": "join", "room": room})).await;
        a.wait_for("joined", |f| {
            matches!(f, ServerMsg::Joined { room: r } if r.as_str() == room).then_some(())
        })
        .await;
    }
    // Every instance reads the same list (on the in-memory backend there is one instance).
    for instance in [&world.a, world.b()] {
        assert_eq!(
            open_rooms(&mut alice, instance).await,
            ["rust", "ops", "lobby"]
        );
    }
    // A room the person closes (`leave`) is no longer theirs; a socket that merely ends is
    // not a room closed.
    a.send_json(json!({"type": "leave", "room": "ops"})).await;
    a.wait_for("left", |f| {
        matches!(f, ServerMsg::Left { .. }).then_some(())
    })
    .await;
    a.close().await;
    assert_eq!(open_rooms(&mut alice, world.b()).await, ["rust", "lobby"]);
    // Someone else's list is their own.
    let mut bob = logged_in(world.b(), "bob").await;
    assert_eq!(open_rooms(&mut bob, &world.a).await, Vec::<String>::new());
}

async fn a_join_resumes_a_room_exactly(world: &World) {
    let bob = logged_in(world.b(), "bob").await;
    let mut b = bob.connect(world.b(), "room=rust").await.unwrap();
    // Alice is in the room and reads "seen"; then her connection drops...
    let alice = logged_in(&world.a, "alice").await;
    let before = alice.connect(&world.a, "room=rust").await.unwrap();
    b.wait_for("alice's arrival", |f| {
        matches!(f, ServerMsg::Message(m) if m.kind == MessageKind::Join && m.user.name.as_str() == "alice")
            .then_some(())
    })
    .await;
    let seen = b.say_acked("rust", "seen").await;
    before.close().await;
    b.say_acked("rust", "missed 1").await;
    b.say_acked("rust", "missed 2").await;

    // ...and her page, back on another socket, joins the room again after what it had. She was
    // gone for less than the presence grace, so she never left.
    let mut a = alice.connect(&world.a, "room=lobby").await.unwrap();
    a.send_json(json!({"type": "join", "room": "rust", "after": seen}))
        .await;
    let mut texts = Vec::new();
    let mut announced = 0;
    while texts.len() < 3 {
        match a
            .wait_for("a rust message", |f| match f {
                ServerMsg::Message(m) if m.room.as_str() == "rust" => Some(m.clone()),
                _ => None,
            })
            .await
        {
            m if m.kind == MessageKind::Text => texts.push(m.text),
            m if m.kind == MessageKind::Join && m.user.name.as_str() == "alice" => announced += 1,
            _ => {}
        }
        if texts.len() == 2 {
            // Everything missed is in; the next one is live.
            b.say_acked("rust", "live").await;
        }
    }
    assert_eq!(
        texts,
        ["missed 1", "missed 2", "live"],
        "nothing before `after`"
    );
    assert_eq!(announced, 0, "a resume does not announce a join");
}

async fn rooms_per_socket_are_capped(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let mut a = alice.connect(&world.a, "room=lobby").await.unwrap();
    for n in 1..MAX_ROOMS_PER_SOCKET {
        a.send_json(json!({"type": "join", "room": format!("room-{n}")}))
            .await;
    }
    a.send_json(json!({"type": "join", "room": "one-too-many"}))
        .await;
    let (code, room) = a
        .wait_for("the refusal", |f| match f {
            ServerMsg::Error {
                code,
                room: Some(room),
                ..
            } => Some((*code, room.to_string())),
            _ => None,
        })
        .await;
    assert_eq!(
        (code, room.as_str()),
        (ErrorCode::TooManyRooms, "one-too-many")
    );
    // Joining a room the socket is in already is answered, not refused.
    a.send_json(json!({"type": "join", "room": "room-1"})).await;
    a.wait_for("joined again", |f| {
        matches!(f, ServerMsg::Joined { room } if room.as_str() == "room-1").then_some(())
    })
    .await;
}

/// What an outsider sees of a private address (here one no room holds, which a room they are
/// not a member of must look exactly like): the socket opens in no room, and says `not_found`,
/// whether the address is the URL's room or a `join`; the socket carries on in its other rooms.
async fn a_private_address_is_not_found_by_an_outsider_at_any_door(world: &World) {
    let secret = "~0123456789abcdef0123";
    let guest = logged_in(&world.a, "vi").await;
    let mut member = Browser::new();
    assert_eq!(
        member
            .sign_up(world.b(), "ada", "violet tractor lagoon")
            .await
            .status,
        200
    );
    for (who, instance) in [(&guest, &world.a), (&member, world.b())] {
        let mut socket = who
            .connect(instance, &format!("room={secret}"))
            .await
            .unwrap();
        socket
            .wait_for("hello", |f| {
                matches!(f, ServerMsg::Hello { .. }).then_some(())
            })
            .await;
        let refusal = socket
            .wait_for("the refusal", |f| match f {
                ServerMsg::Error { code, room, .. } => Some((*code, room.clone())),
                ServerMsg::Message(m) => panic!("history of a room not entered: {m:?}"),
                _ => None,
            })
            .await;
        assert_eq!(refusal.0, ErrorCode::NotFound);
        assert_eq!(refusal.1.map(|r| r.to_string()).as_deref(), Some(secret));

        // A resume into it is the same door, and so is a `join`.
        let mut resumed = who
            .connect(instance, &format!("room={secret}&after=1-0"))
            .await
            .unwrap();
        let code = resumed
            .wait_for("the refusal", |f| match f {
                ServerMsg::Error { code, .. } => Some(*code),
                ServerMsg::Message(_) | ServerMsg::Gap { .. } => panic!("caught up: {f:?}"),
                _ => None,
            })
            .await;
        assert_eq!(code, ErrorCode::NotFound);
        socket
            .send_json(json!({"type": "join", "room": "~fedcba98765432100123"}))
            .await;
        let code = socket
            .wait_for("the refusal", |f| match f {
                ServerMsg::Error { code, .. } => Some(*code),
                ServerMsg::Joined { .. } => panic!("joined a room no one holds"),
                _ => None,
            })
            .await;
        assert_eq!(code, ErrorCode::NotFound);
        // Nor can it be paged or written to: the socket is not in it.
        socket
            .send_json(json!({"type": "history", "room": secret, "before": "9-0"}))
            .await;
        let code = socket
            .wait_for("the refusal", |f| match f {
                ServerMsg::Error { code, .. } => Some(*code),
                ServerMsg::History { .. } => panic!("paged a room not entered"),
                _ => None,
            })
            .await;
        assert_eq!(code, ErrorCode::WrongRoom);

        // The socket carries on: a public room is joined on it as ever.
        socket
            .send_json(json!({"type": "join", "room": "lobby"}))
            .await;
        socket
            .wait_for("joined", |f| {
                matches!(f, ServerMsg::Joined { room } if room.as_str() == "lobby").then_some(())
            })
            .await;
        socket.say_acked("lobby", "still here").await;
    }
}

async fn rooms_have_pages_and_bad_names_a_404(world: &World) {
    let mut alice = logged_in(&world.a, "alice").await;
    let page = alice.get(&format!("{}/r/rust", world.a.base)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("#rust"), "the page names its room");
    assert!(page.body.contains("<title>#rust · Switchboard</title>"));

    let bad = alice.get(&format!("{}/r/Not-A-Room!", world.a.base)).await;
    assert_eq!(bad.status, 404);
    assert!(bad.body.contains("There is no such room"), "{}", bad.body);

    let mut anonymous = Browser::new();
    let page = anonymous.get(&format!("{}/r/rust", world.a.base)).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(r#"action="/api/login""#), "log in first");
}

/// A room nobody writes in is deleted after the idle time (`ROOM_IDLE_SECS`): Redis does not
/// keep every room ever named.
mod retention {
    use crate::{helpers::PATIENCE, logged_in, World};
    use app::protocol::{MessageKind, ServerMsg};

    backends!(env = &[("ROOM_IDLE_SECS", "1")]; an_idle_room_is_forgotten,);

    async fn an_idle_room_is_forgotten(world: &World) {
        let alice = logged_in(&world.a, "alice").await;
        let mut a = alice.connect(&world.a, "room=fleeting").await.unwrap();
        a.say_acked("fleeting", "soon gone").await;
        a.close().await;
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            // What a newcomer is given: history first, then who is here.
            let mut reader = alice.connect(world.b(), "room=fleeting").await.unwrap();
            let kept = reader
                .wait_for("the catch-up", |f| match f {
                    ServerMsg::Message(m) if m.kind == MessageKind::Text => Some(true),
                    ServerMsg::Presence { .. } => Some(false),
                    _ => None,
                })
                .await;
            reader.close().await;
            if !kept {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the idle room was never deleted"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
}
