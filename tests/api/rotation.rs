//! `GET /` rotates the session id; the old id keeps working for the grace period only.

use crate::{helpers::Browser, logged_in, World};
use std::time::{Duration, Instant};

backends!(env = &[("SESSION_GRACE_SECS", "2")];
    the_page_rotates_the_session_and_the_old_id_expires_after_the_grace,
    two_tabs_probing_at_once_both_stay_logged_in,
    the_probe_rotates_and_answers_without_the_page,
);

async fn whoami(browser: &mut Browser, world: &World) -> serde_json::Value {
    browser
        .request(
            reqwest::Method::POST,
            &format!("{}/api/whoami", world.a.base),
            Some(&[]),
        )
        .await
        .json()["user"]["name"]
        .clone()
}

async fn the_page_rotates_the_session_and_the_old_id_expires_after_the_grace(world: &World) {
    let mut browser = logged_in(&world.a, "alice").await;
    let old = browser.cookie.clone().unwrap();

    // The socket upgrade never rotates.
    browser
        .connect(&world.a, "room=lobby")
        .await
        .expect("upgrade");
    assert_eq!(browser.cookie.as_deref(), Some(old.as_str()));

    let page = browser.get(&format!("{}/", world.b().base)).await;
    assert_eq!(page.status, 200);
    let new = browser.cookie.clone().unwrap();
    assert_ne!(new, old, "GET / issues a new session id");
    assert_eq!(
        whoami(&mut browser, world).await,
        "alice",
        "same user under the new id"
    );
    assert!(browser.connect(world.b(), "room=lobby").await.is_ok());

    // The old id still works right after the rotation...
    let mut old_tab = Browser::new();
    old_tab.cookie = Some(old);
    let rotated_at = Instant::now();
    assert!(
        old_tab.connect(&world.a, "room=lobby").await.is_ok(),
        "within the grace period"
    );
    // ...and stops working once the grace period (2 s) is over.
    loop {
        match old_tab.connect(&world.a, "room=lobby").await {
            Err(401) => break,
            Err(status) => panic!("unexpected status {status}"),
            Ok(_) => assert!(
                rotated_at.elapsed() < Duration::from_secs(10),
                "the old id never expired"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        rotated_at.elapsed() >= Duration::from_millis(1500),
        "expired too early"
    );
    // The new id is unaffected.
    assert!(browser.connect(world.b(), "room=lobby").await.is_ok());
}

async fn two_tabs_probing_at_once_both_stay_logged_in(world: &World) {
    let browser = logged_in(&world.a, "alice").await;
    let mut tab1 = Browser::new();
    let mut tab2 = Browser::new();
    tab1.cookie = browser.cookie.clone();
    tab2.cookie = browser.cookie.clone();
    let url = format!("{}/", world.a.base);
    let (p1, p2) = tokio::join!(tab1.get(&url), tab2.get(&url));
    assert_eq!((p1.status, p2.status), (200, 200));
    assert!(p1.body.contains(r#"data-testid="me""#) && p2.body.contains(r#"data-testid="me""#));
    assert_ne!(tab1.cookie, tab2.cookie);
    assert!(tab1.connect(&world.a, "room=lobby").await.is_ok());
    assert!(tab2.connect(world.b(), "room=lobby").await.is_ok());
}

/// The reconnecting page's probe: the same rotation and session header as a page load, but a
/// `204` without the page (which, with its room's history, is what thousands of clients of a
/// dead instance would otherwise all wait for).
async fn the_probe_rotates_and_answers_without_the_page(world: &World) {
    let session_of = |r: &crate::helpers::Response| {
        r.headers
            .get(app::protocol::SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mut browser = logged_in(&world.a, "alice").await;
    let old = browser.cookie.clone().unwrap();
    let probe = browser.probe(world.b()).await;
    assert_eq!(probe.status, 204);
    assert!(probe.body.is_empty(), "no page: {}", probe.body);
    assert_eq!(session_of(&probe).as_deref(), Some("active"));
    assert_ne!(
        browser.cookie.as_deref(),
        Some(old.as_str()),
        "a new session id"
    );
    assert_eq!(whoami(&mut browser, world).await, "alice");
    assert!(browser.connect(world.b(), "room=lobby").await.is_ok());

    let mut stranger = Browser::new();
    let probe = stranger.probe(&world.a).await;
    assert_eq!(probe.status, 204);
    assert_eq!(session_of(&probe).as_deref(), Some("none"));
}
