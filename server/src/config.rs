//! Osprey's configuration: one typed struct, layered as defaults ← `osprey.toml` ← `OSPREY__…`
//! environment variables ← command-line flags, validated once at start-up.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything that can be wrong with a configuration, each naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config{}: {message}", origin.as_deref().map(|o| format!(" in {o}")).unwrap_or_default())]
    Parse {
        origin: Option<String>,
        message: String,
    },
    #[error("invalid setting {key} = {value:?}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
}

/// A value that must never reach a log line or a `Debug` dump.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
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

/// The whole configuration of one Osprey process.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub ingest: IngestConfig,
    pub live: LiveConfig,
    pub auth: AuthConfig,
    pub demo: DemoConfig,
    pub alerts: AlertsConfig,
    pub security: SecurityConfig,
    pub embed: EmbedConfig,
}

/// Embedding panels in other sites (see [`crate::embeds`]).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmbedConfig {
    /// Origins (`https://intranet.example.com`) that embed tokens may allow to frame panels,
    /// sent as `Content-Security-Policy: frame-ancestors`. Empty: each token names its own.
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    pub addr: String,
    /// How long graceful shutdown waits for in-flight requests.
    pub shutdown_grace: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// How long raw samples, events, errors, spans and security events are kept.
    pub retention: String,
    /// How long the 1-minute and 1-hour rollups are kept.
    pub rollup_retention: String,
    /// Reader connections (SQLite) or total connections (PostgreSQL).
    pub max_connections: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IngestConfig {
    pub max_body_bytes: usize,
    pub max_decompressed_bytes: usize,
    pub max_items: usize,
    pub max_labels: usize,
    pub max_label_key_bytes: usize,
    pub max_label_value_bytes: usize,
    pub max_message_bytes: usize,
    pub max_name_bytes: usize,
    /// Requests waiting for the batch writer; a full queue answers 429.
    pub queue_depth: usize,
    /// Items the writer puts in one transaction at most (group commit).
    pub max_commit_items: usize,
    /// Distinct series the store accepts before new ones are refused.
    pub max_series: usize,
    /// Active series (a sample in the last hour) one ingest key may feed; a batch that would
    /// start more is refused with 429 `series_limit`. 0 is no limit.
    pub max_series_per_key: usize,
    /// Ingest requests per second per key (bursts of twice that); 0 is no limit.
    pub rate_per_key: u32,
    /// Ingest requests per second per client address; 0 is no limit.
    pub rate_per_ip: u32,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LiveConfig {
    /// Updates sent per second per stream at most.
    pub updates_per_second: u32,
    pub max_subscribers: usize,
    /// Streams one client address, or one embed token, may hold open at most.
    pub max_per_client: usize,
    /// How much recent data the in-memory hot window keeps per series.
    pub hot_window: String,
    /// Points kept per series in the hot window at most.
    pub hot_points_per_series: usize,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Accepted as an ingest key of the default project (`OSPREY_INGEST_KEY`).
    pub ingest_key: Option<Secret>,
    /// Accepted as an admin API token of the default project (`OSPREY_ADMIN_TOKEN`).
    pub admin_token: Option<Secret>,
    /// The first admin's password (`OSPREY_ADMIN_PASSWORD`); generated and printed once when
    /// unset. Used only when there are no users yet.
    pub admin_password: Option<Secret>,
    /// How long a sign-in lasts.
    pub session_ttl: String,
    /// Let people who have not signed in read (never change) everything; on with `--demo`.
    pub anonymous_read: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            ingest_key: None,
            admin_token: None,
            admin_password: None,
            session_ttl: "7d".into(),
            anonymous_read: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// How often every alert rule is evaluated.
    pub eval_interval: String,
    /// The address people reach this Osprey at, for links in notifications.
    pub public_url: String,
    /// Most notifications sent to one channel per minute; the rest wait in the outbox.
    pub channel_rate_per_minute: u32,
    /// Delivery attempts before a notification is given up (dead-lettered).
    pub max_attempts: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            eval_interval: "15s".into(),
            public_url: "http://127.0.0.1:3000".into(),
            channel_rate_per_minute: 30,
            max_attempts: 12,
        }
    }
}

