//! Typing signals: across instances, never stored, never answered, and limited per socket.

use crate::{logged_in, World};
use app::protocol::{MessageKind, ServerMsg};
use serde_json::json;

backends!(typing_reaches_the_room_and_is_never_stored,);

async fn typing_reaches_the_room_and_is_never_stored(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let bob = logged_in(world.b(), "bob").await;
    let mut a = alice.connect(&world.a, "room=lobby").await.unwrap();
    let mut b = bob.connect(world.b(), "room=lobby").await.unwrap();
    b.wait_for("alice present", |f| {
        matches!(f, ServerMsg::Presence { count: 2, .. }).then_some(())
    })
    .await;

    // A burst of signals: passed on (at most one a second from one socket), never answered.
    for _ in 0..20 {
        a.send_json(json!({"type": "typing", "room": "lobby"}))
            .await;
    }
    let typists = b
        .wait_for("alice typing", |f| match f {
            ServerMsg::Typing { room, users } if room.as_str() == "lobby" => {
                Some(users.iter().map(|u| u.name.to_string()).collect::<Vec<_>>())
            }
            _ => None,
        })
        .await;
    assert_eq!(typists, ["alice"]);
    // The next thing alice hears about her own frames is the ack of a message: the signals got
    // no answer, and no error.
    let said = a.say("done typing").await;
    let first_answer = a
        .wait_for("an answer", |f| match f {
            ServerMsg::Ack { client_id, .. } => Some(Ok(*client_id)),
            ServerMsg::Error { code, .. } => Some(Err(*code)),
            _ => None,
        })
        .await;
    assert_eq!(first_answer, Ok(said));

    // Typing in a room the socket is not in goes nowhere (and is not answered either).
    a.send_json(json!({"type": "typing", "room": "elsewhere"}))
        .await;

    // Nothing of it is history: a new socket reads only the message (and notices).
    let carol = logged_in(world.b(), "carol").await;
    let mut c = carol.connect(world.b(), "room=lobby").await.unwrap();
    let text = c
        .wait_for("history", |f| match f {
            ServerMsg::Message(m) if m.kind == MessageKind::Text => Some(m.text.clone()),
            ServerMsg::Typing { .. } => panic!("typing was replayed: {f:?}"),
            _ => None,
        })
        .await;
    assert_eq!(text, "done typing");
}
