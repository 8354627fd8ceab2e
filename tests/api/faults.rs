//! Faults between an instance and Redis, on real processes: what every connected client sees.
//!
//! Each test prints how long recovery took (`cargo test --test api faults -- --nocapture`).

use crate::{
    helpers::{Browser, Instance, RedisServer, Seen, Socket, PATIENCE},
    logged_in,
};
use app::protocol::{close_code, ClientId, ErrorCode, MessageId, ServerMsg};
use serde_json::json;
use std::time::{Duration, Instant};

/// What one watcher saw of a run of messages whose texts start with `prefix`.
#[derive(Default)]
pub(crate) struct Watch {
    pub texts: Vec<String>,
    last: Option<MessageId>,
    pub gaps: usize,
}

impl Watch {
    /// Records a frame; panics on a message out of order or repeated.
    fn see(&mut self, frame: &ServerMsg, prefix: &str) {
        match frame {
            ServerMsg::Message(m) if m.text.starts_with(prefix) => {
                assert!(
                    self.last.is_none_or(|last| m.id > last),
                    "{} arrived out of order or twice (after {:?})",
                    m.text,
                    self.last
                );
                self.last = Some(m.id);
                self.texts.push(m.text.clone());
            }
            ServerMsg::Gap { .. } => self.gaps += 1,
            _ => {}
        }
    }
}

/// Reads `socket` until the message `end` arrives, recording every message of the run.
pub(crate) async fn watch_until(socket: &mut Socket, watch: &mut Watch, prefix: &str, end: &str) {
    loop {
        match socket.next().await {
            Seen::Frame(frame) => {
                watch.see(&frame, prefix);
                if watch.texts.last().is_some_and(|t| t == end) {
                    return;
                }
            }
            Seen::Closed(code) => panic!("socket closed ({code:?}) while waiting for {end}"),
        }
    }
}

/// Two instances on one Redis: Alice sends from `a`, Bob watches from `b`.
struct Chat {
    a: Instance,
    b: Instance,
    bob: Browser,
    sender: Socket,
    on_b: Socket,
}

impl Chat {
    async fn on(redis: &RedisServer) -> Self {
        let a = Instance::start("a", Some(&redis.url()));
        let b = Instance::start("b", Some(&redis.url()));
        let alice = logged_in(&a, "alice").await;
        let bob = logged_in(&b, "bob").await;
        let mut sender = alice.connect(&a, "room=lobby").await.unwrap();
        let mut on_b = bob.connect(&b, "room=lobby").await.unwrap();
        hello(&mut sender).await;
        hello(&mut on_b).await;
        Self {
            a,
            b,
            bob,
            sender,
            on_b,
        }
    }
}

/// Two instances, and three people in the lobby: Alice sends from `a`, Carol watches on `a`,
/// Bob on `b`.
pub(crate) struct Trio {
    pub a: Instance,
    pub b: Instance,
    pub sender: Socket,
    pub on_a: Socket,
    pub on_b: Socket,
}

impl Trio {
    pub(crate) async fn on(a: Instance, b: Instance) -> Self {
        let alice = logged_in(&a, "alice").await;
        let carol = logged_in(&a, "carol").await;
        let bob = logged_in(&b, "bob").await;
        let mut sender = alice.connect(&a, "room=lobby").await.unwrap();
        let mut on_a = carol.connect(&a, "room=lobby").await.unwrap();
        let mut on_b = bob.connect(&b, "room=lobby").await.unwrap();
        for socket in [&mut sender, &mut on_a, &mut on_b] {
            hello(socket).await;
        }
        Self {
            a,
            b,
            sender,
            on_a,
            on_b,
        }
    }
}

pub(crate) async fn hello(socket: &mut Socket) {
    socket
        .wait_for("hello", |f| {
            matches!(f, ServerMsg::Hello { .. }).then_some(())
        })
        .await;
}

/// Sends `text` and waits for its one outcome, recording what the socket sees meanwhile.
pub(crate) async fn send_and_settle(
    socket: &mut Socket,
    watch: &mut Watch,
    prefix: &str,
    text: &str,
    client_id: ClientId,
) -> Result<MessageId, ErrorCode> {
    socket
        .send_json(json!({"type": "send", "room": "lobby", "text": text, "client_id": client_id}))
        .await;
    loop {
        let frame = match socket.next().await {
            Seen::Frame(frame) => frame,
            Seen::Closed(code) => panic!("closed ({code:?}) waiting for the outcome of {text}"),
        };
        watch.see(&frame, prefix);
        match frame {
            ServerMsg::Ack { client_id: c, id } if c == client_id => return Ok(id),
            ServerMsg::Error {
                code,
                client_id: Some(c),
                ..
            } if c == client_id => return Err(code),
            _ => {}
        }
    }
}

