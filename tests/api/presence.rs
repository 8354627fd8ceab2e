//! Presence on real processes: who is online, across instances and tabs, through a crash, and
//! notices only for real arrivals and departures (never for a refresh or a quick reconnect).
//!
//! Timings are configured short (`PRESENCE_TTL_SECS=3`, `PRESENCE_GRACE_SECS=2`); the tests wait
//! for what a client sees, never for a fixed time.

use crate::{
    helpers::{signal, Instance, RedisServer, Socket},
    logged_in, World,
};
use app::protocol::{MessageKind, ServerMsg};

const FAST: &[(&str, &str)] = &[("PRESENCE_TTL_SECS", "3"), ("PRESENCE_GRACE_SECS", "2")];

backends!(env = &[("PRESENCE_TTL_SECS", "3"), ("PRESENCE_GRACE_SECS", "2")];
    a_quick_reconnect_is_silent_and_a_real_departure_is_announced,
);

/// The names in the next presence frame of `room` that `accept` takes.
async fn presence_where(
    socket: &mut Socket,
    room: &str,
    what: &str,
    mut accept: impl FnMut(u32, &[String]) -> bool,
) -> Vec<String> {
    socket
        .wait_for(what, |f| match f {
            ServerMsg::Presence {
                room: r,
                count,
                users,
            } if r.as_str() == room => {
                let mut names: Vec<String> = users.iter().map(|u| u.name.to_string()).collect();
                names.sort();
                accept(*count, &names).then_some(names)
            }
            _ => None,
        })
        .await
}

/// Presence is the same on every instance, and a user with two tabs is one user.
#[tokio::test]
async fn presence_is_shared_across_instances_and_tabs_count_once() {
    let world = World::redis_with(FAST);
    let alice = logged_in(&world.a, "alice").await;
    let bob = logged_in(world.b(), "bob").await;
    let mut tab1 = alice.connect(&world.a, "room=lobby").await.unwrap();
    let tab2 = alice.connect(world.b(), "room=lobby").await.unwrap();
    let mut on_b = bob.connect(world.b(), "room=lobby").await.unwrap();

    let expected = vec!["alice".to_owned(), "bob".to_owned()];
    let seen = presence_where(&mut on_b, "lobby", "alice and bob", |count, names| {
        count == 2 && names == expected
    })
    .await;
    assert_eq!(seen, expected);
    presence_where(&mut tab1, "lobby", "alice and bob, on a", |count, _| {
        count == 2
    })
    .await;

    // One tab closes; alice is still here. A newcomer's arrival shows the list as it is.
    tab2.close().await;
    let carol = logged_in(&world.a, "carol").await;
    let _on_a = carol.connect(&world.a, "room=lobby").await.unwrap();
    let seen = presence_where(&mut on_b, "lobby", "carol's arrival", |_, names| {
        names.iter().any(|n| n == "carol")
    })
    .await;
    assert_eq!(seen, ["alice", "bob", "carol"]);
}

/// A `kill -9`'d instance's users are gone within the TTL, unless they reconnected elsewhere:
/// then they never disappear, and nobody reads that they left.
#[tokio::test]
async fn a_killed_instances_users_expire_unless_they_moved() {
    let redis = RedisServer::start();
    let a = Instance::start_with("a", Some(&redis.url()), FAST);
    let b = Instance::start_with("b", Some(&redis.url()), FAST);
    let alice = logged_in(&a, "alice").await;
    let bob = logged_in(&a, "bob").await;
    let carol = logged_in(&b, "carol").await;
    let mut on_a_alice = alice.connect(&a, "room=lobby").await.unwrap();
    let _on_a_bob = bob.connect(&a, "room=lobby").await.unwrap();
    let mut watcher = carol.connect(&b, "room=lobby").await.unwrap();
    presence_where(&mut watcher, "lobby", "all three", |count, _| count == 3).await;
    let last = on_a_alice
        .wait_for("a message id", |f| match f {
            ServerMsg::Message(m) => Some(m.id),
            _ => None,
        })
        .await;

    signal(a.pid(), "-KILL");
    // Alice's client reconnects to b at once and resumes; bob's never comes back.
    let mut moved = alice
        .connect(&b, &format!("room=lobby&after={last}"))
        .await
        .unwrap();
    moved
        .wait_for("hello", |f| {
            matches!(f, ServerMsg::Hello { .. }).then_some(())
        })
        .await;
    let mut left = Vec::new();
    let names = loop {
        let frame = watcher
            .wait_for("presence or a notice", |f| match f {
                ServerMsg::Presence { users, .. } => Some(Ok(users
                    .iter()
                    .map(|u| u.name.to_string())
                    .collect::<Vec<_>>())),
                ServerMsg::Message(m) if m.kind == MessageKind::Leave => {
                    Some(Err(m.user.name.to_string()))
                }
                _ => None,
            })
            .await;
        match frame {
            Ok(names) => {
                assert!(
                    names.iter().any(|n| n == "alice"),
                    "alice never flickers out: {names:?}"
                );
                if !names.iter().any(|n| n == "bob") {
                    break names;
                }
            }
            Err(name) => left.push(name),
        }
    };
    assert_eq!(names.len(), 2, "{names:?}");
    let notice = watcher
        .wait_for("bob's leave notice", |f| match f {
            ServerMsg::Message(m) if m.kind == MessageKind::Leave => Some(m.user.name.to_string()),
            _ => None,
        })
        .await;
    left.push(notice);
    assert_eq!(left, ["bob"], "only bob is announced as gone");
}

async fn a_quick_reconnect_is_silent_and_a_real_departure_is_announced(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let bob = logged_in(world.b(), "bob").await;
    let mut watcher = bob.connect(world.b(), "room=lobby").await.unwrap();
    let first = alice.connect(&world.a, "room=lobby").await.unwrap();
    // Every notice about alice the watcher reads, in order.
    let mut notices = Vec::new();
    let mut about_alice = |f: &ServerMsg| {
        if let ServerMsg::Message(m) = f {
            if m.user.name.as_str() == "alice" {
                notices.push(m.kind);
            }
        }
    };
    watcher
        .wait_for("alice arrives", |f| {
            about_alice(f);
            matches!(f, ServerMsg::Presence { count: 2, .. }).then_some(())
        })
        .await;
    // A refresh: the socket closes and a new one opens at once (elsewhere, with two instances).
    first.close().await;
    let second = alice.connect(world.b(), "room=lobby").await.unwrap();
    // Then alice closes the page for good.
    second.close().await;
    watcher
        .wait_for("alice gone", |f| {
            about_alice(f);
            matches!(f, ServerMsg::Presence { count: 1, .. }).then_some(())
        })
        .await;
    watcher
        .wait_for("the leave notice", |f| {
            about_alice(f);
            matches!(f, ServerMsg::Message(m) if m.kind == MessageKind::Leave).then_some(())
        })
        .await;
    assert_eq!(
        notices,
        [MessageKind::Join, MessageKind::Leave],
        "one join and one leave, none for the refresh"
    );
}
