//! The second transport: a connection read as Server-Sent Events (`GET /sse`) with its frames
//! posted (`POST /sse/<id>`), beside WebSocket users, with exact resume by `Last-Event-ID`.

use crate::{
    helpers::{Browser, Instance, RedisServer, Seen, Socket, PATIENCE},
    logged_in, World,
};
use app::protocol::{ClientId, MessageId, MessageKind, ServerMsg};
use std::time::Instant;

backends!(
    a_stream_chats_with_a_socket,
    posts_through_any_instance_are_stored_in_the_order_posted,
    last_event_id_resumes_the_room_exactly,
    a_stream_needs_a_session_and_takes_posts_from_its_own_user,
    signing_out_ends_the_stream_with_4401,
);

/// One event of a stream.
#[derive(Debug)]
struct Event {
    event: Option<String>,
    id: Option<String>,
    data: String,
}

/// A test's event stream: read events, post frames.
struct Events {
    response: reqwest::Response,
    buffered: String,
    /// Where its frames are posted (the `stream` event said).
    post: String,
    base: String,
    cookie: Option<String>,
}

impl Events {
    /// Opens `/sse?<query>` with the browser's cookie (and `Last-Event-ID`, if given). Err carries
    /// the HTTP status of a refusal.
    async fn open(
        browser: &Browser,
        instance: &Instance,
        query: &str,
        last_event_id: Option<MessageId>,
    ) -> Result<Self, u16> {
        let mut request = reqwest::Client::new().get(format!("{}/sse?{query}", instance.base));
        if let Some(cookie) = &browser.cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id.to_string());
        }
        let response = request
            .send()
            .await
            .expect("the request reaches the instance");
        if !response.status().is_success() {
            return Err(response.status().as_u16());
        }
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let mut events = Self {
            response,
            buffered: String::new(),
            post: String::new(),
            base: instance.base.clone(),
            cookie: browser.cookie.clone(),
        };
        let first = events.next().await.expect("a first event");
        assert_eq!(first.event.as_deref(), Some("stream"), "{first:?}");
        let said: serde_json::Value = serde_json::from_str(&first.data).unwrap();
        events.post = said["post"].as_str().unwrap().to_owned();
        Ok(events)
    }

    /// The next event, or None when the stream ended.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffered.find("\n\n") {
                let block: String = self.buffered.drain(..end + 2).collect();
                let mut event = Event {
                    event: None,
                    id: None,
                    data: String::new(),
                };
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("data:") {
                        event.data.push_str(value.trim_start());
                    } else if let Some(value) = line.strip_prefix("event:") {
                        event.event = Some(value.trim_start().to_owned());
                    } else if let Some(value) = line.strip_prefix("id:") {
                        event.id = Some(value.trim_start().to_owned());
                    }
                }
                return Some(event);
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("an event within the patience")
                .expect("the stream reads")?;
            self.buffered.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Reads events until `pick` finds what it wants in one (as a frame, with the event's id).
    async fn until<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&ServerMsg, Option<&str>) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + PATIENCE;
        loop {
            assert!(Instant::now() < deadline, "no {what} on the stream");
            let event = self
                .next()
                .await
                .unwrap_or_else(|| panic!("ended before {what}"));
            if event.event.is_some() {
                continue;
            }
            let frame: ServerMsg = serde_json::from_str(&event.data).unwrap();
            if let Some(found) = pick(&frame, event.id.as_deref()) {
                return found;
            }
        }
    }

    /// Waits for the stream's `hello`: it is joined and live.
    async fn hello(&mut self) {
        self.until("hello", |f, _| {
            matches!(f, ServerMsg::Hello { .. }).then_some(())
        })
        .await
    }

    /// Posts one frame to the stream (through the instance at `instance_base`); the HTTP status.
    async fn post_via(&self, instance_base: &str, frame: serde_json::Value) -> u16 {
        post_as(self.cookie.as_deref(), instance_base, &self.post, frame).await
    }

    async fn post(&self, frame: serde_json::Value) -> u16 {
        self.post_via(&self.base.clone(), frame).await
    }

    /// Says `text` in the lobby; returns the id the `ack` gives it.
    async fn say(&mut self, text: &str) -> MessageId {
        let base = self.base.clone();
        self.say_via(&base, text).await
    }

    /// [`Events::say`], posting through the instance at `base`.
    async fn say_via(&mut self, base: &str, text: &str) -> MessageId {
        let client_id = ClientId(uuid::Uuid::new_v4());
        let frame = serde_json::json!({
            "type": "send", "room": "lobby", "text": text, "client_id": client_id,
        });
        assert_eq!(self.post_via(base, frame).await, 202);
        self.until("ack", |f, _| match f {
            ServerMsg::Ack { client_id: c, id } if *c == client_id => Some(*id),
            _ => None,
        })
        .await
    }
}

