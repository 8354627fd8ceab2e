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
    http,
    listener::ChatListener,
    metrics::Metrics,
    state::{AppState, Records, ServiceSettings, Services},
};
use anyhow::Context;
use leptos::config::{Env, LeptosOptions};
use std::{future::Future, net::SocketAddr, time::Duration};
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
        let Config {
            http,
            accounts,
            sessions,
            site,
            store,
            socket,
            presence,
            limits,
            instance_id,
            hostname,
            log_format: _,
        } = config;
        let listener = TcpListener::bind((http.host, http.port))
            .await
            .with_context(|| format!("HOST/PORT: cannot listen on {}:{}", http.host, http.port))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let instance = instance_id.unwrap_or_else(|| default_instance(&hostname, addr));

        let metrics = Metrics::new(&instance, store.kind());
        let background = Background {
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
        };
        let backend = backend::connect(
            &store,
            &instance,
            &background.tasks,
            background.stop.clone(),
            &metrics,
        )
        .await?;
        match &store.redis {
            Some(target) => tracing::info!(
                redis = %target.redacted(),
                "using Redis for sessions, history and fan-out"
            ),
            None => tracing::warn!(
                "no REDIS_URL, REDIS_CLUSTER_URLS or Redis service in VCAP_SERVICES: using the embedded \
                 in-memory backend (one instance only; sessions and history are lost on restart)"
            ),
        }

        let leptos = LeptosOptions::builder()
            .output_name(site.output_name)
            .site_root(site.root)
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .env(if site.dev { Env::DEV } else { Env::PROD })
            .build();
        let settings = ServiceSettings {
            instance,
            socket,
            limits,
            presence,
            sessions,
            origins: http.origins,
            metrics_token: http.metrics_token,
            guests: accounts.guests,
            admins: accounts.admins.clone(),
            sso: accounts.sso.clone(),
            leptos,
        };
        let database = match &accounts.database {
            Some(url) => Some(crate::database::connect(url).await?),
            None => None,
        };
        let records = Records {
            accounts: crate::accounts::store(database.clone()),
            memberships: crate::memberships::store(database),
        };
        match &accounts.database {
            Some(url) => {
                tracing::info!(database = %url.redacted(), "using PostgreSQL for accounts and rooms")
            }
            None => tracing::warn!(
                "no DATABASE_URL or PostgreSQL service in VCAP_SERVICES: accounts and rooms are \
                 kept in memory (one instance only; they are lost on restart)"
            ),
        }
        if accounts.guests {
            tracing::info!("guests may come in under a name alone (ALLOW_GUESTS)");
        }
        let (state, services) = Services::wire(
            backend.stores,
            records,
            backend.deliveries,
            settings,
            metrics,
        );
        background
            .tasks
            .spawn(services.presence(background.stop.clone()));
        let stop = background.stop.clone();
        background.tasks.spawn(async move {
            tokio::select! {
                _ = services.pump() => {}
                _ = stop.cancelled() => {}
            }
        });
        let router = http::router(state.clone(), backend.sessions);
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
        &self.state.settings.instance
    }

    /// Serves until `stop` completes, then closes every socket and waits for background tasks.
    pub async fn run_until(
        self,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(
            instance = %self.state.settings.instance,
            backend = self.backend_kind,
            "listening on http://{addr}"
        );
        let shutdown = self.state.shutdown.clone();
        let sockets = self.state.sockets.clone();
        let drain = self.state.settings.socket.drain;
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
