//! Single sign-on's refusals, on real processes: an instance configured with a real OpenID
//! provider (npm oidc-provider, `end2end/oidc/provider.mjs`; the full sign-in through its pages
//! is in `end2end/tests/sso.spec.ts`).

use crate::helpers::{Browser, Instance, PATIENCE};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The provider, on a port of its own, for the client `switchboard` returning to `redirect`.
pub struct Provider {
    child: Child,
    pub issuer: String,
}

impl Provider {
    pub fn start(redirect: &str) -> Self {
        let port = free_port();
        let root = env!("CARGO_MANIFEST_DIR");
        let mut child = Command::new("node")
            .arg(format!("{root}/end2end/oidc/provider.mjs"))
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_REDIRECT_URIS", redirect)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs (scripts/setup.sh test installs end2end's packages)");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("oidc-provider ready") {
                    let _ = tx.send(());
                }
            }
        });
        rx.recv_timeout(PATIENCE * 3)
            .expect("the OpenID provider reports it is ready");
        Self {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// An instance (in-memory backend) that signs in with `provider`.
fn instance_with(provider: &Provider, base: &str) -> Instance {
    Instance::start_with(
        "solo",
        None,
        &[
            ("OIDC_ISSUER_URL", &provider.issuer),
            ("OIDC_CLIENT_ID", "switchboard"),
            ("OIDC_CLIENT_SECRET", "switchboard-secret"),
            ("OIDC_REDIRECT_BASE", base),
        ],
    )
}

#[tokio::test]
async fn a_callback_this_session_did_not_start_signs_no_one_in() {
    // The redirect address is not the instance's (its port is not known yet): the refusals
    // below happen before any redirect back.
    let provider = Provider::start("http://127.0.0.1:1/auth/oidc/callback");
    let a = instance_with(&provider, "http://127.0.0.1:1");

    // A session that started a sign-in is sent to the provider, with PKCE, state and nonce.
    let mut browser = Browser::new();
    let started = browser.get(&format!("{}/auth/oidc/start", a.base)).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let to = started.headers["location"].to_str().unwrap().to_owned();
    assert!(to.starts_with(&provider.issuer), "{to}");
    for part in [
        "code_challenge=",
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "scope=openid",
    ] {
        assert!(to.contains(part), "{part} in {to}");
    }

    // Its callback with a state it did not get: refused, and the started sign-in is spent.
    let forged = browser
        .get(&format!(
            "{}/auth/oidc/callback?code=stolen&state=forged",
            a.base
        ))
        .await;
    assert_eq!(forged.status, 400);
    assert!(forged.body.contains("not started here"), "{}", forged.body);
    let state = to
        .split("state=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_owned();
    let late = browser
        .get(&format!(
            "{}/auth/oidc/callback?code=stolen&state={state}",
            a.base
        ))
        .await;
    assert_eq!(
        late.status, 400,
        "the real state, after the sign-in was spent"
    );
    assert_eq!(browser.whoami(&a).await["user"], serde_json::Value::Null);

    // Another session sends the first one's state: refused (its own session started nothing).
    let mut other = Browser::new();
    let foreign = other
        .get(&format!(
            "{}/auth/oidc/callback?code=stolen&state={state}",
            a.base
        ))
        .await;
    assert_eq!(foreign.status, 400);
    // The provider's own refusal (the person pressed Cancel) is a 400 too.
    let cancelled = other
        .get(&format!(
            "{}/auth/oidc/callback?error=access_denied&state={state}",
            a.base
        ))
        .await;
    assert_eq!(cancelled.status, 400);
    assert_eq!(other.whoami(&a).await["user"], serde_json::Value::Null);
    assert_eq!(other.whoami(&a).await["sso"], "single sign-on");
}

#[tokio::test]
async fn without_a_provider_there_is_no_single_sign_on() {
    let a = Instance::start("solo", None);
    assert_eq!(
        Browser::new()
            .get(&format!("{}/auth/oidc/start", a.base))
            .await
            .status,
        404
    );
    assert_eq!(
        Browser::new().whoami(&a).await["sso"],
        serde_json::Value::Null
    );
}
