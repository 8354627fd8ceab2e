//! Real processes for the integration tests: a `redis-server` of their own, `switchboard`
//! instances started from the built binary, and HTTP/WebSocket clients that log in like a browser.
//! Every process is killed when its handle drops, also when a test panics. A PostgreSQL of their
//! own is [`crate::postgres::Postgres`]; an instance gets it as `("DATABASE_URL", &pg.url())`.

use app::protocol::{ClientId, MessageId, ServerMsg, UserId};
use futures_util::{SinkExt, StreamExt};
use std::{
    collections::VecDeque,
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex},
    time::{Duration, Instant},
};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, http::HeaderValue};

/// How many of an instance's last log lines a failed test prints.
const LOG_TAIL: usize = 60;

/// How long any single expected event may take before a test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A `redis-server` on a private Unix socket in a temporary directory.
pub struct RedisServer {
    child: Child,
    socket: PathBuf,
    dir: tempfile::TempDir,
    persistent: bool,
}

impl RedisServer {
    /// A server that keeps nothing on disk.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// A server with an append-only file synced on every write: what it acknowledged survives
    /// a crash and restart.
    pub fn start_persistent() -> Self {
        Self::launch(true)
    }

    fn launch(persistent: bool) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for redis");
        let socket = dir.path().join("redis.sock");
        let child = Self::spawn(&socket, dir.path(), persistent);
        let server = Self {
            child,
            socket,
            dir,
            persistent,
        };
        server.wait_ready();
        server
    }

    fn spawn(socket: &std::path::Path, dir: &std::path::Path, persistent: bool) -> Child {
        let mut command = Command::new("redis-server");
        command.args(["--port", "0", "--save", ""]);
        if persistent {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        command
            .arg("--unixsocket")
            .arg(socket)
            .arg("--dir")
            .arg(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (scripts/setup.sh test installs it)")
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + PATIENCE;
        while self.query(&mut redis::cmd("PING")).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs one command on a fresh connection.
    pub fn query(&self, command: &mut redis::Cmd) -> redis::RedisResult<redis::Value> {
        let client = redis::Client::open(self.url())?;
        let mut conn = client.get_connection_with_timeout(Duration::from_secs(1))?;
        command.query(&mut conn)
    }

    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Kills the server at once, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same socket and directory (after [`Self::kill`]); with
    /// persistence it reloads what it had acknowledged.
    pub fn restart(&mut self) {
        self.kill();
        let _ = std::fs::remove_file(&self.socket);
        self.child = Self::spawn(&self.socket, self.dir.path(), self.persistent);
        self.wait_ready();
    }

    /// Freezes the process (SIGSTOP): connections stay open and nothing answers.
    pub fn pause(&self) {
        signal(self.child.id(), "-STOP");
    }

    /// Thaws it (SIGCONT).
    pub fn resume(&self) {
        signal(self.child.id(), "-CONT");
    }
}

/// Sends a signal with kill(1).
pub fn signal(pid: u32, which: &str) {
    let status = Command::new("kill")
        .arg(which)
        .arg(pid.to_string())
        .status()
        .expect("kill(1) runs");
    assert!(status.success(), "kill {which} {pid}");
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A paused server ignores SIGKILL until continued on some systems: continue it first.
        self.resume_quietly();
        self.kill();
    }
}

impl RedisServer {
    fn resume_quietly(&self) {
        let _ = Command::new("kill")
            .arg("-CONT")
            .arg(self.child.id().to_string())
            .status();
    }
}

/// One `switchboard` process on a free port.
pub struct Instance {
    child: Child,
    /// The last lines the instance logged, printed if the test fails.
    log: Arc<Mutex<VecDeque<String>>>,
    pub name: String,
    pub base: String,
    pub ws_base: String,
}

impl Instance {
    /// Starts an instance using Redis at `redis_url`, or the in-memory backend when `None`.
    pub fn start(name: &str, redis_url: Option<&str>) -> Self {
        Self::start_with(name, redis_url, &[])
    }

    pub fn start_with(name: &str, redis_url: Option<&str>, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOST", "127.0.0.1")
            .env("PORT", "0")
            .env("INSTANCE_ID", name)
            .env("RUST_LOG", "info")
            // Every test logs in from 127.0.0.1, and some send fast: limits a test does not set
            // are out of its way (`limits.rs` and `accounts.rs` set their own).
            .env("RATE_LOGINS_PER_MIN", "60000")
            .env("RATE_SIGNINS_PER_ACCOUNT_PER_MIN", "60000")
            .env("RATE_SIGNUPS_PER_HOUR", "1000000")
            // Most tests come in as guests, under a name alone; `accounts.rs` tests both.
            .env("ALLOW_GUESTS", "true")
            .env("RATE_MESSAGES_PER_SEC", "1000")
            .env("RATE_MESSAGES_BURST", "100000")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = redis_url {
            command.env("REDIS_URL", url);
        }
        let mut child = command.spawn().expect("the switchboard binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        let log = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_TAIL)));
        let tail = log.clone();
        // Read the log on a thread: find the address, then keep draining so the pipe never fills.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on http://").nth(1) {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
                if std::env::var_os("SWITCHBOARD_TEST_LOGS").is_some() {
                    eprintln!("[instance] {line}");
                }
                let mut tail = tail.lock().expect("the log tail");
                if tail.len() == LOG_TAIL {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let addr = rx.recv_timeout(PATIENCE).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("instance {name} did not report its address");
        });
        Self {
            child,
            log,
            name: name.to_owned(),
            base: format!("http://{addr}"),
            ws_base: format!("ws://{addr}"),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (up to `PATIENCE`) for the process to exit; returns its status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        self.signal_term();
        self.wait_exit()
    }

    /// Sends SIGTERM (what Cloud Foundry sends before stopping an instance).
    pub fn signal_term(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status();
    }

    /// Waits (up to `PATIENCE`) for the process to exit; returns its status.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "instance {} ignored SIGTERM",
                self.name
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failed test shows what each of its instances last said: on a slow CI machine that
        // is often the only account of what happened.
        if std::thread::panicking() {
            let tail = self.log.lock().map(|t| t.clone()).unwrap_or_default();
            eprintln!(
                "--- the last {} log lines of instance {} ---",
                tail.len(),
                self.name
            );
            for line in tail {
                eprintln!("[{}] {line}", self.name);
            }
        }
    }
}

/// A browser-like HTTP client with one session cookie, handled by hand so tests can see it.
pub struct Browser {
    http: reqwest::Client,
    pub cookie_name: String,
    /// `name=value` of the session cookie, as the browser would send it.
    pub cookie: Option<String>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("http client"),
            cookie_name: "JSESSIONID".to_owned(),
            cookie: None,
        }
    }

    fn remember(&mut self, response: &reqwest::Response) -> Vec<String> {
        let set: Vec<String> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        for cookie in &set {
            let pair = cookie.split(';').next().unwrap_or_default();
            if let Some(value) = pair.strip_prefix(&format!("{}=", self.cookie_name)) {
                self.cookie = (!value.is_empty()).then(|| pair.to_owned());
            }
        }
        set
    }

    pub async fn request(
        &mut self,
        method: reqwest::Method,
        url: &str,
        form: Option<&[(&str, &str)]>,
    ) -> Response {
        let mut request = self.http.request(method, url);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(form) = form {
            let body = form
                .iter()
                .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
                .collect::<Vec<_>>()
                .join("&");
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body);
        }
        self.send(request).await
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Response {
        let response = request.send().await.expect("request reaches the instance");
        let set_cookies = self.remember(&response);
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Response {
            status,
            headers,
            body,
            set_cookies,
        }
    }

    /// POSTs `body` as JSON (what the page's room calls send).
    pub async fn post_json(&mut self, url: &str, body: &serde_json::Value) -> Response {
        let mut request = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        self.send(request).await
    }

    /// What the page does before it reconnects: `GET /` with the probe header.
    pub async fn probe(&mut self, instance: &Instance) -> Response {
        let mut request = self
            .http
            .get(format!("{}/", instance.base))
            .header(app::protocol::PROBE_HEADER, "1");
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        self.send(request).await
    }

    pub async fn get(&mut self, url: &str) -> Response {
        self.request(reqwest::Method::GET, url, None).await
    }

    pub async fn login(&mut self, instance: &Instance, name: &str) -> Response {
        self.request(
            reqwest::Method::POST,
            &format!("{}/api/login", instance.base),
            Some(&[("name", name)]),
        )
        .await
    }

    /// Creates the account `handle` (display name: the handle) and signs in.
    pub async fn sign_up(&mut self, instance: &Instance, handle: &str, password: &str) -> Response {
        self.request(
            reqwest::Method::POST,
            &format!("{}/api/sign_up", instance.base),
            Some(&[("handle", handle), ("name", ""), ("password", password)]),
        )
        .await
    }

    pub async fn sign_in(&mut self, instance: &Instance, handle: &str, password: &str) -> Response {
        self.request(
            reqwest::Method::POST,
            &format!("{}/api/sign_in", instance.base),
            Some(&[("handle", handle), ("password", password)]),
        )
        .await
    }

    /// The `whoami` server function's answer, as JSON.
    pub async fn whoami(&mut self, instance: &Instance) -> serde_json::Value {
        let response = self
            .request(
                reqwest::Method::POST,
                &format!("{}/api/whoami", instance.base),
                Some(&[]),
            )
            .await;
        assert_eq!(response.status, 200, "whoami: {}", response.body);
        response.json()
    }

    pub async fn logout(&mut self, instance: &Instance) -> Response {
        self.request(
            reqwest::Method::POST,
            &format!("{}/api/logout", instance.base),
            Some(&[]),
        )
        .await
    }

    /// Opens `/ws?room=lobby` with the session cookie. Err carries the HTTP status of a refusal.
    pub async fn connect(&self, instance: &Instance, query: &str) -> Result<Socket, u16> {
        let mut request = format!("{}/ws?{query}", instance.ws_base)
            .into_client_request()
            .expect("a valid ws url");
        if let Some(cookie) = &self.cookie {
            request.headers_mut().insert(
                "cookie",
                HeaderValue::from_str(cookie).expect("cookie header"),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((stream, _)) => Ok(Socket { stream }),
            Err(tungstenite::Error::Http(response)) => Err(response.status().as_u16()),
            Err(e) => panic!("websocket connect failed unexpectedly: {e}"),
        }
    }

    /// Who this browser's session is, as its socket's `hello` says.
    pub async fn user_id(&self, instance: &Instance) -> UserId {
        let mut socket = self
            .connect(instance, "room=lobby")
            .await
            .expect("upgraded");
        let id = socket
            .wait_for("hello", |f| match f {
                ServerMsg::Hello { user, .. } => Some(user.id),
                _ => None,
            })
            .await;
        socket.close().await;
        id
    }
}

