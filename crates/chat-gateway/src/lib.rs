//! The seitech-chat gateway: Socket.IO v5 (socketioxide) on axum.
//!
//! Start reading at [`server::run`], which wires everything together; client
//! events arrive through [`inbox`] and are handled in [`events`].

pub mod attachments;
pub mod auth;
pub mod config;
pub(crate) mod deliver;
pub mod events;
pub mod http;
pub mod inbox;
pub mod keyed_lock;
pub mod limits;
pub(crate) mod listener;
pub mod mail;
pub mod metrics;
pub mod notify;
pub mod odoo;
pub mod people;
pub mod presence;
pub mod reply;
pub mod rooms;
pub mod server;
pub mod state;
pub mod support;
pub mod typing;
