//! Limits that protect everyone else: one user's message rate across their sockets and
//! instances, logins per address, sockets per user and per instance.

use crate::helpers::{metric, metrics_of, Browser, Socket};
use crate::{logged_in, World};
use app::protocol::{ClientId, ErrorCode, ServerMsg};
use serde_json::json;
use std::time::Duration;

backends!(
    env = &[
        ("RATE_MESSAGES_PER_SEC", "2"),
        ("RATE_MESSAGES_BURST", "3"),
        ("RATE_LOGINS_PER_MIN", "3"),
        ("MAX_SOCKETS_PER_USER", "2"),
        ("MAX_SOCKETS", "4"),
    ];
    a_users_messages_are_limited_across_sockets_and_instances,
    a_burst_sent_at_once_is_stored_in_order,
    a_sockets_requests_are_limited,
    logins_are_limited_per_address,
    sockets_are_capped_per_user_and_per_instance,
);

/// Sends `text` with `client_id` and returns the answer: `Ok(())` for its ack, `Err(retry ms)`
/// for a `rate_limited` refusal naming it.
async fn send(socket: &mut Socket, client_id: ClientId, text: &str) -> Result<(), u64> {
    socket
        .send_json(json!({"type": "send", "room": "lobby", "text": text, "client_id": client_id}))
        .await;
    socket
        .wait_for("the answer", |f| match f {
            ServerMsg::Ack { client_id: c, .. } if *c == client_id => Some(Ok(())),
            ServerMsg::Error {
                code: ErrorCode::RateLimited,
                client_id: Some(c),
                retry_after_ms,
                ..
            } if *c == client_id => Some(Err(retry_after_ms.expect("a retry-after"))),
            ServerMsg::Error { code, .. } => panic!("unexpected refusal {code:?}"),
            _ => None,
        })
        .await
}

fn new_id() -> ClientId {
    ClientId(uuid::Uuid::new_v4())
}

async fn a_users_messages_are_limited_across_sockets_and_instances(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let mut on_a = alice.connect(&world.a, "room=lobby").await.unwrap();
    let mut on_b = alice.connect(world.b(), "room=lobby").await.unwrap();
    // The burst of three, spread over both sockets (and, on Redis, both instances)...
    assert_eq!(send(&mut on_a, new_id(), "one").await, Ok(()));
    assert_eq!(send(&mut on_b, new_id(), "two").await, Ok(()));
    assert_eq!(send(&mut on_a, new_id(), "three").await, Ok(()));
    // ...then the fourth, on either, must wait for the next token (one every 500 ms).
    let fourth = new_id();
    let wait = send(&mut on_b, fourth, "four").await.unwrap_err();
    assert!((1..=500).contains(&wait), "retry after {wait} ms");
    // Another user is not affected.
    let bob = logged_in(&world.a, "bob").await;
    let mut bobs = bob.connect(&world.a, "room=lobby").await.unwrap();
    assert_eq!(send(&mut bobs, new_id(), "hi").await, Ok(()));

    // After the wait the same message goes through, once.
    tokio::time::sleep(Duration::from_millis(wait)).await;
    assert_eq!(send(&mut on_b, fourth, "four").await, Ok(()));
    let stored = on_a
        .wait_for("four", |f| match f {
            ServerMsg::Message(m) if m.text == "four" => Some(m.id),
            _ => None,
        })
        .await;
    assert!(stored.to_string().contains('-'));

    let metrics = metrics_of(world.b()).await;
    assert_eq!(
        metric(&metrics, "switchboard_rate_limited_total{what=\"message\"}"),
        Some(1.0),
        "{metrics}"
    );
}