/// Waits on `socket` for the text message `text`.
async fn heard(socket: &mut Socket, text: &str) -> MessageId {
    let deadline = Instant::now() + PATIENCE;
    loop {
        assert!(Instant::now() < deadline, "{text} did not arrive");
        if let Seen::Frame(ServerMsg::Message(m)) = socket.next().await {
            if m.text == text {
                return m.id;
            }
        }
    }
}

async fn a_stream_chats_with_a_socket(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let bob = logged_in(world.b(), "bob").await;
    let mut stream = Events::open(&alice, &world.a, "room=lobby", None)
        .await
        .expect("a stream");
    stream.hello().await;
    let mut socket = bob
        .connect(world.b(), "room=lobby")
        .await
        .expect("a socket");
    socket
        .wait_for("hello", |f| {
            matches!(f, ServerMsg::Hello { .. }).then_some(())
        })
        .await;

    // Alice posts; Bob's socket (on the other instance, with Redis) hears it.
    let id = stream.say("over the stream").await;
    assert_eq!(heard(&mut socket, "over the stream").await, id);
    // Her own message comes on her stream too, its id as the event's id.
    let event_id = stream
        .until("her message", |f, event_id| match f {
            ServerMsg::Message(m) if m.id == id => Some(event_id.map(str::to_owned)),
            _ => None,
        })
        .await;
    assert_eq!(event_id, Some(id.to_string()));

    // A post may reach any instance (no sticky sessions): through the other one, it is taken
    // where the stream is.
    let through_b = stream.say_via(&world.b().base, "posted through b").await;
    assert_eq!(heard(&mut socket, "posted through b").await, through_b);

    // Bob answers; the stream hears it.
    let answer = socket.say("over the socket").await;
    stream
        .until("bob's message", |f, _| match f {
            ServerMsg::Message(m) if m.client_id == Some(answer) => Some(()),
            _ => None,
        })
        .await;

    // A frame the connection refuses is answered on the stream, as on a socket.
    assert_eq!(
        stream.post(serde_json::json!({"type": "nonsense"})).await,
        202
    );
    stream
        .until("an error", |f, _| {
            matches!(f, ServerMsg::Error { .. }).then_some(())
        })
        .await;
    // A ping is answered by a heartbeat.
    assert_eq!(stream.post(serde_json::json!({"type": "ping"})).await, 202);
    stream
        .until("a heartbeat", |f, _| {
            matches!(f, ServerMsg::Heartbeat).then_some(())
        })
        .await;
}

async fn posts_through_any_instance_are_stored_in_the_order_posted(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let mut stream = Events::open(&alice, &world.a, "room=lobby", None)
        .await
        .expect("a stream");
    // One at a time, each once the one before was accepted, alternating between the instance
    // holding the stream and the other: the ids the server gives them rise in that order.
    let mut client_ids = Vec::new();
    for i in 0..12 {
        let base = if i % 2 == 0 {
            &world.a.base
        } else {
            &world.b().base
        };
        let client_id = ClientId(uuid::Uuid::new_v4());
        let frame = serde_json::json!({
            "type": "send", "room": "lobby", "text": format!("in order {i}"), "client_id": client_id,
        });
        assert_eq!(stream.post_via(base, frame).await, 202);
        client_ids.push(client_id);
    }
    let mut acked = Vec::new();
    while acked.len() < client_ids.len() {
        let ack = stream
            .until("an ack", |f, _| match f {
                ServerMsg::Ack { client_id, id } => Some((*client_id, *id)),
                _ => None,
            })
            .await;
        acked.push(ack);
    }
    let order: Vec<ClientId> = acked.iter().map(|(c, _)| *c).collect();
    assert_eq!(order, client_ids, "answered in the order posted");
    assert!(
        acked.windows(2).all(|w| w[0].1 < w[1].1),
        "stored in that order: {acked:?}"
    );
}

