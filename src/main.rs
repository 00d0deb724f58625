//! The `roomcast` binary: serve (no arguments), or `roomcast token …` to mint a
//! token with the configured secret for trying things out.

use anyhow::Context;
use clap::{Parser, Subcommand};
use roomcast::auth::{Authenticator, Claims, now_s};
use roomcast::settings::Settings;
use roomcast::startup::Application;
use roomcast::telemetry;

#[derive(Parser)]
#[command(
    name = "roomcast",
    version,
    about = "Real-time chat and presence for live-stream rooms"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a token signed with the configured secret (auth.jwt_secret).
    Token {
        /// User id.
        #[arg(long)]
        sub: String,
        /// Display name (defaults to the user id).
        #[arg(long)]
        name: Option<String>,
        /// Rooms this user moderates, comma-separated, or `*` for every room.
        #[arg(long = "mod", value_delimiter = ',')]
        moderates: Vec<String>,
        /// Badges echoed on the user's messages, comma-separated.
        #[arg(long, value_delimiter = ',')]
        badges: Vec<String>,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load()?;
    match cli.command {
        Some(Command::Token {
            sub,
            name,
            moderates,
            badges,
            ttl,
        }) => {
            let claims = Claims {
                sub,
                exp: now_s() + ttl,
                nbf: None,
                name,
                moderates,
                badges,
            };
            roomcast::auth::identity_from_claims(claims.clone())
                .context("these claims would be refused")?;
            let secret = settings.jwt_secret()?;
            let auth = Authenticator::new(secret.expose().as_bytes(), settings.auth.leeway_s);
            println!("{}", auth.mint(&claims)?);
            Ok(())
        }
        None => {
            telemetry::init(&settings.log);
            raise_open_files_limit();
            actix_web::rt::System::new().block_on(async move {
                let app = Application::build(settings).await?;
                app.run_until_stopped().await
            })
        }
    }
}

/// Every connection is a file descriptor: raise the soft limit to the hard one
/// (containers often start with a soft limit of 1024).
fn raise_open_files_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let wanted = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
                lim = wanted;
            }
        }
    }
    tracing::info!(
        open_files = lim.rlim_cur,
        "open-file limit (one per connection)"
    );
}
