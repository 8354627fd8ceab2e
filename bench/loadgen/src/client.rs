//! One simulated user: log in, open the room's socket, read every frame, send on schedule if it
//! is a sender, and after a lost connection come back the way the browser does (a short random
//! delay, optionally `GET /`, then the socket again with `after=` the last id it has, re-sending
//! what was not acknowledged).

use crate::{
    cli::Proto,
    run::Run,
    wire::{self, Cookies, SbFrame, SioFrame, Socket},
};
use anyhow::{bail, Context};
use app::protocol::{close_code, ClientId};
use std::{collections::VecDeque, rc::Rc, time::Duration};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{protocol::CloseFrame, Message};

/// Attempts at the first login and connect before a client counts as failed.
const FIRST_ATTEMPTS: usize = 3;
/// How long to wait before re-sending messages the server refused as transient.
const RETRY_AFTER: Duration = Duration::from_millis(250);
/// How long the first frames (`hello`, or Socket.IO's handshake) may take.
const GREETING_TIMEOUT: Duration = Duration::from_secs(20);

/// How a socket's life ended.
enum Ended {
    /// The run is over.
    Stopped,
    /// The server ended the session (`4401`): do not come back.
    LoggedOut,
    /// The connection was lost or closed: reconnect.
    Lost,
}

/// A message sent and not yet acknowledged.
struct Pending {
    seq: u32,
    client_id: ClientId,
    frame: String,
}

/// The sending side of a sender client: an open-loop schedule and the unacknowledged messages.
struct Sender {
    index: usize,
    next_seq: u32,
    /// Time between this sender's messages, and its offset in the interleaved schedule.
    period: Duration,
    offset: Duration,
    /// Sending stops at this long after the start.
    until: Duration,
    outbox: VecDeque<Pending>,
    retry_at: Option<Instant>,
}

impl Sender {
    fn new(index: usize, run: &Run) -> Self {
        let args = &run.args;
        let per_message = 1.0 / args.rate;
        Self {
            index,
            next_seq: 0,
            period: Duration::from_secs_f64(per_message * args.senders as f64),
            offset: Duration::from_secs_f64(per_message * index as f64),
            until: Duration::from_secs_f64(args.warmup + args.duration),
            outbox: VecDeque::new(),
            retry_at: None,
        }
    }

    /// When the next message is due, if the schedule has one left.
    fn next_due(&self, start: Option<Instant>) -> Option<Instant> {
        let at = self.offset + self.period * self.next_seq;
        (at < self.until).then(|| start.map(|s| s + at)).flatten()
    }

    /// Builds every message due by now (a sender that was reconnecting catches up at once).
    /// Each is stamped with the moment it is sent, as the reference load generator does: the
    /// timer's millisecond granularity must not count as server latency. How late sends were
    /// against the schedule is recorded apart (`send_lag`), so a load generator that falls
    /// behind cannot hide it.
    fn take_due(&mut self, run: &Run, start: Instant, room: &str) -> Vec<String> {
        let mut frames = Vec::new();
        let now = Instant::now();
        while let Some(due) = self.next_due(Some(start)).filter(|&d| d <= now) {
            let seq = self.next_seq;
            self.next_seq += 1;
            run.stats.borrow_mut().send_lag(now - due);
            let mut ledger = run.ledger.borrow_mut();
            let text = ledger.text(self.index, seq, now.into_std(), run.args.size);
            ledger.sent(self.index);
            let frame = match run.args.proto {
                Proto::Sb | Proto::Sse => {
                    let client_id = ClientId(uuid::Uuid::new_v4());
                    let frame = wire::sb_send(room, text, client_id);
                    self.outbox.push_back(Pending {
                        seq,
                        client_id,
                        frame: frame.clone(),
                    });
                    frame
                }
                Proto::Sio => {
                    // Socket.IO has no acknowledgement of a chat event: sent is as good as it gets.
                    ledger.acked(self.index);
                    wire::sio_chat(room, &text)
                }
            };
            frames.push(frame);
        }
        frames
    }

    /// The server stored the message with `client_id`.
    fn acked(&mut self, run: &Run, client_id: ClientId) {
        let Some(at) = self.position(client_id) else {
            return; // the answer to a re-send of something already acknowledged
        };
        self.outbox.remove(at);
        run.ledger.borrow_mut().acked(self.index);
    }

    /// The server refused the message with `client_id`: try again soon, or give it up.
    fn refused(&mut self, run: &Run, client_id: ClientId, code: &str) {
        if code == "unavailable" || code == "lagged" {
            self.retry_at.get_or_insert(Instant::now() + RETRY_AFTER);
        } else if let Some(at) = self.position(client_id) {
            let pending = self.outbox.remove(at).expect("a position in the outbox");
            run.ledger.borrow_mut().refused(self.index, pending.seq);
        }
    }

