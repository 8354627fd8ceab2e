//! Marks the session cookie `Secure` when the request came over https.
//!
//! Behind Cloud Foundry's router (or any TLS-terminating proxy) the app itself speaks plain HTTP;
//! the proxy says the client used https in `X-Forwarded-Proto`. tower-sessions fixes `Secure` per
//! layer, so this middleware adds it per request.

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
};

pub async fn secure_over_https(
    State(cookie_name): State<String>,
    request: Request,
    next: Next,
) -> Response {
    let https = request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|proto| {
            proto
                .split(',')
                .next()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"))
        })
        || request.uri().scheme_str() == Some("https");
    let mut response = next.run(request).await;
    if !https {
        return response;
    }
    let prefix = format!("{cookie_name}=");
    let headers = response.headers_mut();
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        let value = match cookie.to_str() {
            Ok(text) if text.starts_with(&prefix) && !has_secure(text) => {
                HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or(cookie)
            }
            _ => cookie,
        };
        headers.append(header::SET_COOKIE, value);
    }
    response
}

fn has_secure(cookie: &str) -> bool {
    cookie
        .split(';')
        .any(|attr| attr.trim().eq_ignore_ascii_case("secure"))
}