/// Attack detection over security events (see [`crate::security`]).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Failed sign-ins from one address, or against one account, within `window` that make
    /// a brute-force finding.
    pub brute_force_failures: usize,
    /// Distinct accounts failing from one address within `window` that make credential stuffing.
    pub stuffing_accounts: usize,
    pub window: String,
    /// Two sign-ins of one account further apart than this speed allows are impossible travel.
    pub max_speed_kmh: f64,
    /// Addresses and accounts the detector remembers at once.
    pub max_subjects: usize,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        let t = crate::security::Thresholds::default();
        SecurityConfig {
            brute_force_failures: t.brute_force_failures,
            stuffing_accounts: t.stuffing_accounts,
            window: "5m".into(),
            max_speed_kmh: t.max_speed_kmh,
            max_subjects: t.max_subjects,
        }
    }
}

impl SecurityConfig {
    pub fn thresholds(&self) -> crate::security::Thresholds {
        crate::security::Thresholds {
            brute_force_failures: self.brute_force_failures,
            stuffing_accounts: self.stuffing_accounts,
            window_ms: parse_duration(&self.window)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(5 * 60_000),
            max_speed_kmh: self.max_speed_kmh,
            max_subjects: self.max_subjects,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    /// Generate live demo data through the ingest path.
    pub enabled: bool,
}

impl AlertsConfig {
    pub fn eval_interval(&self) -> Duration {
        parse_duration(&self.eval_interval).unwrap_or(Duration::from_secs(15))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            addr: "127.0.0.1:3000".into(),
            shutdown_grace: "10s".into(),
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            database_url: "sqlite://./data/osprey.db".into(),
            retention: "7d".into(),
            rollup_retention: "400d".into(),
            max_connections: 4,
        }
    }
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig {
            max_body_bytes: 5 * 1024 * 1024,
            max_decompressed_bytes: 50 * 1024 * 1024,
            max_items: 10_000,
            max_labels: 32,
            max_label_key_bytes: 128,
            max_label_value_bytes: 256,
            max_message_bytes: 4096,
            max_name_bytes: 256,
            queue_depth: 256,
            max_commit_items: 50_000,
            max_series: 100_000,
            max_series_per_key: 10_000,
            rate_per_key: 2_000,
            rate_per_ip: 1_000,
        }
    }
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            updates_per_second: 4,
            max_subscribers: 1024,
            max_per_client: 32,
            hot_window: "1h".into(),
            hot_points_per_series: 4096,
        }
    }
}

/// Settings given on the command line; they win over every other layer.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub addr: Option<String>,
    pub database_url: Option<String>,
    pub demo: bool,
}

