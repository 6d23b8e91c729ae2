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
