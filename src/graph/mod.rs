pub mod client;
pub mod provider;

mod batch;
mod error;
mod governor;
mod pacing;
mod paging;
mod wire;

#[cfg(test)]
mod test_support;
