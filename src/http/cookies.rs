//! Final touches on the session cookie, per request:
//!
//! - **`Secure` over https.** Behind Cloud Foundry's router (or any TLS-terminating proxy) the app
//!   speaks plain HTTP and the proxy reports the client's scheme in `X-Forwarded-Proto`;
//!   tower-sessions fixes `Secure` per layer, so it is added here per request.
//! - **No echo of an unchanged id.** The session layer saves (and would re-send the cookie) on every
//!   request. Re-sending the id the browser already sent is useless, and harmful after a rotation:
//!   a slow response for the old id could overwrite the new cookie, and the user would be logged
//!   out when the old id's grace period ends. So a `Set-Cookie` repeating the request's id is
//!   dropped; the cookie is renewed whenever `/` rotates the id.

use axum::{
    extract::{Request, State},
    http::{header, HeaderMap, HeaderValue},
    middleware::Next,
    response::Response,
};
use cookie::Cookie;

pub async fn session_cookie(
    State(cookie_name): State<String>,
    request: Request,
    next: Next,
) -> Response {
    let https = came_over_https(&request);
    let sent = cookie_value(request.headers(), &cookie_name);
    let mut response = next.run(request).await;

    let headers = response.headers_mut();
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for value in cookies {
        let Some(mut cookie) = value
            .to_str()
            .ok()
            .and_then(|text| Cookie::parse(text).ok())
            .filter(|cookie| cookie.name() == cookie_name)
        else {
            headers.append(header::SET_COOKIE, value);
            continue;
        };
        if sent.as_deref() == Some(cookie.value()) {
            continue;
        }
        let value = if https && cookie.secure() != Some(true) {
            cookie.set_secure(true);
            HeaderValue::from_str(&cookie.to_string()).unwrap_or(value)
        } else {
            value
        };
        headers.append(header::SET_COOKIE, value);
    }
    response
}

/// Whether the client reached the app over https: the request says so, or the proxy in front
/// does (`X-Forwarded-Proto`).
pub fn came_over_https(request: &Request) -> bool {
    forwarded_https(request.headers()) || request.uri().scheme_str() == Some("https")
}

fn forwarded_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

/// The value of cookie `name` in the request, if sent.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name)
        .map(|cookie| cookie.value().to_owned())
}