    fn position(&self, client_id: ClientId) -> Option<usize> {
        self.outbox.iter().position(|p| p.client_id == client_id)
    }

    fn done(&self, start: Option<Instant>) -> bool {
        start.is_some() && self.next_due(start).is_none() && self.outbox.is_empty()
    }
}

/// Runs client `index` until the run stops, it is logged out, or its first connect fails.
pub async fn client(run: Rc<Run>, index: usize) {
    let args = &run.args;
    let mut turn = 0;
    let mut base = args.urls[index % args.urls.len()].clone();
    let room = args.room_of(index);
    let mut cookies = Cookies::default();
    let mut sender = (index < args.senders).then(|| Sender::new(index, &run));
    let mut last_id: Option<String> = None;

    // The first connect, limited to a few at once.
    let mut socket = {
        let _permit = run
            .connect_gate
            .acquire()
            .await
            .expect("the gate stays open");
        let mut attempt = 0;
        loop {
            attempt += 1;
            match first_connect(&run, index, &base, &room, &mut cookies).await {
                Ok(socket) => break socket,
                Err(e) if attempt >= FIRST_ATTEMPTS || run.stop.is_cancelled() => {
                    run.stats.borrow_mut().failed(&e);
                    return;
                }
                Err(_) => jitter().await,
            }
        }
    };
    loop {
        let ended = serve(
            &run,
            index,
            &room,
            &mut socket,
            &mut last_id,
            sender.as_mut(),
        )
        .await;
        run.stats.borrow_mut().closed();
        match ended {
            Ended::Stopped => return,
            Ended::LoggedOut => {
                run.stats.borrow_mut().logged_out += 1;
                return;
            }
            Ended::Lost => {}
        }
        // Come back like the browser: a short random delay (so a crowd does not return at
        // once), the probe, then the socket, resuming after the last id.
        // Given several URLs, a failed attempt moves on to the next one, as a load balancer
        // sends a request whose instance is gone to a live one.
        let down_since = Instant::now();
        run.stats.borrow_mut().disconnected();
        socket = loop {
            jitter().await;
            if run.stop.is_cancelled() {
                return;
            }
            let probed = !(args.probe && args.proto.is_switchboard())
                || wire::probe(&run.http, &base, &mut cookies).await.is_ok();
            if probed {
                if let Ok(socket) =
                    connect(&run, index, &base, &room, &cookies, last_id.as_deref()).await
                {
                    break socket;
                }
            }
            turn += 1;
            base = args.urls[(index + turn) % args.urls.len()].clone();
        };
        run.stats.borrow_mut().resumed(down_since.elapsed());
    }
}

async fn first_connect(
    run: &Run,
    index: usize,
    base: &str,
    room: &str,
    cookies: &mut Cookies,
) -> anyhow::Result<Socket> {
    if run.args.proto.is_switchboard() {
        let name = format!("lg{}-{index}", run.tag);
        *cookies = wire::login(&run.http, base, &name).await?;
    }
    connect(run, index, base, room, cookies, None).await
}

/// Opens the socket and waits for its greeting (`hello`, or Socket.IO's join acknowledgement).
async fn connect(
    run: &Run,
    index: usize,
    base: &str,
    room: &str,
    cookies: &Cookies,
    after: Option<&str>,
) -> anyhow::Result<Socket> {
    let mut socket = wire::open(&run.http, run.args.proto, base, room, cookies, after).await?;
    let greeted = tokio::time::timeout(GREETING_TIMEOUT, greet(run, &mut socket, room));
    let instance = greeted.await.context("no greeting in time")??;
    run.stats.borrow_mut().opened(index, instance);
    Ok(socket)
}

async fn greet(run: &Run, socket: &mut Socket, room: &str) -> anyhow::Result<Option<String>> {
    while let Some(frame) = socket.next().await {
        let Message::Text(text) = frame? else {
            continue;
        };
        match run.args.proto {
            Proto::Sb | Proto::Sse => {
                let frame: SbFrame = serde_json::from_str(&text)?;
                match frame.kind.as_ref() {
                    "hello" => return Ok(frame.instance.map(|i| i.into_owned())),
                    "error" => bail!("refused: {}", frame.code.as_deref().unwrap_or("?")),
                    _ => {}
                }
            }
            Proto::Sio => match wire::sio_frame(&text) {
                SioFrame::Open => socket.send(Message::text("40")).await?,
                SioFrame::Connected => socket.send(Message::text(wire::sio_join(room))).await?,
                SioFrame::Joined => return Ok(None),
                SioFrame::Ping => socket.send(Message::text("3")).await?,
                SioFrame::Chat(_) | SioFrame::Other => {}
            },
        }
    }
    bail!("closed before the greeting")
}

