//! `GET /metrics`: behind its token, and counting what a client did.

use crate::helpers::metric as sample;
use crate::{logged_in, World};
use app::protocol::ServerMsg;
use serde_json::json;
use std::time::Duration;

backends!(env = &[("METRICS_TOKEN", "s3cret")]; metrics_need_the_token_and_count_what_happened);

async fn scrape(world: &World) -> String {
    let response = reqwest::Client::new()
        .get(format!("{}/metrics", world.a.base))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    response.text().await.unwrap()
}

/// Scrapes until `series` reads a value that passes `good` (metrics follow events as they
/// happen: a socket's own delivery may still be under way when its ack arrives).
async fn until(world: &World, series: &str, good: impl Fn(f64) -> bool) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = scrape(world).await;
        if sample(&text, series).is_some_and(&good) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{series} never got there:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn metrics_need_the_token_and_count_what_happened(world: &World) {
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", world.a.base);
    assert_eq!(http.get(&url).send().await.unwrap().status().as_u16(), 401);
    let wrong = http.get(&url).bearer_auth("guess").send().await.unwrap();
    assert_eq!(wrong.status().as_u16(), 401);

    let alice = logged_in(&world.a, "alice").await;
    let mut socket = alice.connect(&world.a, "room=lobby").await.unwrap();
    socket.say_acked("lobby", "one").await;
    socket.say_acked("lobby", "two").await;
    // A re-send of a stored message: acknowledged, not stored again.
    let client_id = uuid::Uuid::new_v4();
    for _ in 0..2 {
        socket
            .send_json(
                json!({"type": "send", "room": "lobby", "text": "three", "client_id": client_id}),
            )
            .await;
        socket
            .wait_for("ack", |f| matches!(f, ServerMsg::Ack { .. }).then_some(()))
            .await;
    }
    socket.say_in("lobby", &"x".repeat(5000)).await;
    socket
        .wait_for("refusal", |f| {
            matches!(f, ServerMsg::Error { .. }).then_some(())
        })
        .await;

    // Her three messages (and her join notice) come back to her socket.
    let text = until(world, "switchboard_deliveries_total", |n| n >= 3.0).await;
    for (series, value) in [
        ("switchboard_sockets_open", 1.0),
        ("switchboard_sockets_opened_total", 1.0),
        ("switchboard_messages_received_total", 5.0),
        ("switchboard_messages_stored_total", 3.0),
        ("switchboard_messages_duplicate_total", 1.0),
        ("switchboard_messages_refused_total", 1.0),
        ("switchboard_rooms_open", 1.0),
        ("switchboard_draining", 0.0),
    ] {
        assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
    }
    assert!(text.contains("switchboard_build_info{"), "{text}");
    if world.a.name != "solo" {
        // Every Redis command is timed: the append script at least.
        assert!(
            sample(
                &text,
                "switchboard_redis_command_duration_seconds_count{command=\"evalsha\"}"
            )
            .is_some_and(|n| n >= 3.0),
            "{text}"
        );
    }

    socket.close().await;
    until(
        world,
        "switchboard_sockets_closed_total{reason=\"client\"}",
        |n| n == 1.0,
    )
    .await;
    until(world, "switchboard_sockets_open", |n| n == 0.0).await;
}
