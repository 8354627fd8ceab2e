//! The connection loop driven through an in-memory transport under paused time: heartbeats,
//! the drain, interruptions, logouts and refusals, with no wall clock and no sockets.

use super::Connection;
use crate::{
    backend::{self, Deliveries, Delivery, Stores},
    settings::{Limits, PresenceSettings, SessionSettings, SocketSettings, StoreSettings},
    state::{AppState, ServiceSettings, Services},
    testing::{user, Unreliable},
};
use app::protocol::{
    close_code, ChatMessage, ClientId, Draft, ErrorCode, MessageKind, RoomName, ServerMsg, User,
};
use axum::extract::ws::Message;
use futures_util::{Sink, Stream};
use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;

/// The server's end of a socket: what the client sent comes in, what the server sends goes out.
struct ServerEnd {
    incoming: mpsc::UnboundedReceiver<Result<Message, axum::Error>>,
    outgoing: mpsc::UnboundedSender<Message>,
}

impl Stream for ServerEnd {
    type Item = Result<Message, axum::Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.incoming.poll_recv(cx)
    }
}

impl Sink<Message> for ServerEnd {
    type Error = axum::Error;
    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Self::Error> {
        self.outgoing.send(item).map_err(axum::Error::new)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
}

/// The client's end.
struct Client {
    to_server: mpsc::UnboundedSender<Result<Message, axum::Error>>,
    from_server: mpsc::UnboundedReceiver<Message>,
}

// One at a time, on a test's stack: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
enum Seen {
    Frame(ServerMsg),
    Closed(u16),
}

impl Client {
    fn send(&self, json: serde_json::Value) {
        self.to_server
            .send(Ok(Message::Text(json.to_string().into())))
            .expect("the connection is reading");
    }

    fn send_raw(&self, message: Result<Message, axum::Error>) {
        self.to_server
            .send(message)
            .expect("the connection is reading");
    }

    async fn next(&mut self) -> Seen {
        // Paused time: this timeout only fires if the loop is stuck with nothing scheduled.
        let message = tokio::time::timeout(Duration::from_secs(3600), self.from_server.recv())
            .await
            .expect("a frame within the hour")
            .expect("the connection is open");
        match message {
            Message::Text(text) => Seen::Frame(serde_json::from_str(&text).expect("valid frame")),
            Message::Close(frame) => Seen::Closed(frame.map_or(0, |f| f.code)),
            other => panic!("unexpected {other:?}"),
        }
    }

    async fn frame(&mut self) -> ServerMsg {
        match self.next().await {
            Seen::Frame(frame) => frame,
            Seen::Closed(code) => panic!("closed with {code}"),
        }
    }

    /// Skips frames until `pick` matches one.
    /// The first frame `pick` takes, within a minute (of paused time).
    async fn until<T>(&mut self, mut pick: impl FnMut(&ServerMsg) -> Option<T>) -> T {
        tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                if let Some(found) = pick(&self.frame().await) {
                    return found;
                }
            }
        })
        .await
        .expect("the awaited frame within a minute")
    }

    async fn hello(&mut self) {
        self.until(|f| matches!(f, ServerMsg::Hello { .. }).then_some(()))
            .await;
    }

    async fn closed(&mut self) -> u16 {
        loop {
            if let Seen::Closed(code) = self.next().await {
                return code;
            }
        }
    }
}

/// An application state over the in-memory backend. The deliveries are returned rather than
/// pumped, so each test decides what the hub hears.
fn state() -> (AppState, Deliveries) {
    state_over(|stores| stores)
}

/// [`state`] over a message log whose reads can be refused (a store that is still failing over
/// when the subscription is already back).
fn refusing_state() -> (AppState, Deliveries, Arc<Unreliable>) {
    let mut refusing = None;
    let (state, deliveries) = state_over(|stores| {
        let log = Arc::new(Unreliable::over(stores.log.clone()));
        refusing = Some(log.clone());
        Stores { log, ..stores }
    });
    (state, deliveries, refusing.expect("the log was wrapped"))
}

