//! Logging: one `tracing` subscriber for the process, human-readable by
//! default, JSON lines when `log.format = "json"`. `RUST_LOG` overrides
//! `log.level`.
//!
//! Call [`init`] once, from `main`; tests leave logging off unless
//! `ROOMCAST_TEST_LOG` is set. Nothing here decides what is logged.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

use crate::settings::{LogFormat, LogSettings};

/// Install the global subscriber. A second call is a no-op (tests call it per app).
pub fn init(log: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match log.format {
        LogFormat::Pretty => registry.with(fmt::layer().with_target(false)).try_init(),
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true),
            )
            .try_init(),
    };
    // Err only means a subscriber is already installed.
    drop(result);
}
