//! The command line: global flags shared by every scenario, one subcommand per
//! scenario, and the hidden `--child` flag a parent passes to the copies of
//! itself it starts with `--procs`.
//!
//! This module only declares and checks arguments; it connects to nothing.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The server's development secret (`auth.jwt_secret` unset).
/// Where a server with no configured secret keeps the one it generated.
pub const SECRET_FILE: &str = "data/jwt_secret";
/// Where a server listens by default.
pub const DEFAULT_URL: &str = "ws://127.0.0.1:8080/ws";
/// The server's per-connection reaction limit (`limits.reactions_per_second`).
pub const MAX_REACTIONS_PER_SECOND: f64 = 20.0;

#[derive(Parser, Debug)]
#[command(
    name = "roomcast-loadtest",
    version,
    about = "Load tests for a roomcast server on this machine (loopback only)"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// WebSocket URL of a server; repeat for several (connections go round-robin).
    /// Only loopback hosts are accepted.
    #[arg(long = "url", value_name = "URL", global = true)]
    pub urls: Vec<String>,

    /// HS256 secret used to sign the senders' tokens (default: the one a
    /// server without `auth.jwt_secret` generated in `data/jwt_secret`).
    #[arg(
        long,
        env = "ROOMCAST_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,

    /// PID of a server process (repeatable, in the order of --url) to sample its
    /// CPU time and resident memory from /proc.
    #[arg(long = "server-pid", value_name = "PID", global = true)]
    pub server_pids: Vec<u32>,

    /// Split the connections over this many processes (copies of this binary).
    #[arg(long, default_value_t = 1, global = true)]
    pub procs: usize,

    /// Tokio worker threads per process (default: the CPUs this process may run on).
    #[arg(long, value_name = "N", global = true)]
    pub threads: Option<usize>,

    /// Bind client sockets to 127.0.0.1 ..= 127.0.0.K round-robin (default: 1
    /// below 20000 connections in all, else enough addresses).
    #[arg(long, value_name = "K", global = true)]
    pub src_ips: Option<u8>,

    /// Append the JSON result line to this file.
    #[arg(long, value_name = "FILE", global = true)]
    pub json_out: Option<PathBuf>,

    /// Hard bound on the whole run, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, global = true)]
    pub max_runtime: u64,

    /// Connections being opened at once (in all processes together).
    #[arg(long, default_value_t = 200, global = true)]
    pub connect_concurrency: usize,

    /// Seconds one connection may take to connect, get `welcome` and be `joined`.
    #[arg(long, value_name = "SECONDS", default_value_t = 15, global = true)]
    pub connect_timeout: u64,

    /// A name for this run, copied into the JSON line.
    #[arg(long, global = true)]
    pub label: Option<String>,

    /// Internal: run as worker INDEX of COUNT for run NONCE (set by a parent).
    #[arg(long, value_name = "INDEX:COUNT:NONCE", hide = true, global = true)]
    pub child: Option<String>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum Scenario {
    /// Open many anonymous connections, hold them, close them.
    Connections(ConnectionsArgs),
    /// Rooms of viewers receiving chat messages from token users; measures latency.
    Fanout(FanoutArgs),
    /// Viewers sending reactions; checks the server's aggregated counts.
    Reactions(ReactionsArgs),
    /// Viewers joining and leaving one room; checks the final viewer count.
    Churn(ChurnArgs),
}

impl Scenario {
    pub fn name(&self) -> &'static str {
        match self {
            Scenario::Connections(_) => "connections",
            Scenario::Fanout(_) => "fanout",
            Scenario::Reactions(_) => "reactions",
            Scenario::Churn(_) => "churn",
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct ConnectionsArgs {
    /// Connections to open.
    #[arg(long)]
    pub conns: usize,
    /// Rooms to spread them over (connection i joins room i % R).
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Seconds to hold them open once all are joined.
    #[arg(long, default_value_t = 10.0)]
    pub hold: f64,
}

#[derive(Args, Debug, Clone)]
pub struct FanoutArgs {
    /// Rooms.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Anonymous viewers per room.
    #[arg(long)]
    pub viewers: usize,
    /// Sending users per room (default: ceil(rate / 0.4), so each stays at <= 0.4 msg/s).
    #[arg(long)]
    pub senders: Option<usize>,
    /// Messages per second per room, in total over its senders.
    #[arg(long)]
    pub rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Length the message text is padded to.
    #[arg(long, default_value_t = 64)]
    pub text_len: usize,
    /// Seconds to wait for missing deliveries after sending stops.
    #[arg(long, default_value_t = 10.0)]
    pub drain_timeout: f64,
}

#[derive(Args, Debug, Clone)]
pub struct ReactionsArgs {
    /// Viewers in the room (each one sends and receives).
    #[arg(long)]
    pub viewers: usize,
    /// Reactions per second per viewer (at most 20, the server's per-connection limit).
    #[arg(long)]
    pub rate: f64,
    /// Seconds of sending.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// The server's reaction window (`rooms.reaction_window_ms`), for the expected frame count.
    #[arg(long, default_value_t = 500)]
    pub window_ms: u64,
}

#[derive(Args, Debug, Clone)]
pub struct ChurnArgs {
    /// Viewers kept in the room.
    #[arg(long)]
    pub viewers: usize,
    /// Churn per second: this many viewers leave and as many join, each second.
    #[arg(long)]
    pub rate: f64,
    /// Seconds of churn.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
}

/// Which worker this process is, when it is a child of a `--procs` parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildRole {
    pub index: usize,
    pub count: usize,
    pub nonce: String,
}

impl ChildRole {
    pub fn parse(s: &str) -> anyhow::Result<ChildRole> {
        let mut parts = s.splitn(3, ':');
        let (Some(i), Some(n), Some(nonce)) = (parts.next(), parts.next(), parts.next()) else {
            anyhow::bail!("--child must be INDEX:COUNT:NONCE");
        };
        let index: usize = i.parse()?;
        let count: usize = n.parse()?;
        anyhow::ensure!(index < count, "--child index must be below the count");
        Ok(ChildRole {
            index,
            count,
            nonce: nonce.to_owned(),
        })
    }
}
