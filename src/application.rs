//! [`Application`]: binds the listener, connects the backend, and runs until told to stop.
//!
//! Binding happens in [`Application::build`], so the real port is known before serving (tests
//! bind port 0). Stopping cancels one token that every socket task and the subscriber watch, and
//! waits for all of them: axum's graceful shutdown does not track upgraded sockets.
//!
//! Shutdown order (the drain):
//! 1. report not-ready (`/readyz` 503) and refuse new WebSocket upgrades at once, but **keep
//!    serving HTTP for the whole drain window**, so the load balancer's health check sees the 503
//!    and a reconnecting client's probe still gets an answer;
//! 2. meanwhile close every socket, each at a random moment in the window (code 1012), while the
//!    subscriber keeps delivering to the ones still open;
//! 3. when the window ends, stop the listener, wait for the last sockets, then stop the
//!    subscriber and the fan-out pump.

use crate::{
    backend,
    config::Config,
    history::History,
    hub::Hub,
    listener::ChatListener,
    metrics::Metrics,
    notices::Notices,
    presence::Presence,
    routes,
    state::{AppState, Shared},
};
use anyhow::Context;
use leptos::config::{Env, LeptosOptions};
use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};
use tokio::net::TcpListener;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// How long shutdown waits past the drain window for sockets and background tasks.
const STOP_SLACK: Duration = Duration::from_millis(800);

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    background: Background,
    backend_kind: &'static str,
}

/// The subscriber and the fan-out pump: stopped only after every socket has closed.
struct Background {
    stop: CancellationToken,
    tasks: TaskTracker,
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
            .unwrap_or_else(|| default_instance(&config.hostname, addr));

        let metrics = Metrics::new(
            &instance,
            config.redis.as_ref().map_or("memory", |redis| redis.kind()),
        );
        let shutdown = CancellationToken::new();
        let background = Background {
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let backend = backend::connect(
            &config,
            &instance,
            &background.tasks,
            background.stop.clone(),
            &metrics,
        )
        .await?;
        match &config.redis {
            Some(target) => tracing::info!(
                redis = %target.redacted(),
                "using Redis for sessions, history and fan-out"
            ),
            None => tracing::warn!(
                "no REDIS_URL, REDIS_CLUSTER_URLS or Redis service in VCAP_SERVICES: using the embedded \
                 in-memory backend (one instance only; sessions and history are lost on restart)"
            ),
        }

        let hub = Hub::new(backend.broker.clone(), backend.presence.clone());
        let notices = Notices::new(backend.broker.clone());
        let presence = Presence::new(backend.presence.clone(), notices.clone(), config.presence);
        background
            .tasks
            .spawn(presence.clone().run(background.stop.clone()));
        {
            let (hub, stop) = (hub.clone(), background.stop.clone());
            let deliveries = backend.deliveries;
            background.tasks.spawn(async move {
                tokio::select! {
                    _ = hub.pump(deliveries) => {}
                    _ = stop.cancelled() => {}
                }
            });
        }

        let leptos = LeptosOptions::builder()
            .output_name(config.output_name.clone())
            .site_root(config.site_root.clone())
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .env(if config.leptos_dev {
                Env::DEV
            } else {
                Env::PROD
            })
            .build();

        let state = AppState::new(Shared {
            config: Arc::new(config),
            instance,
            history: Arc::new(History::new(backend.broker.clone())),
            notices,
            presence,
            broker: backend.broker,
            limiter: backend.limiter,
            admission: crate::ws::Admission::default(),
            health: backend.health,
            hub,
            leptos,
            metrics,
            shutdown,
            sockets: TaskTracker::new(),
        });
        let router = routes::router(state.clone(), backend.sessions);
        Ok(Self {
            listener,
            router,
            state,
            background,
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
        let sockets = self.state.sockets.clone();
        let drain = self.state.config.drain;
        let signalled = {
            let shutdown = shutdown.clone();
            let metrics = self.state.metrics.clone();
            async move {
                stop.await;
                metrics.draining.set(1);
                tracing::info!(drain = ?drain, "draining: not ready, closing sockets");
                shutdown.cancel();
                tokio::time::sleep(drain).await;
                tracing::info!("drain window over: closing the listener");
            }
        };
        let listener = ChatListener::new(self.listener);
        let service = self
            .router
            .into_make_service_with_connect_info::<crate::listener::Peer>();
        axum::serve(listener, service)
            .with_graceful_shutdown(signalled)
            .await
            .context("serving HTTP")?;
        // Also reached if the server stopped on its own: make sure every socket sees it.
        shutdown.cancel();
        sockets.close();
        if tokio::time::timeout(drain + STOP_SLACK, sockets.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = sockets.len(),
                "some sockets did not close within the drain window"
            );
        }
        self.background.stop.cancel();
        self.background.tasks.close();
        if tokio::time::timeout(STOP_SLACK, self.background.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks did not stop in time");
        }
        tracing::info!("stopped");
        Ok(())
    }
}

fn default_instance(hostname: &str, addr: SocketAddr) -> String {
    format!("{hostname}:{}", addr.port())
}