/// The value of the sample `series` (name and labels, as exposed) in a `/metrics` text.
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|value| value.split(' ').next()?.parse().ok())
}

/// An instance's `/metrics` text (no token configured).
pub async fn metrics_of(instance: &Instance) -> String {
    reqwest::get(format!("{}/metrics", instance.base))
        .await
        .expect("a /metrics answer")
        .text()
        .await
        .expect("a /metrics body")
}

#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
    pub set_cookies: Vec<String>,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A test's WebSocket: send JSON, wait for a frame that matches.
pub struct Socket {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

/// What a socket saw next.
// One at a time, on a test's stack: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Seen {
    Frame(ServerMsg),
    Closed(Option<u16>),
}

impl Socket {
    pub async fn send_json(&mut self, value: serde_json::Value) {
        self.send_text(value.to_string()).await;
    }

    pub async fn send_text(&mut self, text: String) {
        self.stream
            .send(tungstenite::Message::Text(text.into()))
            .await
            .expect("send a frame");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.stream
            .send(tungstenite::Message::Binary(bytes.into()))
            .await
            .expect("send a frame");
    }

    /// Sends a chat message to the lobby with a fresh client id; returns the id.
    pub async fn say(&mut self, text: &str) -> ClientId {
        self.say_in("lobby", text).await
    }