impl Config {
    /// Builds the configuration from every layer and validates it.
    ///
    /// `file` is the explicit `--config`; without it `./osprey.toml` is read when present.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from("osprey.toml")).filter(|p| p.exists()),
        };
        let file = match path {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Some((path.display().to_string(), text))
            }
            None => None,
        };
        Self::from_layers(
            file.as_ref()
                .map(|(origin, text)| (origin.as_str(), text.as_str())),
            env,
            overrides,
        )
    }

    /// [`Config::load`] once the file is read: `file` is its name and text. Every input here is
    /// untrusted text, so this is what the config fuzz target drives.
    pub fn from_layers(
        file: Option<(&str, &str)>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut layered = toml::Table::new();
        if let Some((origin, text)) = file {
            layered = text
                .parse::<toml::Table>()
                .map_err(|e| ConfigError::Parse {
                    origin: Some(origin.to_string()),
                    message: e.message().to_string(),
                })?;
        }
        for (name, value) in env {
            apply_env(&mut layered, &name, &value)?;
        }
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(layered))
            .map_err(|e| {
                let key = e.path().to_string();
                ConfigError::Parse {
                    origin: None,
                    message: format!("{key}: {}", e.into_inner().message()),
                }
            })?;
        if let Some(addr) = &overrides.addr {
            config.server.addr = addr.clone();
        }
        if let Some(url) = &overrides.database_url {
            config.storage.database_url = url.clone();
        }
        config.demo.enabled |= overrides.demo;
        // The demo is for looking around: anyone may read it without signing in.
        config.auth.anonymous_read |= overrides.demo;
        config.validate()?;
        Ok(config)
    }

    /// Parses a TOML document alone (no environment, no overrides), as the example file test does.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: None,
            message: e.message().to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        for (key, value) in [
            ("server.shutdown_grace", &self.server.shutdown_grace),
            ("storage.retention", &self.storage.retention),
            ("storage.rollup_retention", &self.storage.rollup_retention),
            ("live.hot_window", &self.live.hot_window),
            ("alerts.eval_interval", &self.alerts.eval_interval),
            ("auth.session_ttl", &self.auth.session_ttl),
            ("security.window", &self.security.window),
        ] {
            parse_setting_duration(key, value)?;
        }
        for (i, origin) in self.embed.allowed_origins.iter().enumerate() {
            crate::embeds::check_origin(origin).map_err(|reason| {
                invalid(&format!("embed.allowed_origins[{i}]"), origin, &reason)
            })?;
        }
        let url = &self.storage.database_url;
        if !(url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return Err(invalid(
                "storage.database_url",
                url,
                "expected sqlite://PATH or postgres://…",
            ));
        }
        let positive = [
            ("ingest.max_body_bytes", self.ingest.max_body_bytes),
            (
                "ingest.max_decompressed_bytes",
                self.ingest.max_decompressed_bytes,
            ),
            ("ingest.max_items", self.ingest.max_items),
            (
                "ingest.max_label_value_bytes",
                self.ingest.max_label_value_bytes,
            ),
            ("ingest.max_message_bytes", self.ingest.max_message_bytes),
            ("ingest.queue_depth", self.ingest.queue_depth),
            ("ingest.max_commit_items", self.ingest.max_commit_items),
            ("ingest.max_series", self.ingest.max_series),
            ("live.max_subscribers", self.live.max_subscribers),
            ("live.max_per_client", self.live.max_per_client),
            (
                "live.hot_points_per_series",
                self.live.hot_points_per_series,
            ),
            (
                "security.brute_force_failures",
                self.security.brute_force_failures,
            ),
            (
                "security.stuffing_accounts",
                self.security.stuffing_accounts,
            ),
            ("security.max_subjects", self.security.max_subjects),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(invalid(key, "0", "must be greater than 0"));
            }
        }
        if self.alerts.eval_interval() < Duration::from_secs(1) {
            return Err(invalid(
                "alerts.eval_interval",
                &self.alerts.eval_interval,
                "must be at least 1s",
            ));
        }
        for (key, value) in [
            (
                "alerts.channel_rate_per_minute",
                self.alerts.channel_rate_per_minute,
            ),
            ("alerts.max_attempts", self.alerts.max_attempts),
        ] {
            if value == 0 {
                return Err(invalid(key, "0", "must be greater than 0"));
            }
        }
        if !(self.alerts.public_url.starts_with("http://")
            || self.alerts.public_url.starts_with("https://"))
        {
            return Err(invalid(
                "alerts.public_url",
                &self.alerts.public_url,
                "expected an http:// or https:// address",
            ));
        }
        if self.storage.max_connections == 0 {
            return Err(invalid(
                "storage.max_connections",
                "0",
                "must be greater than 0",
            ));
        }
        if !(1..=60).contains(&self.live.updates_per_second) {
            return Err(invalid(
                "live.updates_per_second",
                &self.live.updates_per_second.to_string(),
                "must be between 1 and 60",
            ));
        }
        if self.security.max_speed_kmh.is_nan() || self.security.max_speed_kmh <= 0.0 {
            return Err(invalid(
                "security.max_speed_kmh",
                &self.security.max_speed_kmh.to_string(),
                "must be greater than 0",
            ));
        }
        if self.ingest.max_decompressed_bytes < self.ingest.max_body_bytes {
            return Err(invalid(
                "ingest.max_decompressed_bytes",
                &self.ingest.max_decompressed_bytes.to_string(),
                "must be at least ingest.max_body_bytes",
            ));
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.addr.parse().map_err(|_| {
            invalid(
                "server.addr",
                &self.server.addr,
                "expected HOST:PORT, e.g. 127.0.0.1:3000",
            )
        })
    }

    pub fn session_ttl(&self) -> Duration {
        parse_duration(&self.auth.session_ttl).expect("validated")
    }
    pub fn retention(&self) -> Duration {
        parse_duration(&self.storage.retention).expect("validated")
    }
    pub fn rollup_retention(&self) -> Duration {
        parse_duration(&self.storage.rollup_retention).expect("validated")
    }
    pub fn hot_window(&self) -> Duration {
        parse_duration(&self.live.hot_window).expect("validated")
    }
    pub fn shutdown_grace(&self) -> Duration {
        parse_duration(&self.server.shutdown_grace).expect("validated")
    }
}