async fn last_event_id_resumes_the_room_exactly(world: &World) {
    let alice = logged_in(&world.a, "alice").await;
    let mut first = Events::open(&alice, &world.a, "room=lobby", None)
        .await
        .expect("a stream");
    let one = first.say("one").await;
    let two = first.say("two").await;
    let three = first.say("three").await;
    drop(first);

    // What a reconnecting EventSource sends: the last event id it read.
    let mut again = Events::open(&alice, &world.a, "room=lobby", Some(one))
        .await
        .expect("a stream");
    let mut seen = Vec::new();
    while seen.last() != Some(&three) {
        let id = again
            .until("a message", |f, _| match f {
                ServerMsg::Message(m) if m.kind == MessageKind::Text => Some(m.id),
                _ => None,
            })
            .await;
        seen.push(id);
    }
    assert_eq!(
        seen,
        [two, three],
        "exactly what came after the last event read"
    );
}

/// Posts one frame to `path` at `base` with a browser's cookie (or none); the HTTP status.
async fn post_as(cookie: Option<&str>, base: &str, path: &str, frame: serde_json::Value) -> u16 {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(frame.to_string());
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap().status().as_u16()
}

async fn a_stream_needs_a_session_and_takes_posts_from_its_own_user(world: &World) {
    let stranger = Browser::new();
    assert_eq!(
        Events::open(&stranger, &world.a, "room=lobby", None)
            .await
            .err(),
        Some(401)
    );
    let alice = logged_in(&world.a, "alice").await;
    let stream = Events::open(&alice, &world.a, "room=lobby", None)
        .await
        .expect("a stream");
    // Mallory, signed in, knows the stream's address: it is not hers.
    let mallory = logged_in(&world.a, "mallory").await;
    let ping = || serde_json::json!({"type": "ping"});
    let base = world.a.base.as_str();
    let mallory = mallory.cookie.as_deref();
    assert_eq!(post_as(mallory, base, &stream.post, ping()).await, 404);
    assert_eq!(post_as(None, base, &stream.post, ping()).await, 401);
    let alice = alice.cookie.as_deref();
    assert_eq!(post_as(alice, base, "/sse/not-a-stream", ping()).await, 404);
}

impl Events {
    /// Reads until the stream's `close` event; its code.
    async fn closed(&mut self) -> Option<u64> {
        while let Some(event) = self.next().await {
            if event.event.as_deref() == Some("close") {
                let said: serde_json::Value = serde_json::from_str(&event.data).unwrap();
                return said["code"].as_u64();
            }
        }
        None
    }
}

async fn signing_out_ends_the_stream_with_4401(world: &World) {
    let mut alice = logged_in(&world.a, "alice").await;
    let mut stream = Events::open(&alice, &world.a, "room=lobby", None)
        .await
        .expect("a stream");
    stream.hello().await;
    assert_eq!(alice.logout(world.b()).await.status, 200);
    assert_eq!(stream.closed().await, Some(4401));
    assert!(stream.next().await.is_none(), "and the stream ends");
}

/// SIGTERM: a stream is closed like a socket, with 1012 (reconnect elsewhere, soon), and ends.
#[tokio::test]
async fn sigterm_closes_streams_with_1012() {
    let redis = RedisServer::start();
    let mut a = Instance::start_with("a", Some(&redis.url()), &[("DRAIN_SECS", "1")]);
    let alice = logged_in(&a, "alice").await;
    let mut stream = Events::open(&alice, &a, "room=lobby", None)
        .await
        .expect("a stream");
    stream.hello().await;
    a.signal_term();
    assert_eq!(stream.closed().await, Some(1012));
    assert!(a.wait_exit().success());
}
