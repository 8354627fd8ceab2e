//! The Switchboard server: a chat service that runs as many instances behind a load balancer.
//!
//! - [`config`]: the environment, parsed once;
//! - [`application`]: binds, connects the backend, serves, shuts down;
//! - [`routes`]: the HTTP surface; [`ws`]: the WebSocket; [`cookies`]: the `Secure` flag;
//! - [`hub`]: local fan-out to sockets; [`history`]: shared history reads;
//! - [`backend`]: Redis or in-memory storage and pub/sub; [`rotation`]: session id rotation;
//!   [`logout`]: a logout reaches the user's sockets on every instance.

pub mod application;
pub mod backend;
pub mod clock;
pub mod config;
pub mod cookies;
pub mod history;
pub mod hub;
pub mod limits;
pub mod listener;
pub mod logout;
pub mod metrics;
pub mod notices;
pub mod origin;
pub mod presence;
pub mod rotation;
pub mod routes;
pub mod security;
pub mod shutdown;
pub mod state;
pub mod telemetry;
pub mod ws;

pub use application::Application;
pub use config::Config;
