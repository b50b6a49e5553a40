//! The `fleetgram` binary's parts, as a library so end-to-end tests can drive them:
//! [`run`] is the main job (`fleetgram run`), [`local`] the embedded local DC with the
//! demo's accounts, chats and traffic.

pub mod config;
pub mod local;
pub mod operator;
pub mod run;
