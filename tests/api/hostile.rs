//! What a hostile or broken client can send: each malformed request gets a 4xx with a reason
//! (never a 500) and the instance carries on; other sites cannot act with a user's cookie; every
//! response carries the security headers.

use crate::{logged_in, World};
use app::protocol::ServerMsg;
use reqwest::{header::HeaderMap, Method};

backends!(
    malformed_requests_get_a_clear_4xx_and_the_instance_carries_on,
    other_sites_cannot_call_server_functions,
    responses_carry_the_security_headers,
);

/// One request of the corpus.
struct Probe {
    what: &'static str,
    method: Method,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    body: Vec<u8>,
    /// The status it must get.
    status: u16,
}

fn post(what: &'static str, path: &'static str, body: &[u8], status: u16) -> Probe {
    Probe {
        what,
        method: Method::POST,
        path,
        headers: &[("content-type", "application/x-www-form-urlencoded")],
        body: body.to_vec(),
        status,
    }
}

fn corpus() -> Vec<Probe> {
    let with = |mut probe: Probe, headers: &'static [(&'static str, &'static str)]| {
        probe.headers = headers;
        probe
    };
    let get = |what, path, status| Probe {
        what,
        method: Method::GET,
        path,
        headers: &[],
        body: Vec::new(),
        status,
    };
    vec![
        with(
            post(
                "login with a JSON body",
                "/api/login",
                br#"{"name":"x"}"#,
                400,
            ),
            &[("content-type", "application/json")],
        ),
        with(post("login with no body", "/api/login", b"", 400), &[]),
        post("login without a name", "/api/login", b"nam=ok", 400),
        post("login with two names", "/api/login", b"name=a&name=b", 400),
        post(
            "login with bytes that are not UTF-8",
            "/api/login",
            b"name=%ff%fe",
            400,
        ),
        post(
            "login with raw invalid UTF-8",
            "/api/login",
            b"name=\xff\xfe",
            400,
        ),
        // Kept as text, as the URL standard (and every browser) reads it.
        post(
            "login with a stray percent sign",
            "/api/login",
            b"name=%zz%",
            200,
        ),
        post(
            "login with a control character",
            "/api/login",
            b"name=a%00b",
            400,
        ),
        post(
            "login with a body over the limit",
            "/api/login",
            &[
                b"name=".as_slice(),
                &vec![b'a'; switchboard::http::BODY_LIMIT + 1],
            ]
            .concat(),
            413,
        ),
        with(
            post("login as multipart garbage", "/api/login", b"garbage", 400),
            &[("content-type", "multipart/form-data; boundary=x")],
        ),
        post(
            "recent for a bad room",
            "/api/recent",
            b"room=Not%20a%20room",
            400,
        ),
        post("recent with no room", "/api/recent", b"", 400),
        post("an unknown server function", "/api/nothing", b"", 404),
        get("login by GET", "/api/login", 405),
        get("a socket without an upgrade", "/ws?room=lobby", 401),
        get("a path that climbs out", "/pkg/../../../../etc/passwd", 404),
        get("an unknown page", "/nowhere", 404),
        // Not logged in: the login form, whatever the room.
        get("a room that cannot be", "/r/%ff%fe", 200),
        with(
            get("a page with a garbled session cookie", "/", 200),
            &[("cookie", "JSESSIONID=%%%%; ;;=; other=\"x\"")],
        ),
        with(
            post("whoami with a forged session id", "/api/whoami", b"", 200),
            &[(
                "cookie",
                "JSESSIONID=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            )],
        ),
    ]
}

async fn malformed_requests_get_a_clear_4xx_and_the_instance_carries_on(world: &World) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for probe in corpus() {
        let mut request = http
            .request(
                probe.method.clone(),
                format!("{}{}", world.a.base, probe.path),
            )
            .body(probe.body.clone());
        for (name, value) in probe.headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        assert_eq!(status, probe.status, "{}: {}", probe.what, cut(&body));
        if (400..500).contains(&status)
            && probe.method == Method::POST
            && probe.path == "/api/login"
        {
            let reason: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|_| panic!("{}: a JSON reason, got {}", probe.what, cut(&body)));
            assert!(reason["error"].is_string(), "{}: {reason}", probe.what);
        }
    }

    // Sockets with a session but a query that cannot be.
    let alice = logged_in(&world.a, "alice").await;
    for query in [
        "room=%ff",
        "room=Not%20a%20room",
        "room=lobby&room=x",
        "after=soon",
    ] {
        assert_eq!(
            alice.connect(&world.a, query).await.err(),
            Some(400),
            "{query}"
        );
    }

    // With a session, requests to /ws that are not a handshake this server takes.
    let cookie = alice.cookie.clone().expect("a session cookie");
    let key = ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    let asks = [
        ("connection", "keep-alive, Upgrade"),
        ("upgrade", "websocket"),
    ];
    for (what, headers, status) in [
        ("no upgrade asked for", vec![], 426),
        (
            "an old protocol version",
            [&asks[..], &[key, ("sec-websocket-version", "8")]].concat(),
            400,
        ),
        (
            "no key",
            [&asks[..], &[("sec-websocket-version", "13")]].concat(),
            400,
        ),
    ] {
        let mut request = http
            .get(format!("{}/ws?room=lobby", world.a.base))
            .header("cookie", &cookie);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{what}");
        assert!(
            !response.text().await.unwrap().is_empty(),
            "{what}: a reason"
        );
    }

    // The instance is unharmed: healthy, and chat works.
    let health = http.get(format!("{}/healthz", world.a.base)).send().await;
    assert_eq!(health.unwrap().status().as_u16(), 200);
    let mut socket = alice.connect(&world.a, "room=lobby").await.unwrap();
    socket.say("still here").await;
    socket
        .wait_for("the message", |f| match f {
            ServerMsg::Message(m) if m.text == "still here" => Some(()),
            _ => None,
        })
        .await;
}