/// One socket's life after its greeting.
async fn serve(
    run: &Run,
    index: usize,
    room: &str,
    socket: &mut Socket,
    last_id: &mut Option<String>,
    mut sender: Option<&mut Sender>,
) -> Ended {
    let mut start_rx = run.start.clone();
    // Whatever was not acknowledged goes again (the client id makes a re-send idempotent).
    if let Some(sender) = sender.as_deref_mut() {
        if resend(socket, sender).await.is_err() {
            return Ended::Lost;
        }
    }
    loop {
        let start = *start_rx.borrow();
        let due = sender.as_deref().and_then(|s| s.next_due(start));
        let retry_at = sender.as_deref().and_then(|s| s.retry_at);
        if sender.as_deref().is_some_and(|s| s.done(start)) {
            run.stats.borrow_mut().senders_done.insert(index);
        }
        tokio::select! {
            _ = run.stop.cancelled() => {
                let _ = socket.close(None).await;
                return Ended::Stopped;
            }
            changed = start_rx.changed(), if start.is_none() => {
                if changed.is_err() {
                    return Ended::Stopped;
                }
            }
            _ = sleep_until(due), if due.is_some() => {
                let sender = sender.as_deref_mut().expect("only senders have a schedule");
                let start = start.expect("a due time needs the start");
                for frame in sender.take_due(run, start, room) {
                    if socket.feed(Message::text(frame)).await.is_err() {
                        return Ended::Lost;
                    }
                }
                if socket.flush().await.is_err() {
                    return Ended::Lost;
                }
            }
            _ = sleep_until(retry_at), if retry_at.is_some() => {
                let sender = sender.as_deref_mut().expect("only senders retry");
                sender.retry_at = None;
                if resend(socket, sender).await.is_err() {
                    return Ended::Lost;
                }
            }
            frame = socket.next() => match frame {
                Some(Ok(Message::Text(text))) => {
                    if let Err(ended) = read(run, index, socket, &text, last_id, sender.as_deref_mut()).await {
                        return ended;
                    }
                }
                Some(Ok(Message::Close(frame))) => return closed(frame),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Ended::Lost,
            },
        }
    }
}

/// Handles one text frame from the server.
async fn read(
    run: &Run,
    index: usize,
    socket: &mut Socket,
    text: &str,
    last_id: &mut Option<String>,
    sender: Option<&mut Sender>,
) -> Result<(), Ended> {
    match run.args.proto {
        Proto::Sb | Proto::Sse => {
            let Ok(frame) = serde_json::from_str::<SbFrame>(text) else {
                run.stats.borrow_mut().unreadable += 1;
                return Ok(());
            };
            match frame.kind.as_ref() {
                "message" => {
                    let body = frame.text.as_deref().unwrap_or_default();
                    run.ledger
                        .borrow_mut()
                        .received(index, body, std::time::Instant::now());
                    if let Some(id) = frame.id {
                        let last = last_id.get_or_insert_with(String::new);
                        last.clear();
                        last.push_str(&id);
                    }
                }
                "ack" => {
                    if let (Some(sender), Some(client_id)) = (sender, frame.client_id) {
                        sender.acked(run, client_id);
                    }
                }
                "error" => {
                    let code = frame.code.as_deref().unwrap_or_default();
                    run.stats.borrow_mut().count_error(code);
                    if let (Some(sender), Some(client_id)) = (sender, frame.client_id) {
                        sender.refused(run, client_id, code);
                    }
                }
                _ => {}
            }
        }
        Proto::Sio => match wire::sio_frame(text) {
            SioFrame::Chat(body) => {
                run.ledger
                    .borrow_mut()
                    .received(index, &body, std::time::Instant::now());
            }
            SioFrame::Ping if socket.send(Message::text("3")).await.is_err() => {
                return Err(Ended::Lost);
            }
            _ => {}
        },
    }
    Ok(())
}

async fn resend(socket: &mut Socket, sender: &mut Sender) -> Result<(), ()> {
    if sender.outbox.is_empty() {
        return Ok(());
    }
    for pending in &sender.outbox {
        socket
            .feed(Message::text(pending.frame.clone()))
            .await
            .map_err(drop)?;
    }
    socket.flush().await.map_err(drop)
}

fn closed(frame: Option<CloseFrame>) -> Ended {
    match frame {
        Some(frame) if u16::from(frame.code) == close_code::LOGGED_OUT => Ended::LoggedOut,
        _ => Ended::Lost,
    }
}

/// A random pause of 50–250 ms before (re)connecting, as the browser client waits.
async fn jitter() {
    tokio::time::sleep(Duration::from_millis(fastrand::u64(50..=250))).await;
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
