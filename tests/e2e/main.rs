//! End to end: the built `calsync` binary against a fake of Microsoft Graph
//! over loopback HTTP, or against `.ics` files. One test binary with a module
//! per area, so that the suite is linked once, not once per area. Each test
//! has its own fake, home and state directory and sets nothing process-wide
//! (the fake's behaviour is per test thread), so tests share nothing and run
//! in parallel.

#[macro_use]
mod common;

mod audit;
mod bad_input;
mod browser;
mod calendars;
mod doctor;
mod examples;
mod history_status;
mod ics;
mod ics_bad_input;
mod incremental;
mod logging;
mod login;
mod monitoring;
mod pairs;
mod pairs_shards;
mod publish;
mod state_dir;
mod sync;
mod sync_recovery;
mod terminal;
mod throughput;
mod validate;
