//! Microsoft Graph: [`client`] sends every request (paging, batching,
//! retries, throttling, a per-mailbox limit on concurrent operations), and
//! [`provider`] turns a Graph calendar into a source or a target.
//!
//! The Graph behaviours these rely on, and where Graph is known to answer
//! otherwise than its documentation says, are listed with their public
//! sources in `docs/graph.md`; comments here name its sections ("see
//! docs/graph.md, Delta").

pub mod client;
pub mod provider;
pub mod wire;

mod batch;
mod error;
mod governor;
mod pacing;
mod paging;

#[cfg(test)]
mod test_support;
