//! `switchboard`: read the configuration, start the server, stop on SIGTERM or Ctrl-C.

use std::process::ExitCode;
use switchboard::{shutdown, telemetry, Application, Config};

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::from_env();
    telemetry::init(config.as_ref().map(|c| c.log_format).unwrap_or_default());
    let config = match config {
        Ok(config) => config,
        Err(e) => {
            tracing::error!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = async {
        Application::build(config)
            .await?
            .run_until(shutdown::signal())
            .await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
