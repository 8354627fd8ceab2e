//! The Switchboard server: a chat service that runs as many instances behind a load balancer.
//!
//! The modules form layers; each imports only from the layers below it (`tests/layers.rs` fails
//! on an import that points up, and `docs/architecture.md` draws the picture):
//!
//! 1. values: [`settings`] (one struct per component), [`rate`] (token buckets), [`origins`],
//!    [`clock`], [`shutdown`], [`telemetry`], [`metrics`], [`listener`];
//! 2. [`config`]: the environment, parsed once into the settings;
//! 3. [`database`]: the PostgreSQL pool the durable records share, migrated at start-up;
//! 4. [`backend`]: Redis or in-memory storage and pub/sub, behind one trait per role; the durable
//!    records, in PostgreSQL or memory: [`accounts`], and [`memberships`] (rooms, members, roles,
//!    bans, the moderation log);
//! 5. the instance's services over the backend: [`hub`] (local fan-out to sockets),
//!    [`history`] (shared history reads), [`notices`], [`presence`], [`admission`] (socket caps),
//!    [`sign_ins`] (who may come in, over the accounts), [`sso`], [`access`] (who may enter which
//!    room, over the memberships), [`conversations`] (the room calls: making rooms, invitations,
//!    removals, moderation), [`streams`] (the event streams open here, for their posts);
//! 6. [`state`]: the services wired together, once, for the server and the tests alike;
//! 7. the edges: [`ws`] (the WebSocket), [`sse`] (the same connection as Server-Sent Events and
//!    posts, for networks that block WebSockets) and [`http`] (every route and layer);
//! 8. [`application`]: binds, connects the backend, serves, shuts down.

pub mod access;
pub mod accounts;
pub mod admission;
pub mod application;
pub mod backend;
pub mod clock;
pub mod config;
pub mod conversations;
pub mod database;
pub mod history;
pub mod http;
pub mod hub;
pub mod listener;
pub mod memberships;
pub mod metrics;
pub mod notices;
pub mod origins;
pub mod presence;
pub mod rate;
pub mod settings;
pub mod shutdown;
pub mod sign_ins;
pub mod sse;
pub mod sso;
pub mod state;
pub mod streams;
pub mod telemetry;
#[cfg(test)]
mod testing;
pub mod ws;

pub use application::Application;
pub use config::Config;
