//! Switchboard's user interface and the types shared by server and browser.
//!
//! - [`protocol`]: the WebSocket frames and the validated values inside them;
//! - [`auth`]: login, logout and session restore as server functions;
//! - [`pages`]: the Leptos components (rendered on the server, hydrated in the browser);
//! - [`live`]: the browser's side of the socket, feeding the chat page's signals;
//! - [`rooms`]: the rooms a person has open, kept by the server;
//! - [`conversations`]: making rooms and direct conversations, members, moderation;
//! - [`later`]: the parts of the page whose code is fetched when first used;
//! - [`stored`]: what the browser keeps of an account between page loads.
//!
//! Server-only code is behind the `ssr` feature, browser-only code behind `hydrate`.

pub mod auth;
pub mod calls;
pub mod conversations;
pub mod later;
pub mod live;
pub mod pages;
pub mod protocol;
pub mod recent;
pub mod rooms;
#[cfg(feature = "ssr")]
pub mod session;
pub mod stored;

pub use pages::{shell, App};
