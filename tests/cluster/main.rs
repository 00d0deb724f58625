//! Cluster tests: several roomcast nodes (in-process, and one as a real process
//! to SIGKILL) on one PostgreSQL database and a private `redis-server` that the
//! tests kill and restart; and a PostgreSQL outage behind a TCP proxy.

#[path = "../api/helpers.rs"]
mod helpers;

mod drain;
mod multi_node;
mod redis_faults;
mod rolling;
mod store_outage;