/// [`state`] with the in-memory stores as `wrap` returns them, wired as the application wires
/// them.
fn state_over(wrap: impl FnOnce(Stores) -> Stores) -> (AppState, Deliveries) {
    let backend = backend::memory::start(&StoreSettings::default());
    let settings = ServiceSettings {
        instance: "test".to_owned(),
        socket: SocketSettings {
            heartbeat: Duration::from_secs(15),
            drain: Duration::from_secs(5),
        },
        limits: Limits::default(),
        presence: PresenceSettings::default(),
        sessions: SessionSettings {
            cookie: "JSESSIONID".to_owned(),
            ttl: Duration::from_secs(3600),
            secure: false,
        },
        origins: Default::default(),
        metrics_token: None,
        guests: true,
        admins: Vec::new(),
        sso: None,
        leptos: leptos::config::LeptosOptions::builder()
            .output_name("switchboard")
            .build(),
    };
    let metrics = crate::metrics::Metrics::new("test", "memory");
    let (state, background) = Services::wire(
        wrap(backend.stores),
        crate::state::Records::in_memory(),
        backend.deliveries,
        settings,
        metrics,
    );
    tokio::spawn(background.presence(CancellationToken::new()));
    (state, background.deliveries)
}

/// Passes every delivery on to the hub, as the application does.
fn pump(state: &AppState, deliveries: Deliveries) {
    tokio::spawn(state.hub.clone().pump(deliveries));
}

fn connect(state: &AppState, who: &User) -> Client {
    let (to_server, incoming) = mpsc::unbounded_channel();
    let (outgoing, from_server) = mpsc::unbounded_channel();
    let ticket = state.admission.admit(who.id, u32::MAX, u32::MAX).unwrap();
    let sign_in = app::session::SignIn::new(who.clone());
    let connection = Connection::new(state.clone(), sign_in, RoomName::lobby(), None, ticket);
    tokio::spawn(connection.run(ServerEnd { incoming, outgoing }));
    Client {
        to_server,
        from_server,
    }
}

async fn say(state: &AppState, who: &User, text: &str) -> ChatMessage {
    let draft = Draft::new(who.clone(), MessageKind::Text, text);
    let id = state
        .log
        .append(&RoomName::lobby(), &draft)
        .await
        .expect("stored")
        .id;
    draft.into_message(RoomName::lobby(), id)
}

/// What the logout route does, on any instance.
async fn log_out(state: &AppState, who: &User) {
    state
        .signals
        .revoke(
            crate::backend::Revocation::SignIn(app::session::SignIn::new(who.clone()).id),
            Duration::from_secs(60),
        )
        .await
        .expect("revoked");
}

