//! Configuration: `config/default.toml` (built into the binary, so it always
//! exists), then `config/default.toml` and `config/<ROOMCAST_ENV>.toml` from
//! disk if present, then `ROOMCAST__<SECTION>__<KEY>` environment variables.
//!
//! This module only reads and checks settings; it starts nothing. Defaults live
//! in `config/default.toml` alone, never in code.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

const DEFAULTS: &str = include_str!("../config/default.toml");
/// Shortest secret production accepts (contract §4).
pub const MIN_PRODUCTION_SECRET_BYTES: usize = 32;

/// A string that never prints (tokens, keys, passwords).
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    pub node: NodeSettings,
    pub database: DatabaseSettings,
    pub redis: RedisSettings,
    pub auth: AuthSettings,
    pub api: ApiSettings,
    pub presence: PresenceSettings,
    pub limits: Limits,
    pub rooms: RoomSettings,
    pub store: StoreSettings,
    pub analytics: AnalyticsSettings,
    pub recovery: RecoverySettings,
    pub automod: AutomodSettings,
    pub webhooks: WebhookSettings,
    pub log: LogSettings,
}

/// Contract §5: how far back a resuming client can be served exactly.
#[derive(Debug, Clone, Deserialize)]
pub struct RecoverySettings {
    pub max_messages: u64,
}

/// Contract §7: blocked terms for every room, and how long a held message waits.
#[derive(Debug, Clone, Deserialize)]
pub struct AutomodSettings {
    pub terms: Vec<TermSetting>,
    pub hold_s: u64,
}

/// A blocked term: a case-insensitive whole word, `*` allowed at either end.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct TermSetting {
    pub pattern: String,
    /// `block` or `hold`.
    pub action: String,
}

