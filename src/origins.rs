//! Which sites may act with a user's cookie: the app's own pages, and the origins configured in
//! `ALLOWED_ORIGINS`. A value, asked by the WebSocket upgrade and by the HTTP guard
//! (`http::origin`), on top of the session cookie's `SameSite=Lax` (which a sibling subdomain,
//! or an older browser, gets past).
//!
//! The app's own origin is the one the request was addressed to: its `Host`, or the
//! `X-Forwarded-Host` of a proxy that rewrites `Host`, or the configured `PUBLIC_URL`. A page on
//! another site cannot set either header (a form post sets no header; a script's cross-site
//! request with a custom header needs a CORS preflight this app never grants), so trusting them
//! here is safe.

use axum::http::{header, HeaderMap};

/// The sites trusted to act with a user's cookie.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    /// `ALLOWED_ORIGINS`, and `*` for any.
    allowed: Vec<String>,
    /// The host (and port) of `PUBLIC_URL`, if set.
    public_host: Option<String>,
}

impl Origins {
    pub fn new(allowed: Vec<String>, public_url: Option<&url::Url>) -> Self {
        let public_host = public_url.and_then(|url| {
            let host = url.host_str()?;
            Some(match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            })
        });
        Self {
            allowed,
            public_host,
        }
    }

    /// Whether a request with these headers may act with the cookie it carries. Requests with no
    /// `Origin` and no `Sec-Fetch-Site` (not from a browser, or a same-origin navigation) may:
    /// the cookie is what authenticates them.
    pub fn allow(&self, headers: &HeaderMap) -> bool {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        match text(header::ORIGIN.as_str()) {
            Some(origin) => self.is_ours(origin, headers),
            // Without an `Origin`, a browser's own word on where the request comes from.
            None => !matches!(text("sec-fetch-site"), Some("cross-site" | "same-site")),
        }
    }

    fn is_ours(&self, origin: &str, headers: &HeaderMap) -> bool {
        if self
            .allowed
            .iter()
            .any(|a| a == "*" || a.eq_ignore_ascii_case(origin))
        {
            return true;
        }
        let Some((_, origin_host)) = origin.split_once("://") else {
            return false; // "null", from a sandboxed frame or a file
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let forwarded = header("x-forwarded-host").map(|h| h.split(',').next().unwrap_or(h).trim());
        [
            header(header::HOST.as_str()),
            forwarded,
            self.public_host.as_deref(),
        ]
        .into_iter()
        .flatten()
        .any(|host| host.eq_ignore_ascii_case(origin_host))
    }
}

#[cfg(test)]
mod tests {
    use super::Origins;
    use axum::http::HeaderMap;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn the_pages_own_origin_is_allowed_however_it_is_reached() {
        let origins = Origins::default();
        let own = headers(&[
            ("host", "chat.example:8080"),
            ("origin", "http://chat.example:8080"),
        ]);
        assert!(origins.allow(&own));
        // A proxy that rewrites Host says where the request was addressed.
        let proxied = headers(&[
            ("host", "10.0.0.7:61001"),
            ("x-forwarded-host", "chat.example"),
            ("origin", "https://chat.example"),
        ]);
        assert!(origins.allow(&proxied));
        // Or the configured public URL does.
        let public = url::Url::parse("https://chat.example").unwrap();
        let origins = Origins::new(Vec::new(), Some(&public));
        let rewritten = headers(&[
            ("host", "10.0.0.7:61001"),
            ("origin", "https://chat.example"),
        ]);
        assert!(origins.allow(&rewritten));
    }

    #[test]
    fn other_sites_are_refused_unless_configured() {
        let origins = Origins::default();
        let evil = headers(&[("host", "chat.example"), ("origin", "https://evil.example")]);
        assert!(!origins.allow(&evil));
        assert!(!origins.allow(&headers(&[("host", "chat.example"), ("origin", "null")])));
        assert!(!origins.allow(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(!origins.allow(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(origins.allow(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(origins.allow(&headers(&[])), "not from a browser");
        let configured = Origins::new(vec!["https://evil.example".to_owned()], None);
        assert!(configured.allow(&evil));
        assert!(Origins::new(vec!["*".to_owned()], None).allow(&evil));
    }
}