fn cut(body: &str) -> String {
    body.chars().take(200).collect()
}

async fn other_sites_cannot_call_server_functions(world: &World) {
    let http = reqwest::Client::new();
    let login = |headers: &[(&'static str, &str)]| {
        let mut request = http
            .post(format!("{}/api/login", world.a.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("name=mallory");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    for headers in [
        &[("origin", "https://evil.example")][..],
        &[("origin", "null")],
        &[("sec-fetch-site", "cross-site")],
        &[("sec-fetch-site", "same-site")],
    ] {
        let response = login(headers).await.unwrap();
        assert_eq!(response.status().as_u16(), 403, "{headers:?}");
        assert!(
            response.headers().get("set-cookie").is_none(),
            "{headers:?}"
        );
        let reason: serde_json::Value = response.json().await.unwrap();
        assert_eq!(reason["error"], "cross_site");
    }
    let host = world.a.base.trim_start_matches("http://").to_owned();
    let own = format!("http://{host}");
    for headers in [
        vec![("origin", own.as_str())],
        vec![("sec-fetch-site", "same-origin"), ("origin", own.as_str())],
        // Behind a proxy that rewrites Host but says where the request was addressed.
        vec![
            ("host", "10.0.0.7:61001"),
            ("x-forwarded-host", "chat.example"),
            ("origin", "https://chat.example"),
        ],
    ] {
        let response = login(&headers).await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{headers:?}");
    }
}

async fn responses_carry_the_security_headers(world: &World) {
    let http = reqwest::Client::new();
    let page = http.get(format!("{}/", world.a.base)).send().await.unwrap();
    let headers = page.headers().clone();
    let html = page.text().await.unwrap();
    let policy = header(&headers, "content-security-policy");
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce in the policy");
    assert!(nonce.len() >= 16, "{policy}");
    for directive in [
        "default-src 'self'",
        "'wasm-unsafe-eval'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    // Every inline script of the page carries that nonce.
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert!(!scripts.is_empty());
    for script in scripts {
        let tag = script.split('>').next().unwrap_or_default();
        assert!(
            tag.contains(&format!("nonce=\"{nonce}\"")),
            "a script without the page's nonce: <script{tag}>"
        );
    }
    // Each page its own nonce.
    let again = http.get(format!("{}/", world.a.base)).send().await.unwrap();
    assert_ne!(header(again.headers(), "content-security-policy"), policy);

    for path in ["/", "/healthz", "/pkg/switchboard.css", "/nowhere"] {
        let response = http
            .get(format!("{}{path}", world.a.base))
            .send()
            .await
            .unwrap();
        let headers = response.headers();
        assert_eq!(
            header(headers, "x-content-type-options"),
            "nosniff",
            "{path}"
        );
        assert_eq!(header(headers, "referrer-policy"), "same-origin", "{path}");
        assert_eq!(header(headers, "x-frame-options"), "DENY", "{path}");
        assert!(
            headers.get("strict-transport-security").is_none(),
            "{path}: plain http"
        );
    }
    let https = http
        .get(format!("{}/", world.a.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert!(header(https.headers(), "strict-transport-security").starts_with("max-age="));
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_owned()
}
