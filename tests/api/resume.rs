//! Exact resume: `after=<id>` gives exactly the missed messages, the hand-over from history to
//! live has no gap or duplicate, and history that is gone is reported with a `gap` frame.

use crate::{
    helpers::{Seen, Socket},
    logged_in, World,
};
use app::protocol::{MessageId, MessageKind, ServerMsg};

backends!(env = &[("HISTORY_MAX", "5"), ("HEARTBEAT_SECS", "1")];
    resume_returns_exactly_the_missed_messages_in_order,
    a_resume_from_trimmed_history_reports_the_gap,
    idle_sockets_get_heartbeats,
);

/// Sends `text` and waits for its ack; returns the message id.
async fn said(socket: &mut Socket, text: &str) -> MessageId {
    let client_id = socket.say(text).await;
    socket
        .wait_for("ack", |f| match f {
            ServerMsg::Ack { client_id: c, id } if *c == client_id => Some(*id),
            _ => None,
        })
        .await
}

/// Text messages received until `last` (inclusive) arrives.
async fn texts_until(socket: &mut Socket, last: MessageId) -> Vec<(MessageId, String)> {
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + crate::helpers::PATIENCE;
    loop {
        assert!(
            std::time::Instant::now() < deadline,
            "{last} did not arrive; got {seen:?}"
        );
        match socket.next().await {
            Seen::Frame(ServerMsg::Message(m)) => {
                if m.kind == MessageKind::Text {
                    seen.push((m.id, m.text.clone()));
                }
                if m.id >= last {
                    return seen;
                }
            }
            Seen::Frame(_) => {}
            Seen::Closed(code) => panic!("closed ({code:?}) before {last}"),
        }
    }
}

async fn resume_returns_exactly_the_missed_messages_in_order(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let bob = logged_in(world.b(), "bob").await;
    let mut writer = alice.connect(&world.a, "room=lobby").await.unwrap();
    let seen = said(&mut writer, "seen by bob").await;

    // Bob was away after `seen`; three messages went by.
    let missed = [
        said(&mut writer, "m1").await,
        said(&mut writer, "m2").await,
        said(&mut writer, "m3").await,
    ];

    let mut resumed = bob
        .connect(world.b(), &format!("room=lobby&after={seen}"))
        .await
        .unwrap();
    let got = texts_until(&mut resumed, missed[2]).await;
    assert_eq!(
        got,
        vec![
            (missed[0], "m1".into()),
            (missed[1], "m2".into()),
            (missed[2], "m3".into())
        ]
    );
    // And then live, with nothing repeated.
    let next = said(&mut writer, "live").await;
    assert_eq!(
        texts_until(&mut resumed, next).await,
        vec![(next, "live".to_owned())]
    );
}

async fn a_resume_from_trimmed_history_reports_the_gap(world: &World) {
    // HISTORY_MAX is 5; Redis trims whole stream nodes (100 entries), so write a few hundred.
    let alice = logged_in(&world.a, "alice").await;
    let mut writer = alice.connect(&world.a, "room=lobby").await.unwrap();
    let first = said(&mut writer, "first").await;
    let mut last = first;
    for i in 0..250 {
        last = said(&mut writer, &format!("filler {i}")).await;
    }
    let bob = logged_in(world.b(), "bob").await;
    let mut resumed = bob
        .connect(world.b(), &format!("room=lobby&after={first}"))
        .await
        .unwrap();
    let (after, gap_first) = resumed
        .wait_for("the gap frame", |f| match f {
            ServerMsg::Gap { after, first, .. } => Some((*after, *first)),
            _ => None,
        })
        .await;
    assert_eq!(after, first);
    let replayed = texts_until(&mut resumed, last).await;
    assert_eq!(
        Some(replayed[0].0),
        gap_first,
        "the gap ends where the replay starts"
    );
    assert!(replayed.len() < 250, "history was trimmed");
    assert!(replayed.windows(2).all(|w| w[0].0 < w[1].0), "in order");
}

async fn idle_sockets_get_heartbeats(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let mut socket = alice.connect(&world.a, "room=lobby").await.unwrap();
    for _ in 0..2 {
        socket
            .wait_for("a heartbeat", |f| {
                matches!(f, ServerMsg::Heartbeat).then_some(())
            })
            .await;
    }
}

/// A reader that keeps dropping and resuming (on the other instance) while a writer sends
/// without pause sees every message exactly once, in order.
#[tokio::test]
async fn hand_over_has_no_gap_or_duplicate_under_concurrent_sends() {
    const MESSAGES: usize = 300;
    let world = World::redis();
    let alice = logged_in(&world.a, "alice").await;
    let bob = logged_in(world.b(), "bob").await;
    let mut writer = alice.connect(&world.a, "room=lobby").await.unwrap();
    let start = said(&mut writer, "start").await;

    let sending = tokio::spawn(async move {
        let mut ids = Vec::new();
        let mut pending = Vec::new();
        for i in 0..MESSAGES {
            pending.push(writer.say(&format!("n{i}")).await);
        }
        while ids.len() < MESSAGES {
            if let ServerMsg::Ack { id, .. } = writer
                .wait_for("acks", |f| {
                    matches!(f, ServerMsg::Ack { .. }).then(|| f.clone())
                })
                .await
            {
                ids.push(id);
            }
        }
        ids.sort();
        ids
    });

    let mut received: Vec<MessageId> = Vec::new();
    let mut after = start;
    let mut reconnects = 0;
    'reading: loop {
        let instance = if reconnects % 2 == 0 {
            world.b()
        } else {
            &world.a
        };
        let mut reader = bob
            .connect(instance, &format!("room=lobby&after={after}"))
            .await
            .unwrap();
        let mut this_connection = 0;
        loop {
            match reader.next().await {
                Seen::Frame(ServerMsg::Message(m)) if m.kind == MessageKind::Text => {
                    received.push(m.id);
                    after = m.id;
                    this_connection += 1;
                    if received.len() == MESSAGES {
                        break 'reading;
                    }
                    // Drop the connection every 37 messages, mid-stream.
                    if this_connection == 37 {
                        reconnects += 1;
                        reader.close().await;
                        continue 'reading;
                    }
                }
                Seen::Frame(_) => {}
                Seen::Closed(code) => panic!("reader closed: {code:?}"),
            }
        }
    }
    let sent = sending.await.unwrap();
    assert!(reconnects >= 5, "the reader resumed {reconnects} times");
    assert_eq!(received, sent, "every message exactly once, in order");
}