/// What a client does with a burst: sends it all at once, then sends again, in order, what was
/// slowed down, after the wait it was told. The stored order is the order written.
async fn a_burst_sent_at_once_is_stored_in_order(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let mut socket = alice.connect(&world.a, "room=lobby").await.unwrap();
    let ids: Vec<ClientId> = (0..8).map(|_| new_id()).collect();
    let mut stored = std::collections::HashMap::new();
    let mut waiting: Vec<usize> = (0..ids.len()).collect();
    for _round in 0..40 {
        for &i in &waiting {
            socket
                .send_json(json!({"type": "send", "room": "lobby", "text": format!("m{i}"), "client_id": ids[i]}))
                .await;
        }
        let mut wait = 0;
        let mut still = Vec::new();
        for &i in &waiting {
            let answer = socket
                .wait_for("an answer", |f| match f {
                    ServerMsg::Ack { client_id, id } if *client_id == ids[i] => Some(Ok(*id)),
                    ServerMsg::Error {
                        code: ErrorCode::RateLimited,
                        client_id: Some(c),
                        retry_after_ms,
                        ..
                    } if *c == ids[i] => Some(Err(retry_after_ms.unwrap())),
                    _ => None,
                })
                .await;
            match answer {
                Ok(id) => {
                    stored.insert(i, id);
                }
                Err(ms) => {
                    wait = wait.max(ms);
                    still.push(i);
                }
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    assert!(waiting.is_empty(), "every message stored in the end");
    let order: Vec<_> = (0..ids.len()).map(|i| stored[&i]).collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "stored in the order written: {order:?}"
    );
}

async fn a_sockets_requests_are_limited(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let mut socket = alice.connect(&world.a, "room=lobby").await.unwrap();
    for _ in 0..25 {
        socket
            .send_json(json!({"type": "history", "room": "lobby", "before": "99999999999999-0"}))
            .await;
    }
    let (mut answered, mut limited) = (0, 0);
    while answered + limited < 25 {
        socket
            .wait_for("an answer", |f| match f {
                ServerMsg::History { .. } => {
                    answered += 1;
                    Some(())
                }
                ServerMsg::Error {
                    code: ErrorCode::RateLimited,
                    room: Some(room),
                    retry_after_ms: Some(ms),
                    ..
                } if room.as_str() == "lobby" && *ms > 0 => {
                    limited += 1;
                    Some(())
                }
                _ => None,
            })
            .await;
    }
    assert!(answered >= 20, "the burst is answered: {answered}");
    assert!(limited >= 1, "beyond it, refused: {limited}");
}

async fn logins_are_limited_per_address(world: &World) {
    for name in ["a", "b", "c"] {
        let mut browser = Browser::new();
        assert_eq!(browser.login(&world.a, name).await.status, 200);
    }
    let mut browser = Browser::new();
    let refused = browser.login(&world.a, "d").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    let reason = refused.json();
    assert_eq!(reason["error"], "rate_limited");
    let secs = reason["reason"].as_u64().unwrap();
    assert!((1..=20).contains(&secs), "retry in {secs} s");
    let retry_after = refused
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok());
    assert_eq!(retry_after, Some(secs.to_string().as_str()));
    assert!(browser.cookie.is_none(), "no session for a refused login");
}

async fn sockets_are_capped_per_user_and_per_instance(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let first = alice.connect(&world.a, "room=lobby").await.unwrap();
    let _second = alice.connect(&world.a, "room=lobby").await.unwrap();
    assert_eq!(alice.connect(&world.a, "room=lobby").await.err(), Some(429));
    // A closed socket gives its place back.
    first.close().await;
    let mut third = None;
    for _ in 0..50 {
        match alice.connect(&world.a, "room=lobby").await {
            Ok(socket) => {
                third = Some(socket);
                break;
            }
            Err(429) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    let _third = third.expect("the closed socket's place");

    // The instance takes four in all.
    let bob = logged_in(&world.a, "bob").await;
    let _bobs = (
        bob.connect(&world.a, "room=lobby").await.unwrap(),
        bob.connect(&world.a, "room=lobby").await.unwrap(),
    );
    let carol = logged_in(&world.a, "carol").await;
    assert_eq!(carol.connect(&world.a, "room=lobby").await.err(), Some(503));
}

/// The resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// A reader that stops reading while its room is busy costs the instance a bounded amount of
/// memory: its room's buffer is shared and fixed (1024 frames), so the socket falls behind, is
/// closed (1013, or dropped when its writes stall), and catches up from history if it returns.
/// Tens of megabytes go to the room meanwhile; the instance's memory barely moves.
#[tokio::test]
async fn a_reader_that_stops_costs_bounded_memory() {
    let world = World::redis();
    let stalled = logged_in(&world.a, "stalled").await;
    let sender = logged_in(&world.a, "sender").await;
    // Connected, then never read again.
    let _stalled = stalled.connect(&world.a, "room=lobby").await.unwrap();
    let mut socket = sender.connect(&world.a, "room=lobby").await.unwrap();
    socket.say_acked("lobby", "warm up").await;
    let before = rss_kib(world.a.pid());

    // 20,000 messages of 1.5 KB: 30 MB for every socket in the room.
    let text = "x".repeat(1500);
    const MESSAGES: usize = 20_000;
    let mut acked = 0;
    for chunk in 0..MESSAGES / 500 {
        for i in 0..500 {
            socket.say_in("lobby", &format!("{chunk}-{i} {text}")).await;
        }
        while acked < (chunk + 1) * 500 {
            socket
                .wait_for("an ack", |f| {
                    matches!(f, ServerMsg::Ack { .. }).then_some(())
                })
                .await;
            acked += 1;
        }
    }
    let after = rss_kib(world.a.pid());
    let grown = after.saturating_sub(before);
    println!("[measure] instance RSS {before} KiB -> {after} KiB (+{grown} KiB) after 30 MB to a stalled reader");
    assert!(grown < 16 * 1024, "memory grew by {grown} KiB");

    // It is closed: behind by more than the room's buffer (1013), or its write stalled past the
    // send timeout (10 s), whichever the instance sees first.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = metrics_of(&world.a).await;
        let closed = |reason: &str| {
            metric(
                &metrics,
                &format!("switchboard_sockets_closed_total{{reason=\"{reason}\"}}"),
            )
            .unwrap_or(0.0)
        };
        if closed("lagged") + closed("write_failed") >= 1.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled socket was never closed:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