/// Contract §8: signed webhooks from a stored outbox.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSettings {
    pub url: Option<String>,
    pub secret: Option<Secret>,
    /// Also send `message.created` for every chat message.
    pub messages: bool,
    pub retry_base_ms: u64,
    pub retry_s: u64,
    /// The event types to send; empty (the default) = all of them.
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AnalyticsSettings {
    pub period_ms: u64,
    pub retention_days: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// Proxies whose `X-Forwarded-For` is believed (CIDR list).
    pub trusted_proxies: Vec<String>,
    pub workers: usize,
    pub shutdown_timeout_s: u64,
    pub drain_s: u64,
    pub tcp_nodelay: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NodeSettings {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseSettings {
    pub url: Secret,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RedisSettings {
    pub url: Option<Secret>,
    pub prefix: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    pub jwt_secret: Option<Secret>,
    /// Where the generated secret is kept when `jwt_secret` is unset.
    pub secret_file: String,
    pub leeway_s: u64,
    pub anonymous_chat: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ApiSettings {
    pub key: Option<Secret>,
    pub posts_per_room_per_second: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PresenceSettings {
    pub ttl_s: u64,
    pub interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Limits {
    pub idle_timeout_s: u64,
    pub max_frame_bytes: usize,
    pub max_text_chars: usize,
    pub max_rooms_per_connection: usize,
    pub max_bad_frames: u32,
    pub outbound_queue: usize,
    pub outbound_bytes: usize,
    pub write_timeout_s: u64,
    pub messages_per_window: u32,
    pub message_window_s: u64,
    pub reactions_per_second: u32,
    pub connections_per_ip: u32,
    pub connections_per_user: u32,
    pub connects_per_ip_per_s: u32,
    pub connects_per_ip_burst: u32,
    pub frames_per_s: u32,
    pub frames_burst: u32,
    pub history_frame_cost: u32,
    pub rooms_per_node: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RoomSettings {
    pub recent: usize,
    pub viewer_milestones: Vec<u64>,
    pub stats_interval_s: u64,
    /// Rooms with more viewers than this have typing off unless set otherwise.
    pub typing_max_viewers: u64,
    pub reaction_window_ms: u64,
    pub viewers_interval_ms: u64,
    pub idle_grace_s: u64,
    pub emojis: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoreSettings {
    pub batch_size: usize,
    /// Most bytes of writes held while the database is slow or away; past it,
    /// new chat messages are refused (moderation writes are always kept).
    pub max_queue_bytes: usize,
    pub flush_interval_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

impl Settings {
    /// Load from `./config` (or `$ROOMCAST_CONFIG_DIR`), `$ROOMCAST_ENV` and the environment.
    pub fn load() -> anyhow::Result<Settings> {
        let dir = std::env::var("ROOMCAST_CONFIG_DIR").unwrap_or_else(|_| "config".to_owned());
        let env = std::env::var("ROOMCAST_ENV").ok();
        Settings::load_from(Path::new(&dir), env.as_deref())
    }

    /// Load with an explicit config directory and environment name.
    pub fn load_from(dir: &Path, env: Option<&str>) -> anyhow::Result<Settings> {
        use config::{Config, Environment, File, FileFormat};
        let mut builder = Config::builder()
            .add_source(File::from_str(DEFAULTS, FileFormat::Toml))
            .add_source(File::from(dir.join("default.toml")).required(false));
        if let Some(env) = env.filter(|e| !e.is_empty()) {
            builder =
                builder.add_source(File::from(dir.join(format!("{env}.toml"))).required(false));
        }
        let settings: Settings = builder
            .add_source(
                Environment::with_prefix("ROOMCAST")
                    .prefix_separator("__")
                    .separator("__")
                    .list_separator(",")
                    .with_list_parse_key("rooms.emojis")
                    .with_list_parse_key("rooms.viewer_milestones")
                    .with_list_parse_key("server.trusted_proxies")
                    .with_list_parse_key("webhooks.events")
                    .try_parsing(true),
            )
            .build()
            .context("failed to read configuration")?
            .try_deserialize()
            .context("configuration is invalid")?;
        settings.check(env == Some("production"))?;
        Ok(settings)
    }

    /// Cross-field checks that serde cannot express.
    fn check(&self, production: bool) -> anyhow::Result<()> {
        if production {
            let len = self
                .auth
                .jwt_secret
                .as_ref()
                .map_or(0, |s| s.expose().len());
            if len == 0 {
                anyhow::bail!(
                    "auth.jwt_secret is required when ROOMCAST_ENV=production \
                     (set ROOMCAST__AUTH__JWT_SECRET)"
                );
            }
            anyhow::ensure!(
                len >= MIN_PRODUCTION_SECRET_BYTES,
                "auth.jwt_secret must be at least {MIN_PRODUCTION_SECRET_BYTES} bytes in production \
                 (it is {len})"
            );
        }
        let l = &self.limits;
        anyhow::ensure!(l.idle_timeout_s >= 1, "limits.idle_timeout_s must be >= 1");
        anyhow::ensure!(
            l.max_frame_bytes >= 64,
            "limits.max_frame_bytes must be >= 64"
        );
        anyhow::ensure!(l.outbound_queue >= 1, "limits.outbound_queue must be >= 1");
        anyhow::ensure!(
            l.outbound_bytes >= 4096,
            "limits.outbound_bytes must be >= 4096"
        );
        anyhow::ensure!(
            l.write_timeout_s >= 1,
            "limits.write_timeout_s must be >= 1"
        );
        anyhow::ensure!(
            l.messages_per_window >= 1 && l.message_window_s >= 1,
            "limits.messages_per_window and limits.message_window_s must be >= 1"
        );
        anyhow::ensure!(
            l.reactions_per_second >= 1,
            "limits.reactions_per_second must be >= 1"
        );
        anyhow::ensure!(
            self.rooms.reaction_window_ms >= 10,
            "rooms.reaction_window_ms must be >= 10"
        );
        anyhow::ensure!(
            self.rooms.viewers_interval_ms >= 10,
            "rooms.viewers_interval_ms must be >= 10"
        );
        anyhow::ensure!(
            !self.rooms.emojis.is_empty(),
            "rooms.emojis must not be empty"
        );
        anyhow::ensure!(self.store.batch_size >= 1, "store.batch_size must be >= 1");
        Ok(())
    }

    /// The JWT secret in force: `auth.jwt_secret`, or else the one kept in
    /// `auth.secret_file`, generated at random (and kept, readable by this user
    /// only) the first time. `roomcast token` and the server read the same file.
    pub fn jwt_secret(&self) -> anyhow::Result<Secret> {
        if let Some(s) = self
            .auth
            .jwt_secret
            .as_ref()
            .filter(|s| !s.expose().is_empty())
        {
            return Ok(s.clone());
        }
        let path = Path::new(&self.auth.secret_file);
        if let Ok(kept) = std::fs::read_to_string(path) {
            let kept = kept.trim();
            if !kept.is_empty() {
                return Ok(Secret::new(kept));
            }
        }
        let secret = random_hex(32).context("failed to read random bytes for a secret")?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create {}", dir.display()))?;
        }
        write_private(path, &secret).with_context(|| {
            format!("failed to keep the generated secret in {}", path.display())
        })?;
        tracing::warn!(
            file = %path.display(),
            "auth.jwt_secret is not set: generated a random secret and kept it there \
             (every node of a cluster needs the same one: set ROOMCAST__AUTH__JWT_SECRET)"
        );
        Ok(Secret::new(secret))
    }

    /// This node's id: `node.id`, else the host name.
    pub fn node_id(&self) -> String {
        if !self.node.id.is_empty() {
            return self.node.id.clone();
        }
        std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "roomcast".to_owned())
    }
}

/// `n` random bytes from the kernel, as hex.
fn random_hex(n: usize) -> std::io::Result<String> {
    use std::io::Read as _;
    let mut bytes = vec![0u8; n];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Write a file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")
}

impl Limits {
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_defaults_are_the_contracts() {
        let s = Settings::load_from(Path::new("/nonexistent"), None).unwrap();
        assert_eq!(s.server.host, "0.0.0.0");
        assert_eq!(s.server.port, 8080);
        assert_eq!(
            s.database.url.expose(),
            "sqlite://data/roomcast.db?mode=rwc"
        );
        assert!(s.redis.url.is_none());
        assert_eq!(s.redis.prefix, "roomcast");
        assert!(s.api.key.is_none());
        assert_eq!(s.presence.ttl_s, 15);
        assert_eq!(s.limits.idle_timeout_s, 60);
        assert_eq!(s.limits.max_frame_bytes, 4096);
        assert_eq!(s.limits.max_rooms_per_connection, 10);
        assert_eq!(s.rooms.emojis.len(), 6);
        assert_eq!(s.auth.secret_file, "data/jwt_secret");
    }

    #[test]
    fn without_a_secret_one_is_generated_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("roomcast-secret-{}", ulid::Ulid::generate()));
        let mut s = Settings::load_from(Path::new("/nonexistent"), None).unwrap();
        s.auth.secret_file = dir.join("data/jwt_secret").display().to_string();
        let first = s.jwt_secret().unwrap();
        assert_eq!(first.expose().len(), 64);
        assert_eq!(s.jwt_secret().unwrap(), first, "the kept one is reused");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&s.auth.secret_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A configured secret wins.
        s.auth.jwt_secret = Some(Secret::new("configured"));
        assert_eq!(s.jwt_secret().unwrap().expose(), "configured");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn production_refuses_a_short_secret() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut s = Settings::load_from(&dir, None).unwrap();
        s.auth.jwt_secret = Some(Secret::new("x".repeat(31)));
        let err = s.check(true).unwrap_err();
        assert!(format!("{err:#}").contains("at least 32"), "{err:#}");
        s.auth.jwt_secret = Some(Secret::new("x".repeat(32)));
        assert!(s.check(true).is_ok());
    }

    #[test]
    fn production_without_a_secret_is_a_startup_error() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let err = Settings::load_from(&dir, Some("production")).unwrap_err();
        assert!(format!("{err:#}").contains("jwt_secret"), "{err:#}");
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
