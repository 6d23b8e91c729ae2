pub mod client;
pub mod provider;