fn text_of(frame: &ServerMsg) -> Option<String> {
    match frame {
        ServerMsg::Message(m) if m.kind == MessageKind::Text => Some(m.text.clone()),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn hello_announces_the_heartbeat_and_heartbeats_keep_that_pace() {
    let (state, deliveries) = state();
    pump(&state, deliveries);
    let mut client = connect(&state, &user("alice"));
    let start = Instant::now();
    let heartbeat_ms = client
        .until(|f| match f {
            ServerMsg::Hello { heartbeat_ms, .. } => Some(*heartbeat_ms),
            _ => None,
        })
        .await;
    assert_eq!(heartbeat_ms, 15_000);
    for beat in 1..=3u32 {
        client
            .until(|f| matches!(f, ServerMsg::Heartbeat).then_some(()))
            .await;
        assert_eq!(start.elapsed(), Duration::from_secs(15) * beat);
    }
}

#[tokio::test(start_paused = true)]
async fn a_ping_is_answered_by_a_heartbeat_at_once() {
    let (state, deliveries) = state();
    pump(&state, deliveries);
    let mut client = connect(&state, &user("alice"));
    client
        .until(|f| matches!(f, ServerMsg::Hello { .. }).then_some(()))
        .await;
    let start = Instant::now();
    client.send(serde_json::json!({"type":"ping"}));
    client
        .until(|f| matches!(f, ServerMsg::Heartbeat).then_some(()))
        .await;
    // Paused time: an answer, not the 15 s heartbeat.
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn an_interruption_is_backfilled_exactly_once_in_order() {
    let (state, mut deliveries) = state();
    let alice = user("alice");
    let mut client = joined(&state, &mut deliveries, &alice).await;
    let first = say(&state, &alice, "one").await;
    state.hub.handle(deliveries.recv().await.expect("one"));
    assert_eq!(client.until(text_of).await, "one");
    let _missed_two = say(&state, &alice, "two").await;
    let _missed_three = say(&state, &alice, "three").await;
    // Both are in the room's log but never reached the hub.
    assert!(matches!(
        deliveries.recv().await,
        Some(Delivery::Message(_))
    ));
    assert!(matches!(
        deliveries.recv().await,
        Some(Delivery::Message(_))
    ));

    state.hub.interrupted(&[RoomName::lobby()]);
    let four = say(&state, &alice, "four").await;
    pump(&state, deliveries);
    let mut texts = Vec::new();
    while texts.len() < 3 {
        texts.push(client.until(text_of).await);
    }
    assert_eq!(texts, ["two", "three", "four"]);
    assert!(first.id < four.id);
    // Nothing more: the live copy of "four" was dropped as already sent.
    client.send(serde_json::json!({"type":"send","room":"lobby","text":"five","client_id":ClientId(uuid::Uuid::new_v4())}));
    let next = client
        .until(|f| match f {
            ServerMsg::Message(m) => Some(m.text.clone()),
            ServerMsg::Ack { .. } => Some("ack".to_owned()),
            _ => None,
        })
        .await;
    assert!(
        next == "ack" || next == "five",
        "no duplicate of four: {next}"
    );
}

/// `who`'s socket, once it has read its own join notice. The hub hears the deliveries up to
/// that notice and no further: what follows is "missed" until the test passes it on.
async fn joined(state: &AppState, deliveries: &mut Deliveries, who: &User) -> Client {
    let mut client = connect(state, who);
    loop {
        let delivery = deliveries.recv().await.expect("the join notice");
        let join = matches!(&delivery, Delivery::Message(m) if m.kind == MessageKind::Join);
        state.hub.handle(delivery);
        if join {
            break;
        }
    }
    client
        .until(|f| matches!(f, ServerMsg::Message(m) if m.kind == MessageKind::Join).then_some(()))
        .await;
    client
}

/// Alice's socket, past its join notice, with "two" stored but never delivered: the room's
/// next interruption has something to backfill.
async fn missed_one(state: &AppState, deliveries: &mut Deliveries) -> Client {
    let alice = user("alice");
    let client = joined(state, deliveries, &alice).await;
    say(state, &alice, "two").await;
    assert!(matches!(
        deliveries.recv().await,
        Some(Delivery::Message(_))
    ));
    client
}

#[tokio::test(start_paused = true)]
async fn a_backfill_the_store_refuses_for_a_moment_is_retried_not_closed() {
    let (state, mut deliveries, log) = refusing_state();
    let mut client = missed_one(&state, &mut deliveries).await;
    log.refuse(3);
    let interrupted = Instant::now();
    state.hub.interrupted(&[RoomName::lobby()]);
    pump(&state, deliveries);
    assert_eq!(client.until(text_of).await, "two");
    // Three refusals: waits of 250 + 500 + 1,000 ms before the read that worked.
    assert_eq!(interrupted.elapsed(), Duration::from_millis(1750));
    let client_id = ClientId(uuid::Uuid::new_v4());
    client.send(
        serde_json::json!({"type":"send","room":"lobby","text":"three","client_id":client_id}),
    );
    client
        .until(|f| {
            matches!(f, ServerMsg::Ack { client_id: c, .. } if *c == client_id).then_some(())
        })
        .await;
}

#[tokio::test(start_paused = true)]
async fn a_backfill_the_store_keeps_refusing_closes_with_1013() {
    let (state, mut deliveries, log) = refusing_state();
    let mut client = missed_one(&state, &mut deliveries).await;
    log.refuse(usize::MAX);
    let interrupted = Instant::now();
    state.hub.interrupted(&[RoomName::lobby()]);
    pump(&state, deliveries);
    let refusal = client
        .until(|f| match f {
            ServerMsg::Error { code, .. } => Some(*code),
            _ => None,
        })
        .await;
    assert_eq!(refusal, ErrorCode::Unavailable);
    assert_eq!(client.closed().await, close_code::AGAIN);
    assert_eq!(interrupted.elapsed(), Duration::from_millis(7750));
}

#[tokio::test(start_paused = true)]
async fn a_logout_elsewhere_closes_the_users_sockets_only() {
    let (state, deliveries) = state();
    pump(&state, deliveries);
    let (alice, bob) = (user("alice"), user("bob"));
    let mut on_alice = connect(&state, &alice);
    let mut on_bob = connect(&state, &bob);
    for client in [&mut on_alice, &mut on_bob] {
        client.hello().await;
    }
    log_out(&state, &alice).await;
    assert_eq!(on_alice.closed().await, close_code::LOGGED_OUT);
    // Bob stays, and sees Alice leave.
    on_bob
        .until(|f| matches!(f, ServerMsg::Message(m) if m.kind == MessageKind::Leave && m.user.id == alice.id).then_some(()))
        .await;
}

#[tokio::test(start_paused = true)]
async fn a_logout_missed_during_an_interruption_is_caught_by_the_backfill() {
    let (state, mut deliveries) = state();
    let alice = user("alice");
    let mut client = connect(&state, &alice);
    client.hello().await;
    log_out(&state, &alice).await;
    // The announcement is lost with the interruption...
    while let Ok(delivery) = deliveries.try_recv() {
        drop(delivery);
    }
    // ...but the interruption itself is not.
    state.hub.interrupted(&[RoomName::lobby()]);
    assert_eq!(client.closed().await, close_code::LOGGED_OUT);
}

#[tokio::test(start_paused = true)]
async fn a_drain_closes_with_1012_inside_the_window() {
    let (state, deliveries) = state();
    pump(&state, deliveries);
    let mut clients: Vec<Client> = (0..5).map(|_| connect(&state, &user("a"))).collect();
    for client in &mut clients {
        client.hello().await;
    }
    let start = Instant::now();
    state.shutdown.cancel();
    for client in &mut clients {
        assert_eq!(client.closed().await, close_code::RESTART);
        let at = start.elapsed();
        assert!(
            at >= state.settings.socket.drain / 5 && at <= state.settings.socket.drain,
            "closed {at:?} into a {:?} drain",
            state.settings.socket.drain
        );
    }
}

#[tokio::test(start_paused = true)]
async fn every_refused_send_names_its_client_id() {
    let (state, deliveries) = state();
    pump(&state, deliveries);
    let mut client = connect(&state, &user("alice"));
    client.hello().await;
    let cases = [
        (
            serde_json::json!({"type":"send","room":"lobby","text":"   "}),
            ErrorCode::InvalidText,
        ),
        (
            serde_json::json!({"type":"send","room":"other","text":"hi"}),
            ErrorCode::WrongRoom,
        ),
        (
            serde_json::json!({"type":"shout","room":"lobby","text":"hi"}),
            ErrorCode::BadFrame,
        ),
        (
            serde_json::json!({"type":"send","room":"lobby","text":"x".repeat(20_000)}),
            ErrorCode::TooLarge,
        ),
    ];
    for (mut frame, expected) in cases {
        let id = ClientId(uuid::Uuid::new_v4());
        frame["client_id"] = serde_json::json!(id);
        client.send(frame);
        let (code, named) = client
            .until(|f| match f {
                ServerMsg::Error {
                    code, client_id, ..
                } => Some((*code, *client_id)),
                _ => None,
            })
            .await;
        assert_eq!((code, named), (expected, Some(id)));
    }
}

#[tokio::test(start_paused = true)]
async fn binary_frames_close_with_1003_and_oversize_ones_with_1009() {
    let (state, deliveries) = state();
    pump(&state, deliveries);
    let mut binary = connect(&state, &user("a"));
    binary.send_raw(Ok(Message::Binary(vec![1, 2, 3].into())));
    assert_eq!(binary.closed().await, close_code::UNSUPPORTED);

    let mut huge = connect(&state, &user("b"));
    huge.send_raw(Err(axum::Error::new(tungstenite::Error::Capacity(
        tungstenite::error::CapacityError::MessageTooLong {
            size: 1 << 20,
            max_size: super::HARD_FRAME_LIMIT,
        },
    ))));
    assert_eq!(huge.closed().await, close_code::TOO_BIG);
}

#[tokio::test(start_paused = true)]
async fn a_burst_is_written_in_batches_each_message_once_in_order() {
    let (state, deliveries) = state();
    pump(&state, deliveries);
    let alice = user("alice");
    let mut client = connect(&state, &alice);
    client.hello().await;
    // More than one batch, stored faster than the socket task runs.
    for i in 0..150 {
        say(&state, &alice, &format!("burst {i}")).await;
    }
    let mut texts = Vec::new();
    while texts.len() < 150 {
        texts.push(client.until(text_of).await);
    }
    let expected: Vec<String> = (0..150).map(|i| format!("burst {i}")).collect();
    assert_eq!(texts, expected);
}

/// Every socket's task is its connection's future, as large as the largest state of the loop
/// (a write, a frame being handled, a burst being delivered), whether or not it is ever in it:
/// docs/performance.md ("the socket's task") has the per-state sizes. Measured with this
/// in-memory transport: 992 bytes since accounts and the rooms' door (896 after the redesign,
/// 944 before the commands had files of their own and the transport decoded frames); the budget
/// leaves room for a compiler's layout to move.
#[tokio::test]
async fn the_socket_task_stays_small() {
    let (state, _deliveries) = state();
    let (_to_server, incoming) = mpsc::unbounded_channel();
    let (outgoing, _from_server) = mpsc::unbounded_channel();
    let who = user("alice");
    let ticket = state.admission.admit(who.id, u32::MAX, u32::MAX).unwrap();
    let connection = Connection::new(
        state.clone(),
        app::session::SignIn::new(who),
        RoomName::lobby(),
        None,
        ticket,
    );
    let task = connection.run(ServerEnd { incoming, outgoing });
    let size = std::mem::size_of_val(&task);
    eprintln!("the socket task: {size} bytes");
    assert!(size <= 1024, "the socket's future grew to {size} bytes");
}

/// A person with an account (a guest is never a room's member).
fn account(name: &str) -> User {
    User {
        handle: Some(app::protocol::Handle::parse(name).expect("valid handle")),
        ..user(name)
    }
}

#[tokio::test(start_paused = true)]
async fn a_removal_drops_the_room_for_the_removed_person_only() {
    use app::protocol::Removal;
    let (state, deliveries) = state();
    pump(&state, deliveries);
    let (bo, cy) = (account("bo"), account("cy"));
    let mut removed = connect(&state, &bo);
    let mut stays = connect(&state, &cy);
    for client in [&mut removed, &mut stays] {
        client
            .until(|f| matches!(f, ServerMsg::Presence { .. }).then_some(()))
            .await;
    }
    let lobby = RoomName::lobby();
    state.hub.removed(&lobby, bo.id, Removal::Banned);
    let frame = removed
        .until(|f| matches!(f, ServerMsg::Removed { .. }).then(|| f.clone()))
        .await;
    assert_eq!(
        frame,
        ServerMsg::Removed {
            room: lobby.clone(),
            reason: Removal::Banned
        }
    );
    // Nothing more from the room reaches the removed socket; the other hears on.
    say(&state, &cy, "after").await;
    assert_eq!(stays.until(text_of).await, "after");
    removed.send(serde_json::json!({"type": "history", "room": "lobby", "before": "9-0"}));
    let code = removed
        .until(|f| match f {
            ServerMsg::Error { code, .. } => Some(*code),
            ServerMsg::Message(m) => panic!("heard the room after the removal: {m:?}"),
            _ => None,
        })
        .await;
    assert_eq!(code, ErrorCode::WrongRoom);
}

#[tokio::test(start_paused = true)]
async fn a_removal_lost_in_an_interruption_is_found_in_the_records() {
    use crate::memberships::Moderation;
    use app::protocol::Removal;
    let (state, deliveries) = state();
    pump(&state, deliveries);
    let (ada, bo) = (account("ada"), account("bo"));
    let mut client = connect(&state, &bo);
    client
        .until(|f| matches!(f, ServerMsg::Presence { .. }).then_some(()))
        .await;
    let lobby = RoomName::lobby();
    // The ban is recorded, but its announcement never arrives: delivery was interrupted.
    state
        .memberships
        .moderate(&lobby, ada.id, &Moderation::Banned(bo.id))
        .await
        .expect("recorded");
    state.hub.interrupted(std::slice::from_ref(&lobby));
    let reason = client
        .until(|f| match f {
            ServerMsg::Removed { reason, .. } => Some(*reason),
            ServerMsg::Message(m) if m.kind.is_said() => {
                panic!("backfilled a room it is banned from: {m:?}")
            }
            _ => None,
        })
        .await;
    assert_eq!(reason, Removal::Banned);
}
