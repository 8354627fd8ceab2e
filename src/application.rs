//! [`Application`]: binds the listener, connects the backend, and runs until told to stop.
//!
//! Binding happens in [`Application::build`], so the real port is known before serving (tests
//! bind port 0). Stopping cancels one token that every socket task and the subscriber watch, and
//! waits for all of them: axum's graceful shutdown does not track upgraded sockets.

use crate::{backend, config::Config, hub::Hub, routes, state::AppState};
use anyhow::Context;
use leptos::config::{Env, LeptosOptions};
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// How long shutdown waits for sockets and background tasks before giving up on them.
const STOP_GRACE: Duration = Duration::from_secs(8);

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    backend_kind: &'static str,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind((config.host, config.port))
            .await
            .with_context(|| {
                format!(
                    "HOST/PORT: cannot listen on {}:{}",
                    config.host, config.port
                )
            })?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let instance = config
            .instance_id
            .clone()
            .unwrap_or_else(|| default_instance(addr));

        let shutdown = CancellationToken::new();
        let tracker = TaskTracker::new();
        let backend = backend::connect(&config, &tracker, shutdown.clone()).await?;
        match &config.redis {
            Some(url) => {
                tracing::info!(redis = %url.redacted(), "using Redis for sessions, history and fan-out")
            }
            None => tracing::warn!(
                "no REDIS_URL and no Redis service in VCAP_SERVICES: using the embedded in-memory \
                 backend (one instance only; sessions and history are lost on restart)"
            ),
        }

        let hub = Hub::new(backend.broker.clone());
        {
            let (hub, shutdown) = (hub.clone(), shutdown.clone());
            let deliveries = backend.deliveries;
            tracker.spawn(async move {
                tokio::select! {
                    _ = hub.pump(deliveries) => {}
                    _ = shutdown.cancelled() => {}
                }
            });
        }

        let leptos = LeptosOptions::builder()
            .output_name(
                std::env::var("LEPTOS_OUTPUT_NAME").unwrap_or_else(|_| "switchboard".to_owned()),
            )
            .site_root(config.site_root.clone())
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .env(leptos_env())
            .build();

        let state = AppState {
            config: Arc::new(config),
            instance,
            broker: backend.broker,
            hub,
            leptos,
            shutdown,
            tracker,
        };
        let router = routes::router(state.clone(), backend.sessions);
        Ok(Self {
            listener,
            router,
            state,
            backend_kind: backend.kind,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn instance(&self) -> &str {
        &self.state.instance
    }

    /// Serves until `stop` completes, then closes every socket and waits for background tasks.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(
            instance = %self.state.instance,
            backend = self.backend_kind,
            "listening on http://{addr}"
        );
        let shutdown = self.state.shutdown.clone();
        let tracker = self.state.tracker.clone();
        let signalled = {
            let shutdown = shutdown.clone();
            async move {
                stop.await;
                tracing::info!("shutting down: closing sockets");
                shutdown.cancel();
            }
        };
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(signalled)
            .await
            .context("serving HTTP")?;
        // Also reached if the server stopped on its own: make sure every task sees it.
        shutdown.cancel();
        tracker.close();
        if tokio::time::timeout(STOP_GRACE, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within {STOP_GRACE:?}");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

fn default_instance(addr: SocketAddr) -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".to_owned());
    format!("{host}:{}", addr.port())
}

fn leptos_env() -> Env {
    match std::env::var("LEPTOS_ENV").map(|v| v.to_ascii_lowercase()) {
        Ok(v) if v == "dev" || v == "development" => Env::DEV,
        _ => Env::PROD,
    }
}
