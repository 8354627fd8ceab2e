//! Older history, page by page: a reader scrolling up gets every retained message once, in
//! order, and learns where the history ends.

use crate::{logged_in, World};
use app::protocol::{MessageId, MessageKind, ServerMsg, HISTORY_PAGE};
use serde_json::json;

backends!(paging_back_reads_every_message_once_and_says_where_history_ends,);

async fn paging_back_reads_every_message_once_and_says_where_history_ends(world: &World) {
    const SAID: usize = 2 * HISTORY_PAGE + 20;
    let alice = logged_in(&world.a, "alice").await;
    let mut a = alice.connect(&world.a, "room=lobby").await.unwrap();
    for n in 1..=SAID {
        a.say_acked("lobby", &format!("m{n}")).await;
    }

    // A new reader gets the last page on joining...
    let bob = logged_in(world.b(), "bob").await;
    let mut b = bob.connect(world.b(), "room=lobby").await.unwrap();
    let mut ids: Vec<MessageId> = Vec::new();
    let mut texts: Vec<String> = Vec::new();
    while texts.last().map(String::as_str) != Some(&format!("m{SAID}")) {
        let m = b
            .wait_for("recent history", |f| match f {
                ServerMsg::Message(m) => Some(m.clone()),
                _ => None,
            })
            .await;
        ids.push(m.id);
        if m.kind == MessageKind::Text {
            texts.push(m.text);
        }
    }
    assert!(texts.len() <= HISTORY_PAGE);

    // ...and pages back from the oldest it has until the history ends.
    let mut pages = 0;
    loop {
        b.send_json(json!({"type": "history", "room": "lobby", "before": ids[0]}))
            .await;
        let (messages, complete) = b
            .wait_for("a page", |f| match f {
                ServerMsg::History {
                    messages, complete, ..
                } => Some((messages.clone(), *complete)),
                _ => None,
            })
            .await;
        pages += 1;
        assert!(messages.len() <= HISTORY_PAGE);
        assert!(
            messages.windows(2).all(|w| w[0].id < w[1].id),
            "oldest first"
        );
        assert!(messages.last().is_none_or(|m| m.id < ids[0]), "only older");
        let older_texts = messages
            .iter()
            .filter(|m| m.kind == MessageKind::Text)
            .map(|m| m.text.clone());
        texts.splice(0..0, older_texts);
        ids.splice(0..0, messages.iter().map(|m| m.id));
        if complete {
            break;
        }
        assert!(pages < 10, "the pages must end");
    }
    let expected: Vec<String> = (1..=SAID).map(|n| format!("m{n}")).collect();
    assert_eq!(texts, expected, "every message once, in order");

    // A room the socket is not in is refused, naming the room.
    b.send_json(json!({"type": "history", "room": "elsewhere", "before": ids[0]}))
        .await;
    let refused = b
        .wait_for("the refusal", |f| match f {
            ServerMsg::Error {
                room: Some(room), ..
            } => Some(room.to_string()),
            _ => None,
        })
        .await;
    assert_eq!(refused, "elsewhere");
}
