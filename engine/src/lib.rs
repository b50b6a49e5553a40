//! fleetgram's engine: the tokio side.
//!
//! A [`Client`] is one account: a connection per DC in use (each a task driving the sans-IO
//! session of `fleetgram-protocol`), the one call policy ([`policy`]), a [`store`] for keys
//! and state, login ([`auth`]) and the raw update stream.
//!
//! ```text
//! Client::invoke(req) --call policy (migrate / flood / transient)--> ConnHandle --mpsc-->
//!   connection task: Session::enqueue -> poll_transmit -> socket -> handle_incoming -> reply
//! ```

mod answers;
pub mod auth;
pub mod bots;
pub mod chats;
mod client;
pub mod dispatch;
pub mod doh;
pub mod error;
pub mod fleet;
pub mod keyboard;
pub mod links;
pub mod media;
pub mod messages;
pub mod metrics;
mod net;
mod pacing;
pub mod peers;
pub mod policy;
pub mod state;
pub mod store;
pub mod text;
pub mod unwind;
pub mod updates;
pub mod webview;

pub use client::{Client, Config, ConnectError, DeviceInfo, RawUpdate};
pub use error::InvocationError;
pub use fleetgram_protocol::transport::mtproxy::Secret;
pub use net::{Proxy, Socks5, Transport};
