//! The handlers driven in process (issue 12 item 7): sockets of a real node
//! (see [`harness`]) send events, and the tests check the answer and what
//! the store holds afterwards. They cover the edges of the rules in
//! `chat_core::rights` and `chat_core::policy` as the handlers apply them,
//! which only the Node suite covered before, from outside and slowly.

mod console;
mod harness;
mod inbox;
mod messages;
mod notify;
mod payloads;
mod support;