async fn ready(instance: &Instance) -> u16 {
    reqwest::get(format!("{}/readyz", instance.base))
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Polls `/readyz` until it answers `status`; returns how long that took.
pub(crate) async fn until_ready_is(instance: &Instance, status: u16) -> Duration {
    let start = Instant::now();
    while ready(instance).await != status {
        assert!(
            start.elapsed() < PATIENCE,
            "/readyz never answered {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    start.elapsed()
}

/// Issue 6, finding 1: the pub/sub connection is killed mid-burst. Every client, on the sending
/// instance and on the other one, gets all 40 messages exactly once, in order.
#[tokio::test]
async fn a_killed_pubsub_connection_loses_nothing() {
    let redis = RedisServer::start();
    let Trio {
        a: _a,
        b: _b,
        mut sender,
        mut on_a,
        mut on_b,
    } = Trio::on(
        Instance::start("a", Some(&redis.url())),
        Instance::start("b", Some(&redis.url())),
    )
    .await;

    let mut seen_by_sender = Watch::default();
    let mut killed_at = None;
    for i in 0..40 {
        let text = format!("burst-{i:02}");
        if i < 5 {
            send_and_settle(&mut sender, &mut seen_by_sender, "burst-", &text, fresh())
                .await
                .expect("acked");
        } else {
            sender
                .send_json(
                    json!({"type": "send", "room": "lobby", "text": text, "client_id": fresh()}),
                )
                .await;
        }
        if i == 4 {
            let killed = redis
                .query(redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub"))
                .expect("CLIENT KILL");
            eprintln!("killed pub/sub connections: {killed:?}");
            killed_at = Some(Instant::now());
        }
    }
    let mut on_a_watch = Watch::default();
    let mut on_b_watch = Watch::default();
    watch_until(&mut sender, &mut seen_by_sender, "burst-", "burst-39").await;
    watch_until(&mut on_a, &mut on_a_watch, "burst-", "burst-39").await;
    watch_until(&mut on_b, &mut on_b_watch, "burst-", "burst-39").await;
    let recovered = killed_at.expect("killed").elapsed();

    let all: Vec<String> = (0..40).map(|i| format!("burst-{i:02}")).collect();
    // The sender's own copies of the first five may have come before the watch began.
    assert_eq!(
        seen_by_sender.texts[seen_by_sender.texts.len() - 35..],
        all[5..]
    );
    assert_eq!(on_a_watch.texts, all, "a client on the sending instance");
    assert_eq!(on_b_watch.texts, all, "a client on the other instance");
    assert_eq!(on_a_watch.gaps + on_b_watch.gaps, 0);
    // A message after the recovery flows normally, with no duplicate before it.
    sender.say("burst-after").await;
    watch_until(&mut on_b, &mut on_b_watch, "burst-", "burst-after").await;
    eprintln!("pub/sub killed: every client had all 40 messages {recovered:?} after the kill");
}

pub(crate) fn fresh() -> ClientId {
    ClientId(uuid::Uuid::new_v4())
}

/// Redis crashes and restarts with its append-only file: acknowledged messages survive, the
/// sockets stay open (each backfills), and chat goes on with nothing lost or repeated.
#[tokio::test]
async fn redis_restarted_with_persistence_keeps_every_acknowledged_message() {
    let mut redis = RedisServer::start_persistent();
    let Chat {
        a,
        b,
        bob,
        mut sender,
        mut on_b,
    } = Chat::on(&redis).await;

    let mut seen = Watch::default();
    let mut acked = Vec::new();
    for i in 0..5 {
        let text = format!("kept-{i}");
        send_and_settle(&mut sender, &mut seen, "kept-", &text, fresh())
            .await
            .expect("acked");
        acked.push(text);
    }
    redis.kill();
    let down = Instant::now();
    // While Redis is down a send fails fast, with its client id.
    let pending = fresh();
    let outcome = send_and_settle(&mut sender, &mut seen, "kept-", "kept-5", pending).await;
    assert_eq!(outcome, Err(ErrorCode::Unavailable));
    let failed_after = down.elapsed();
    redis.restart();
    let restarted = Instant::now();
    until_ready_is(&a, 200).await;
    // The client retries the refused message with the same id: stored once.
    let mut retried = Err(ErrorCode::Unavailable);
    while retried.is_err() {
        assert!(restarted.elapsed() < PATIENCE, "sends never recovered");
        retried = send_and_settle(&mut sender, &mut seen, "kept-", "kept-5", pending).await;
    }
    acked.push("kept-5".to_owned());
    let recovered = restarted.elapsed();
    for i in 6..10 {
        let text = format!("kept-{i}");
        send_and_settle(&mut sender, &mut seen, "kept-", &text, fresh())
            .await
            .expect("acked");
        acked.push(text);
    }
    let mut on_b_watch = Watch::default();
    watch_until(&mut on_b, &mut on_b_watch, "kept-", "kept-9").await;
    assert_eq!(on_b_watch.texts, acked);
    assert_eq!(on_b_watch.gaps, 0, "nothing was lost");

    // A newcomer's history has every acknowledged message, once (sessions survived too).
    let mut late = bob.connect(&b, "room=lobby").await.unwrap();
    let mut history = Watch::default();
    watch_until(&mut late, &mut history, "kept-", "kept-9").await;
    assert_eq!(history.texts, acked);
    eprintln!(
        "redis restart (persistent): send refused after {failed_after:?}; ready and sending \
         again {recovered:?} after the restart"
    );
}

/// A read mark moved while Redis is down is not lost: the socket keeps it and stores it once
/// the room's feed is back, and every tab of the person hears of it.
#[tokio::test]
async fn a_read_mark_refused_while_redis_is_down_is_stored_when_it_is_back() {
    let mut redis = RedisServer::start_persistent();
    let Chat {
        a: _a,
        b,
        bob,
        mut sender,
        mut on_b,
    } = Chat::on(&redis).await;
    let said = sender.say_acked("lobby", "read me later").await;
    on_b.wait_for("the message", |f| {
        matches!(f, ServerMsg::Message(m) if m.id == said).then_some(())
    })
    .await;

    redis.kill();
    on_b.send_json(json!({"type": "read", "room": "lobby", "id": said}))
        .await;
    // Frames are handled in order: the heartbeat answers after the read was tried (and failed).
    on_b.send_json(json!({"type": "ping"})).await;
    on_b.wait_for("the heartbeat", |f| {
        matches!(f, ServerMsg::Heartbeat).then_some(())
    })
    .await;
    redis.restart();
    until_ready_is(&b, 200).await;

    on_b.wait_for("the stored mark", |f| match f {
        ServerMsg::Read { id, .. } => (*id == said).then_some(()),
        _ => None,
    })
    .await;
    // Stored, not only said: a new tab's catch-up has it.
    let mut tablet = bob.connect(&b, "room=lobby").await.unwrap();
    tablet
        .wait_for("the mark in the catch-up", |f| match f {
            ServerMsg::Read { id, .. } => (*id == said).then_some(()),
            _ => None,
        })
        .await;
}

/// Redis restarts empty: clients are told what they cannot get back (`gap`), see nothing twice,
/// and the service recovers by itself (a new login chats with them).
#[tokio::test]
async fn redis_restarted_empty_reports_the_gap_and_recovers() {
    let mut redis = RedisServer::start();
    let mut chat = Chat::on(&redis).await;
    let mut seen = Watch::default();
    for i in 0..3 {
        send_and_settle(
            &mut chat.sender,
            &mut seen,
            "lost-",
            &format!("lost-{i}"),
            fresh(),
        )
        .await
        .expect("acked");
    }
    let mut on_b_watch = Watch::default();
    watch_until(&mut chat.on_b, &mut on_b_watch, "lost-", "lost-2").await;

    redis.restart();
    let restarted = Instant::now();
    let gap_after = loop {
        match chat.on_b.next().await {
            Seen::Frame(ServerMsg::Gap { .. }) => break restarted.elapsed(),
            Seen::Frame(frame) => on_b_watch.see(&frame, "lost-"),
            Seen::Closed(code) => panic!("closed ({code:?}) instead of a gap"),
        }
    };
    // Sessions were lost with everything else: a returning user logs in again and chats.
    let dave = logged_in(&chat.a, "dave").await;
    let mut dave_socket = dave.connect(&chat.a, "room=lobby").await.unwrap();
    hello(&mut dave_socket).await;
    dave_socket.say("lost-after").await;
    watch_until(&mut chat.on_b, &mut on_b_watch, "lost-", "lost-after").await;
    assert_eq!(
        on_b_watch.texts,
        ["lost-0", "lost-1", "lost-2", "lost-after"]
    );
    eprintln!("redis restart (empty): gap reported {gap_after:?} after the restart");
}

/// Redis frozen (SIGSTOP) longer than the command timeouts: a send fails fast with
/// `unavailable`, readiness turns 503, nothing hangs; after SIGCONT everything recovers and the
/// retried message is stored once.
#[tokio::test]
async fn a_paused_redis_fails_sends_fast_and_recovers() {
    let redis = RedisServer::start();
    let mut chat = Chat::on(&redis).await;
    until_ready_is(&chat.a, 200).await;

    redis.pause();
    let paused = Instant::now();
    let mut seen = Watch::default();
    let stuck = fresh();
    let outcome = send_and_settle(&mut chat.sender, &mut seen, "frozen-", "frozen-0", stuck).await;
    assert_eq!(outcome, Err(ErrorCode::Unavailable));
    let refused_after = paused.elapsed();
    let unready_after = paused.elapsed() + until_ready_is(&chat.a, 503).await;
    // The socket itself is alive: heartbeats and pages do not need Redis.
    let page = reqwest::get(format!("{}/healthz", chat.a.base))
        .await
        .unwrap();
    assert_eq!(page.status(), 200);

    redis.resume();
    let resumed = Instant::now();
    until_ready_is(&chat.a, 200).await;
    let ready_after = resumed.elapsed();
    // The retry (same client id) is stored once, even if the frozen attempt ran on resume.
    let mut retried = Err(ErrorCode::Unavailable);
    while retried.is_err() {
        assert!(resumed.elapsed() < PATIENCE, "sends never recovered");
        retried = send_and_settle(&mut chat.sender, &mut seen, "frozen-", "frozen-0", stuck).await;
    }
    chat.sender.say("frozen-1").await;
    let mut on_b_watch = Watch::default();
    watch_until(&mut chat.on_b, &mut on_b_watch, "frozen-", "frozen-1").await;
    assert_eq!(on_b_watch.texts, ["frozen-0", "frozen-1"]);
    eprintln!(
        "redis paused: send refused after {refused_after:?}, not ready after {unready_after:?}; \
         ready again {ready_after:?} after SIGCONT"
    );
}

/// Readiness follows Redis: 503 while it is gone, 200 again once it is back.
#[tokio::test]
async fn readiness_follows_redis() {
    let mut redis = RedisServer::start();
    let a = Instance::start("a", Some(&redis.url()));
    until_ready_is(&a, 200).await;
    redis.kill();
    let unready = until_ready_is(&a, 503).await;
    redis.restart();
    let ready_again = until_ready_is(&a, 200).await;
    eprintln!(
        "redis killed: /readyz 503 after {unready:?}; 200 again {ready_again:?} after the restart"
    );
}

/// A logout on one instance closes the user's socket on another with 4401, within seconds; other
/// users' sockets stay.
#[tokio::test]
async fn a_logout_closes_the_users_sockets_on_every_instance() {
    let redis = RedisServer::start();
    let a = Instance::start("a", Some(&redis.url()));
    let b = Instance::start("b", Some(&redis.url()));
    let mut alice = logged_in(&a, "alice").await;
    let bob = logged_in(&b, "bob").await;
    let mut alice_on_b = alice.connect(&b, "room=lobby").await.unwrap();
    let mut bob_on_b = bob.connect(&b, "room=lobby").await.unwrap();
    hello(&mut alice_on_b).await;
    hello(&mut bob_on_b).await;
    let start = Instant::now();
    assert_eq!(alice.logout(&a).await.status, 200);
    assert_eq!(alice_on_b.wait_closed().await, Some(close_code::LOGGED_OUT));
    let closed_after = start.elapsed();
    bob_on_b.say("still here").await;
    bob_on_b
        .wait_for("bob's ack", |f| {
            matches!(f, ServerMsg::Ack { .. }).then_some(())
        })
        .await;
    eprintln!("logout on a closed the socket on b after {closed_after:?}");
}

/// Over-limit frames end with a 1009 close frame the client reads; binary frames with 1003.
#[tokio::test]
async fn limits_close_with_the_rfc_6455_codes() {
    let a = Instance::start("solo", None);
    let alice = logged_in(&a, "alice").await;
    let mut socket = alice.connect(&a, "room=lobby").await.unwrap();
    hello(&mut socket).await;
    socket.say(&"x".repeat(300 * 1024)).await;
    assert_eq!(socket.wait_closed().await, Some(close_code::TOO_BIG));

    let mut socket = alice.connect(&a, "room=lobby").await.unwrap();
    hello(&mut socket).await;
    socket.send_binary(vec![0, 1, 2]).await;
    assert_eq!(socket.wait_closed().await, Some(close_code::UNSUPPORTED));
}
