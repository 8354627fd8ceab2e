//! Single sign-on with OpenID Connect (work in progress: not wired yet).
//!
//! The authorization code flow with PKCE (S256), `state` and `nonce`, through the `openidconnect`
//! crate: the provider is discovered from its issuer URL (on first use, so a provider that is
//! down at start-up does not stop the instance), and the ID token it returns is verified against
//! its JWKS (signature, issuer, audience, expiry, nonce) before anyone is signed in.
//!
//! What the browser carries between the start and the callback ([`Pending`]) lives in its
//! session and is taken out at the callback, so a callback works once: a replayed one, or one
//! whose `state` this session did not start, is refused.

use crate::settings::SsoSettings;
use openidconnect::{
    core::{
        CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenVerifier, CoreProviderMetadata,
    },
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use subtle::ConstantTimeEq;
use tokio::sync::OnceCell;

/// The path the provider sends the browser back to.
pub const CALLBACK_PATH: &str = "/auth/oidc/callback";
/// How long a started sign-in may take at the provider.
const PATIENCE: Duration = Duration::from_secs(600);

type Provider = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A started sign-in, kept in the browser's session until its callback.
#[derive(Debug, Serialize, Deserialize)]
pub struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    at_ms: u64,
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub issuer: String,
    pub subject: String,
    /// `preferred_username`: the handle to offer.
    pub username: Option<String>,
    /// `name`: the display name to offer.
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The provider could not be reached or answered nonsense.
    #[error("the sign-in provider is unavailable: {0}")]
    Unavailable(String),
    /// No sign-in was started in this session, or not this one (a replayed or foreign callback).
    #[error("this sign-in was not started here, or was finished already")]
    NotStarted,
    /// The provider refused, or its answer did not verify (a forged or foreign ID token).
    #[error("the sign-in was refused: {0}")]
    Refused(String),
}

pub struct Sso {
    settings: SsoSettings,
    http: reqwest::Client,
    provider: OnceCell<Provider>,
}

impl Sso {
    pub fn new(settings: SsoSettings) -> Self {
        let http = reqwest::Client::builder()
            // Following redirects would let a provider's answer send this server elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client with default TLS builds");
        Self {
            settings,
            http,
            provider: OnceCell::new(),
        }
    }

    /// The provider's name, for the sign-in button.
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    async fn provider(&self) -> Result<&Provider, SsoError> {
        self.provider
            .get_or_try_init(|| async {
                let issuer = IssuerUrl::new(self.settings.issuer.clone())
                    .map_err(|e| SsoError::Unavailable(e.to_string()))?;
                let metadata = CoreProviderMetadata::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| SsoError::Unavailable(format!("discovery: {e}")))?;
                let redirect = self
                    .settings
                    .redirect_base
                    .join(CALLBACK_PATH)
                    .map_err(|e| SsoError::Unavailable(e.to_string()))?;
                Ok(CoreClient::from_provider_metadata(
                    metadata,
                    ClientId::new(self.settings.client_id.clone()),
                    Some(ClientSecret::new(
                        self.settings.client_secret.expose_secret().to_owned(),
                    )),
                )
                .set_redirect_uri(RedirectUrl::from_url(redirect)))
            })
            .await
    }

    /// Where to send the browser, and what its session keeps until the callback.
    pub async fn start(&self, now_ms: u64) -> Result<(url::Url, Pending), SsoError> {
        let provider = self.provider().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = provider
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        let pending = Pending {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            at_ms: now_ms,
        };
        Ok((url, pending))
    }

    /// Finishes the sign-in `pending` started, with what the provider sent back.
    pub async fn finish(
        &self,
        pending: Option<Pending>,
        state: &str,
        code: String,
        now_ms: u64,
    ) -> Result<Identity, SsoError> {
        let pending = pending.ok_or(SsoError::NotStarted)?;
        let fresh = now_ms.saturating_sub(pending.at_ms) <= PATIENCE.as_millis() as u64;
        if !bool::from(pending.state.as_bytes().ct_eq(state.as_bytes())) || !fresh {
            return Err(SsoError::NotStarted);
        }
        let provider = self.provider().await?;
        let tokens = provider
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| SsoError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| SsoError::Refused(format!("the code exchange: {e}")))?;
        let id_token = tokens
            .id_token()
            .ok_or_else(|| SsoError::Refused("no ID token".to_owned()))?;
        identity_of(
            id_token,
            &provider.id_token_verifier(),
            &Nonce::new(pending.nonce),
        )
    }
}