fn invalid(key: &str, value: &str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn parse_setting_duration(key: &str, value: &str) -> Result<Duration, ConfigError> {
    parse_duration(value)
        .ok_or_else(|| invalid(key, value, "expected a duration such as 30s, 15m, 6h or 7d"))
}

/// Parses `500ms`, `10s`, `15m`, `6h`, `7d`, `2w`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits.parse().ok()?;
    let ms = match unit {
        "ms" => n,
        "s" => n.checked_mul(1_000)?,
        "m" => n.checked_mul(60_000)?,
        "h" => n.checked_mul(3_600_000)?,
        "d" => n.checked_mul(86_400_000)?,
        "w" => n.checked_mul(7 * 86_400_000)?,
        _ => return None,
    };
    Some(Duration::from_millis(ms))
}

/// Applies one `OSPREY__SECTION__KEY=value` variable (and the two documented secrets).
/// Other variables are ignored.
fn apply_env(table: &mut toml::Table, name: &str, raw: &str) -> Result<(), ConfigError> {
    let (section, key) = match name {
        "OSPREY_INGEST_KEY" => ("auth".to_string(), "ingest_key".to_string()),
        "OSPREY_ADMIN_TOKEN" => ("auth".to_string(), "admin_token".to_string()),
        "OSPREY_ADMIN_PASSWORD" => ("auth".to_string(), "admin_password".to_string()),
        _ => {
            let Some(rest) = name.strip_prefix("OSPREY__") else {
                return Ok(());
            };
            let Some((section, key)) = rest.split_once("__") else {
                return Err(invalid(name, raw, "expected OSPREY__SECTION__KEY"));
            };
            (section.to_ascii_lowercase(), key.to_ascii_lowercase())
        }
    };
    if raw.is_empty() && section == "auth" {
        return Ok(());
    }
    let value = env_value(raw);
    let entry = table
        .entry(section.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(section_table) = entry else {
        return Err(invalid(&section, raw, "is not a section"));
    };
    section_table.insert(key, value);
    Ok(())
}

/// An environment value is read as a TOML scalar when it is one (`42`, `true`, `"quoted"`),
/// and as a plain string otherwise.
fn env_value(raw: &str) -> toml::Value {
    let doc = format!("v = {raw}");
    match doc.parse::<toml::Table>() {
        Ok(mut t) => match t.remove("v") {
            Some(
                v @ (toml::Value::Integer(_)
                | toml::Value::Boolean(_)
                | toml::Value::Float(_)
                | toml::Value::String(_)
                | toml::Value::Array(_)),
            ) => v,
            _ => toml::Value::String(raw.to_string()),
        },
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order_defaults_file_env_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("osprey.toml");
        std::fs::write(
            &file,
            "[ingest]\nmax_items = 7\nmax_labels = 9\n[server]\naddr = \"127.0.0.1:4000\"\n",
        )
        .unwrap();
        let flags = Overrides {
            addr: Some("127.0.0.1:5000".into()),
            ..Default::default()
        };
        let c = Config::load(
            Some(&file),
            env(&[
                ("OSPREY__INGEST__MAX_LABELS", "11"),
                ("OSPREY__SERVER__ADDR", "127.0.0.1:4500"),
            ]),
            &flags,
        )
        .unwrap();
        assert_eq!(c.ingest.max_body_bytes, 5 * 1024 * 1024, "default kept");
        assert_eq!(c.ingest.max_items, 7, "file over default");
        assert_eq!(c.ingest.max_labels, 11, "env over file");
        assert_eq!(c.server.addr, "127.0.0.1:5000", "flag over env");
    }

    #[test]
    fn example_config_parses_and_matches_defaults() {
        let text = include_str!("../../osprey.example.toml");
        let parsed = Config::from_toml(text).expect("osprey.example.toml must parse");
        assert_eq!(
            parsed,
            Config::default(),
            "the example documents the defaults"
        );
    }

    #[test]
    fn bad_settings_name_the_key() {
        let err = Config::load(
            None,
            env(&[("OSPREY__INGEST__MAX_ITEMS", "0")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("ingest.max_items"), "{err}");
        let err = Config::load(
            None,
            env(&[("OSPREY__STORAGE__RETENTION", "soon")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("storage.retention"), "{err}");
        let err = Config::load(
            None,
            env(&[("OSPREY__INGEST__MAX_ITMES", "3")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("max_itmes"), "{err}");
        let err = Config::load(
            None,
            env(&[("OSPREY__SERVER__ADDR", "localhost")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("server.addr"), "{err}");
        let err = Config::load(
            None,
            env(&[("OSPREY__INGEST__MAX_ITEMS", "many")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("max_items"), "{err}");
    }

    #[test]
    fn secrets_come_from_their_variables_and_stay_hidden() {
        let c = Config::load(
            None,
            env(&[
                ("OSPREY_INGEST_KEY", "ik-123"),
                ("OSPREY_ADMIN_TOKEN", "tok"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.auth.ingest_key.as_ref().unwrap().expose(), "ik-123");
        let dump = format!("{c:?}");
        assert!(
            !dump.contains("ik-123") && !dump.contains("tok\""),
            "{dump}"
        );
    }

    #[test]
    fn security_thresholds_come_from_the_environment() {
        let c = Config::load(
            None,
            env(&[
                ("OSPREY__SECURITY__BRUTE_FORCE_FAILURES", "3"),
                ("OSPREY__SECURITY__WINDOW", "2m"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        let t = c.security.thresholds();
        assert_eq!((t.brute_force_failures, t.window_ms), (3, 120_000));
        assert_eq!(t.stuffing_accounts, 5, "default kept");
        let err = Config::load(
            None,
            env(&[("OSPREY__SECURITY__WINDOW", "soon")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("security.window"), "{err}");
    }

    #[test]
    fn embed_origins_come_from_a_list_and_are_checked() {
        let c = Config::load(
            None,
            env(&[(
                "OSPREY__EMBED__ALLOWED_ORIGINS",
                r#"["https://intranet.example.com", "http://127.0.0.1:4000"]"#,
            )]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.embed.allowed_origins.len(), 2);
        let err = Config::load(
            None,
            env(&[(
                "OSPREY__EMBED__ALLOWED_ORIGINS",
                r#"["https://a.example/x"]"#,
            )]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("embed.allowed_origins[0]"),
            "{err}"
        );
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5y"), None);
        assert_eq!(parse_duration("99999999999999999999d"), None);
    }
}