    /// Sends a chat message to `room` with a fresh client id; returns the id.
    pub async fn say_in(&mut self, room: &str, text: &str) -> ClientId {
        let client_id = ClientId(uuid::Uuid::new_v4());
        self.send_json(serde_json::json!({
            "type": "send", "room": room, "text": text, "client_id": client_id,
        }))
        .await;
        client_id
    }

    /// Sends `text` to `room` and waits for its `ack`; returns the stored id.
    pub async fn say_acked(&mut self, room: &str, text: &str) -> MessageId {
        let client_id = self.say_in(room, text).await;
        self.wait_for("ack", |f| match f {
            ServerMsg::Ack { client_id: c, id } if *c == client_id => Some(*id),
            _ => None,
        })
        .await
    }

    /// The next frame or close, within `PATIENCE`.
    pub async fn next(&mut self) -> Seen {
        self.next_before(tokio::time::Instant::now() + PATIENCE)
            .await
    }

    async fn next_before(&mut self, deadline: tokio::time::Instant) -> Seen {
        loop {
            let item = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("the awaited frame within the time limit");
            match item {
                Some(Ok(tungstenite::Message::Text(text))) => {
                    let frame = serde_json::from_str(&text).unwrap_or_else(|e| {
                        panic!("server sent an unreadable frame ({e}): {text}")
                    });
                    return Seen::Frame(frame);
                }
                Some(Ok(tungstenite::Message::Close(frame))) => {
                    return Seen::Closed(frame.map(|f| u16::from(f.code)));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Seen::Closed(None),
            }
        }
    }

    /// Reads frames until one satisfies `pick`; returns what `pick` extracted.
    pub async fn wait_for<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&ServerMsg) -> Option<T>,
    ) -> T {
        loop {
            match self.next().await {
                Seen::Frame(frame) => {
                    if let Some(found) = pick(&frame) {
                        return found;
                    }
                }
                Seen::Closed(code) => panic!("socket closed ({code:?}) while waiting for {what}"),
            }
        }
    }

    /// Waits for the close frame and returns its code.
    pub async fn wait_closed(&mut self) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Seen::Closed(code) = self.next_before(deadline).await {
                return code;
            }
        }
    }

    /// Closes as a browser does: sends the close frame, then reads until the server's close
    /// ends the handshake. Dropping the connection with frames still unread would make the
    /// kernel reset it, and the server could then see a failed write instead of the close.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
        let _ = tokio::time::timeout(PATIENCE, async {
            while let Some(Ok(_)) = self.stream.next().await {}
        })
        .await;
    }
}
