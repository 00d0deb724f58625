//! Cluster tests: several roomcast nodes (in-process, and one as a real process
//! to SIGKILL) on one PostgreSQL database and a private `redis-server` that the
//! tests kill and restart; and a PostgreSQL outage behind a TCP proxy.

/// The shared test kit, plus what depends on this target: the server binary.
mod helpers {
    pub use testkit::*;

    /// A node as a separate process of this build's `roomcast` binary.
    pub async fn node_process(settings: &roomcast::settings::Settings) -> NodeProcess {
        NodeProcess::start(env!("CARGO_BIN_EXE_roomcast"), settings).await
    }
}

mod drain;
mod hardening;
mod moderation_v2;
mod multi_node;
mod platform;
mod platform_events;
mod recovery;
mod redis_faults;
mod rolling;
mod store_outage;
mod webhooks;