/// Who `id_token` says signed in, once it verifies: signed by a key of the provider's JWKS,
/// issued by the provider, for this client, not expired, and with this sign-in's nonce.
fn identity_of(
    id_token: &CoreIdToken,
    verifier: &CoreIdTokenVerifier<'_>,
    nonce: &Nonce,
) -> Result<Identity, SsoError> {
    let claims = id_token
        .claims(verifier, nonce)
        .map_err(|e| SsoError::Refused(format!("the ID token: {e}")))?;
    Ok(Identity {
        issuer: claims.issuer().to_string(),
        subject: claims.subject().to_string(),
        username: claims.preferred_username().map(|u| u.to_string()),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string()),
    })
}

#[cfg(test)]
mod tests {
    //! The ID token checks, with tokens made here: one from the provider's key and others that
    //! must be refused (another key, another issuer or audience, expired, another nonce).
    use super::*;
    use chrono::{Duration as Span, Utc};
    use openidconnect::core::{
        CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
    };
    use openidconnect::{
        Audience, EmptyAdditionalClaims, EndUserUsername, IssuerUrl, JsonWebKeyId, JsonWebKeySet,
        PrivateSigningKey, StandardClaims, SubjectIdentifier,
    };

    const ISSUER: &str = "http://127.0.0.1:8790";

    fn key(which: &str) -> CoreRsaPrivateSigningKey {
        let pem = std::fs::read_to_string(format!(
            "{}/tests/data/oidc-test-key-{which}.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .expect("the test key");
        // Both keys carry the provider's key id: a forger would copy it.
        CoreRsaPrivateSigningKey::from_pem(&pem, Some(JsonWebKeyId::new("k1".into())))
            .expect("a PKCS#1 key")
    }

    fn token(
        signer: &str,
        issuer: &str,
        audience: &str,
        expires_in: Span,
        nonce: &str,
    ) -> CoreIdToken {
        let claims = CoreIdTokenClaims::new(
            IssuerUrl::new(issuer.into()).unwrap(),
            vec![Audience::new(audience.into())],
            Utc::now() + expires_in,
            Utc::now() - Span::seconds(5),
            StandardClaims::new(SubjectIdentifier::new("ada".into()))
                .set_preferred_username(Some(EndUserUsername::new("ada".into()))),
            EmptyAdditionalClaims {},
        )
        .set_nonce(Some(Nonce::new(nonce.into())));
        CoreIdToken::new(
            claims,
            &key(signer),
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            None,
            None,
        )
        .expect("signed")
    }

    #[test]
    fn only_the_providers_own_token_for_this_sign_in_verifies() {
        let jwks = JsonWebKeySet::new(vec![key("a").as_verification_key()]);
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new("switchboard".into()),
            ClientSecret::new("switchboard-secret".into()),
            IssuerUrl::new(ISSUER.into()).unwrap(),
            jwks,
        );
        let nonce = Nonce::new("n-1".into());
        let hour = Span::hours(1);
        let good = identity_of(
            &token("a", ISSUER, "switchboard", hour, "n-1"),
            &verifier,
            &nonce,
        )
        .expect("the provider's token verifies");
        assert_eq!(
            (good.subject.as_str(), good.username.as_deref()),
            ("ada", Some("ada"))
        );

        let forged = [
            (
                "signed with another key",
                token("b", ISSUER, "switchboard", hour, "n-1"),
            ),
            (
                "from another issuer",
                token("a", "http://evil.example", "switchboard", hour, "n-1"),
            ),
            (
                "for another client",
                token("a", ISSUER, "someone-else", hour, "n-1"),
            ),
            ("expired", token("a", ISSUER, "switchboard", -hour, "n-1")),
            (
                "for another sign-in",
                token("a", ISSUER, "switchboard", hour, "n-2"),
            ),
        ];
        for (what, token) in forged {
            assert!(
                matches!(
                    identity_of(&token, &verifier, &nonce),
                    Err(SsoError::Refused(_))
                ),
                "a token {what} is refused"
            );
        }
    }
}
