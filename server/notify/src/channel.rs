//! Channels: the `kind` and `config` of `POST /api/v1/channels`, and their validation.
//!
//! One shape per kind; fields not listed are refused, by name:
//!
//! ```json
//! {"kind": "webhook",   "config": {"url": "https://hooks.example.com/osprey", "secret": "s3cret"}}
//! {"kind": "slack",     "config": {"webhook_url": "https://hooks.slack.com/services/T0/B0/XXXX"}}
//! {"kind": "email",     "config": {"host": "smtp.example.com", "port": 587, "security": "starttls",
//!                                  "username": "osprey", "password": "…",
//!                                  "from": "Osprey <osprey@example.com>", "to": ["ops@example.com"]}}
//! {"kind": "sms",       "config": {"url": "https://api.twilio.com/2010-04-01/Accounts/AC…/Messages.json",
//!                                  "account_sid": "AC…", "auth_token": "…",
//!                                  "from": "+15005550006", "to": ["+15005550001"]}}
//! {"kind": "pagerduty", "config": {"routing_key": "R0123456789ABCDEF0123456789ABCDE"}}
//! ```
//!
//! Optional: the webhook `secret` (signs the body); the e-mail `port` (default by `security`:
//! 587 for `starttls`, the default, 465 for `tls`, 25 for `plain`), `username` and `password`
//! (both or neither); the PagerDuty `url` (default [`DEFAULT_PAGERDUTY_URL`]).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::ConfigError;

/// The channel kinds, as written in `kind`.
pub const CHANNEL_KINDS: [&str; 5] = ["webhook", "slack", "email", "sms", "pagerduty"];
/// What [`ChannelConfig::redacted`] shows in place of a secret.
pub const REDACTED: &str = "••••";
/// Where PagerDuty's Events API v2 takes events.
pub const DEFAULT_PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
/// Longest URL, in characters.
pub const MAX_URL_CHARS: usize = 2_048;
/// Longest secret, password, token or user name, in characters.
pub const MAX_SECRET_CHARS: usize = 256;
/// Longest PagerDuty routing key, in characters (PagerDuty's own are 32).
pub const MAX_ROUTING_KEY_CHARS: usize = 128;
/// Longest Twilio-style account SID, in characters (Twilio's own are 34).
pub const MAX_ACCOUNT_SID_CHARS: usize = 64;
/// Longest e-mail address or `from` mailbox, in characters.
pub const MAX_ADDRESS_CHARS: usize = 320;
/// Longest SMTP host name, in characters.
pub const MAX_HOST_CHARS: usize = 253;
/// Most recipients of an e-mail channel.
pub const MAX_EMAIL_RECIPIENTS: usize = 50;
/// Most recipients of an SMS channel: each one costs a request (and money).
pub const MAX_SMS_RECIPIENTS: usize = 20;

/// A channel's validated configuration.
///
/// `Debug` shows [`ChannelConfig::redacted`], so secrets stay out of logs.
#[derive(Clone, PartialEq, Eq)]
pub enum ChannelConfig {
    /// An HTTP endpoint that takes Osprey's own JSON ([`crate::payload::webhook_body`]).
    Webhook {
        /// The http(s) URL to POST to.
        url: String,
        /// When set, the body is signed in [`crate::SIGNATURE_HEADER`] with this key.
        secret: Option<String>,
    },
    /// A Slack incoming webhook.
    Slack {
        /// The incoming webhook's URL; it is a credential, so it is redacted in listings.
        webhook_url: String,
    },
    /// E-mail through an SMTP relay.
    Email {
        /// The relay's host name or IP address.
        host: String,
        /// The relay's port.
        port: u16,
        /// How the connection is protected.
        security: SmtpSecurity,
        /// The user to log in as, with `password`.
        username: Option<String>,
        /// The password to log in with, with `username`.
        password: Option<String>,
        /// The `From` mailbox, `osprey@example.com` or `Osprey <osprey@example.com>`.
        from: String,
        /// The recipients' addresses.
        to: Vec<String>,
    },
    /// SMS through a Twilio-style Messages endpoint.
    Sms {
        /// The Messages endpoint, e.g.
        /// `https://api.twilio.com/2010-04-01/Accounts/{sid}/Messages.json`.
        url: String,
        /// The account SID: the HTTP Basic user.
        account_sid: String,
        /// The auth token: the HTTP Basic password.
        auth_token: String,
        /// The sending number (E.164) or alphanumeric sender id.
        from: String,
        /// The recipients' numbers, E.164 (`+15005550001`).
        to: Vec<String>,
    },
    /// PagerDuty's Events API v2.
    PagerDuty {
        /// The integration key of the PagerDuty service or ruleset.
        routing_key: String,
        /// Where to send events, [`DEFAULT_PAGERDUTY_URL`] unless configured.
        url: String,
    },
}

/// How an SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    Starttls,
    /// TLS from the first byte, "implicit TLS" (port 465).
    Tls,
    /// No TLS at all: only for a relay on the same host or a trusted network (port 25).
    Plain,
}

impl SmtpSecurity {
    /// The security as written in `config.security`.
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpSecurity::Starttls => "starttls",
            SmtpSecurity::Tls => "tls",
            SmtpSecurity::Plain => "plain",
        }
    }

    /// The port used when `config.port` is left out.
    pub fn default_port(self) -> u16 {
        match self {
            SmtpSecurity::Starttls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Plain => 25,
        }
    }
}

/// Parses and validates a channel's `kind` and `config`.
pub fn parse_channel(kind: &str, config: &Value) -> Result<ChannelConfig, ConfigError> {
    if !config.is_object() {
        return Err(ConfigError::at("config", "must be a JSON object"));
    }
    match kind {
        "webhook" => from_config::<WebhookSpec>(config)?.validate(),
        "slack" => from_config::<SlackSpec>(config)?.validate(),
        "email" => from_config::<EmailSpec>(config)?.validate(),
        "sms" => from_config::<SmsSpec>(config)?.validate(),
        "pagerduty" => from_config::<PagerDutySpec>(config)?.validate(),
        other => Err(ConfigError::at(
            "kind",
            format!(
                "unknown channel kind {other:?}; expected one of {}",
                CHANNEL_KINDS.join(", ")
            ),
        )),
    }
}

impl ChannelConfig {
    /// The kind, as written in `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            ChannelConfig::Webhook { .. } => "webhook",
            ChannelConfig::Slack { .. } => "slack",
            ChannelConfig::Email { .. } => "email",
            ChannelConfig::Sms { .. } => "sms",
            ChannelConfig::PagerDuty { .. } => "pagerduty",
        }
    }

    /// The config as JSON for listing channels: every secret (webhook secret, SMTP password,
    /// SMS auth token, PagerDuty routing key, the token path of a Slack webhook URL, passwords
    /// and query strings in webhook URLs) is replaced by [`REDACTED`].
    pub fn redacted(&self) -> Value {
        let hidden = |secret: &Option<String>| secret.as_ref().map(|_| REDACTED);
        match self {
            ChannelConfig::Webhook { url, secret } => {
                with_optional(json!({"url": redact_url(url)}), "secret", hidden(secret))
            }
            ChannelConfig::Slack { webhook_url } => {
                json!({"webhook_url": redact_url_path(webhook_url)})
            }
            ChannelConfig::Email {
                host,
                port,
                security,
                username,
                password,
                from,
                to,
            } => {
                let json = json!({
                    "host": host, "port": port, "security": security.as_str(),
                    "from": from, "to": to,
                });
                let json = with_optional(json, "username", username.as_deref());
                with_optional(json, "password", hidden(password))
            }
            ChannelConfig::Sms {
                url,
                account_sid,
                from,
                to,
                ..
            } => json!({
                "url": redact_url(url), "account_sid": account_sid, "auth_token": REDACTED,
                "from": from, "to": to,
            }),
            ChannelConfig::PagerDuty { url, .. } => {
                json!({"routing_key": REDACTED, "url": redact_url(url)})
            }
        }
    }

    /// The full config as JSON, secrets included, for storage; [`parse_channel`] reads it back
    /// to an equal config.
    pub fn to_json(&self) -> Value {
        match self {
            ChannelConfig::Webhook { url, secret } => {
                with_optional(json!({"url": url}), "secret", secret.as_deref())
            }
            ChannelConfig::Slack { webhook_url } => json!({"webhook_url": webhook_url}),
            ChannelConfig::Email {
                host,
                port,
                security,
                username,
                password,
                from,
                to,
            } => {
                let json = json!({
                    "host": host, "port": port, "security": security.as_str(),
                    "from": from, "to": to,
                });
                let json = with_optional(json, "username", username.as_deref());
                with_optional(json, "password", password.as_deref())
            }
            ChannelConfig::Sms {
                url,
                account_sid,
                auth_token,
                from,
                to,
            } => json!({
                "url": url, "account_sid": account_sid, "auth_token": auth_token,
                "from": from, "to": to,
            }),
            ChannelConfig::PagerDuty { routing_key, url } => {
                json!({"routing_key": routing_key, "url": url})
            }
        }
    }
}

impl fmt::Debug for ChannelConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChannelConfig::{}({})", self.kind(), self.redacted())
    }
}

fn with_optional(mut json: Value, key: &str, value: Option<&str>) -> Value {
    if let (Some(value), Some(object)) = (value, json.as_object_mut()) {
        object.insert(key.to_string(), Value::from(value));
    }
    json
}

/// The URL without what may be a credential in it: the password and the query string.
fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else {
        return REDACTED.to_string();
    };
    let had_password = parsed.password().is_some();
    let had_query = parsed.query().is_some();
    let _ = parsed.set_password(None);
    parsed.set_query(None);
    let mut shown = parsed.to_string();
    if had_password {
        let user = parsed.username().to_string();
        let at = format!("{user}@");
        shown = shown.replacen(&at, &format!("{user}:{REDACTED}@"), 1);
    }
    if had_query {
        shown.push('?');
        shown.push_str(REDACTED);
    }
    shown
}

/// Scheme, host and port only: for URLs whose path is the credential (Slack's).
fn redact_url_path(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(parsed) => format!("{}/{REDACTED}", parsed.origin().ascii_serialization()),
        Err(_) => REDACTED.to_string(),
    }
}

// --- wire shapes -------------------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookSpec {
    url: String,
    #[serde(default)]
    secret: Option<String>,
}

impl WebhookSpec {
    fn validate(self) -> Result<ChannelConfig, ConfigError> {
        let url = check_url("config.url", &self.url)?;
        if let Some(secret) = &self.secret {
            check_secret("config.secret", secret, MAX_SECRET_CHARS)?;
        }
        Ok(ChannelConfig::Webhook {
            url,
            secret: self.secret,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlackSpec {
    webhook_url: String,
}

impl SlackSpec {
    fn validate(self) -> Result<ChannelConfig, ConfigError> {
        Ok(ChannelConfig::Slack {
            webhook_url: check_url("config.webhook_url", &self.webhook_url)?,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailSpec {
    host: String,
    #[serde(default)]
    port: Option<i64>,
    #[serde(default)]
    security: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    from: String,
    to: Vec<String>,
}

impl EmailSpec {
    fn validate(self) -> Result<ChannelConfig, ConfigError> {
        check_host("config.host", &self.host)?;
        let security = match self.security.as_deref() {
            None | Some("starttls") => SmtpSecurity::Starttls,
            Some("tls") => SmtpSecurity::Tls,
            Some("plain") => SmtpSecurity::Plain,
            Some(other) => {
                return Err(ConfigError::at(
                    "config.security",
                    format!("unknown security {other:?}; expected starttls, tls or plain"),
                ))
            }
        };
        let port = match self.port {
            None => security.default_port(),
            Some(port) => u16::try_from(port)
                .ok()
                .filter(|&port| port != 0)
                .ok_or_else(|| {
                    ConfigError::at(
                        "config.port",
                        format!("{port} is not a port; expected 1 to 65535"),
                    )
                })?,
        };
        match (&self.username, &self.password) {
            (Some(username), Some(password)) => {
                check_text("config.username", username, MAX_SECRET_CHARS)?;
                check_secret("config.password", password, MAX_SECRET_CHARS)?;
            }
            (Some(_), None) => {
                return Err(ConfigError::at(
                    "config.password",
                    "is required when config.username is set",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::at(
                    "config.username",
                    "is required when config.password is set",
                ))
            }
            (None, None) => {}
        }
        check_text("config.from", &self.from, MAX_ADDRESS_CHARS)?;
        if let Err(e) = lettre::message::Mailbox::from_str(&self.from) {
            return Err(ConfigError::at(
                "config.from",
                format!("{:?} is not an e-mail address or mailbox: {e}", self.from),
            ));
        }
        check_recipients("config.to", &self.to, MAX_EMAIL_RECIPIENTS, |field, to| {
            check_text(field, to, MAX_ADDRESS_CHARS)?;
            lettre::Address::from_str(to).map(drop).map_err(|e| {
                ConfigError::at(field, format!("{to:?} is not an e-mail address: {e}"))
            })
        })?;
        Ok(ChannelConfig::Email {
            host: self.host,
            port,
            security,
            username: self.username,
            password: self.password,
            from: self.from,
            to: self.to,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmsSpec {
    url: String,
    account_sid: String,
    auth_token: String,
    from: String,
    to: Vec<String>,
}

impl SmsSpec {
    fn validate(self) -> Result<ChannelConfig, ConfigError> {
        let url = check_url("config.url", &self.url)?;
        check_text(
            "config.account_sid",
            &self.account_sid,
            MAX_ACCOUNT_SID_CHARS,
        )?;
        if !self.account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(ConfigError::at(
                "config.account_sid",
                format!("{:?} may hold only letters and digits", self.account_sid),
            ));
        }
        check_secret("config.auth_token", &self.auth_token, MAX_SECRET_CHARS)?;
        if !is_phone_number(&self.from) && !is_sender_id(&self.from) {
            return Err(ConfigError::at(
                "config.from",
                format!(
                    "{:?} is neither an E.164 number like +15005550006 nor an alphanumeric \
                     sender id of at most 11 letters, digits and spaces",
                    self.from
                ),
            ));
        }
        check_recipients("config.to", &self.to, MAX_SMS_RECIPIENTS, |field, to| {
            if is_phone_number(to) {
                Ok(())
            } else {
                Err(ConfigError::at(
                    field,
                    format!("{to:?} is not an E.164 number like +15005550001"),
                ))
            }
        })?;
        Ok(ChannelConfig::Sms {
            url,
            account_sid: self.account_sid,
            auth_token: self.auth_token,
            from: self.from,
            to: self.to,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PagerDutySpec {
    routing_key: String,
    #[serde(default)]
    url: Option<String>,
}

impl PagerDutySpec {
    fn validate(self) -> Result<ChannelConfig, ConfigError> {
        check_secret(
            "config.routing_key",
            &self.routing_key,
            MAX_ROUTING_KEY_CHARS,
        )?;
        if !self.routing_key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(ConfigError::at(
                "config.routing_key",
                "may hold only printable ASCII characters, no spaces",
            ));
        }
        let url = match &self.url {
            Some(url) => check_url("config.url", url)?,
            None => DEFAULT_PAGERDUTY_URL.to_string(),
        };
        Ok(ChannelConfig::PagerDuty {
            routing_key: self.routing_key,
            url,
        })
    }
}

// --- checks ------------------------------------------------------------------------------------

/// Deserializes `config`, naming the field of the first value that does not fit.
fn from_config<T: DeserializeOwned>(config: &Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(config).map_err(|e| {
        let path = e.path().to_string();
        json_error(&path, e.inner())
    })
}

fn json_error(path: &str, error: &serde_json::Error) -> ConfigError {
    let message = error.to_string();
    // A missing field is reported at its parent; name the field itself. (An unknown field's
    // path already ends in its name.)
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name);
    let path = path.trim_end_matches(['?', '.']);
    let field = match (path, missing) {
        ("", Some(name)) => format!("config.{name}"),
        ("", None) => "config".to_string(),
        (parent, Some(name)) => format!("config.{parent}.{name}"),
        (path, None) => format!("config.{path}"),
    };
    ConfigError::at(field, message)
}

/// A non-blank, single-line string of at most `max_chars` characters.
fn check_text(field: &str, text: &str, max_chars: usize) -> Result<(), ConfigError> {
    if text.trim().is_empty() {
        return Err(ConfigError::at(field, "must not be empty"));
    }
    let chars = text.chars().count();
    if chars > max_chars {
        return Err(ConfigError::at(
            field,
            format!("is {chars} characters long; the limit is {max_chars}"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(ConfigError::at(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// A secret: text, and not the placeholder a listing shows (a form sent back unchanged).
fn check_secret(field: &str, secret: &str, max_chars: usize) -> Result<(), ConfigError> {
    check_text(field, secret, max_chars)?;
    if secret == REDACTED {
        return Err(ConfigError::at(
            field,
            "is the placeholder of a hidden secret; send the secret itself",
        ));
    }
    Ok(())
}

/// An http(s) URL with a host; returns it normalised, so that storing it round-trips.
fn check_url(field: &str, text: &str) -> Result<String, ConfigError> {
    check_text(field, text, MAX_URL_CHARS)?;
    let url = reqwest::Url::parse(text)
        .map_err(|e| ConfigError::at(field, format!("{text:?} is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::at(
            field,
            format!("must use http or https, not {:?}", url.scheme()),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::at(field, format!("{text:?} names no host")));
    }
    Ok(url.to_string())
}

fn check_host(field: &str, host: &str) -> Result<(), ConfigError> {
    check_text(field, host, MAX_HOST_CHARS)?;
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let is_label = |label: &str| {
        (1..=63).contains(&label.len())
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if host.split('.').all(is_label) {
        Ok(())
    } else {
        Err(ConfigError::at(
            field,
            format!("{host:?} is not a host name or IP address, like smtp.example.com"),
        ))
    }
}

/// Between one and `max` distinct recipients, each passing `check` (given its own path).
fn check_recipients(
    field: &str,
    recipients: &[String],
    max: usize,
    check: impl Fn(&str, &str) -> Result<(), ConfigError>,
) -> Result<(), ConfigError> {
    if recipients.is_empty() {
        return Err(ConfigError::at(field, "must name at least one recipient"));
    }
    if recipients.len() > max {
        return Err(ConfigError::at(
            field,
            format!("names {} recipients; the limit is {max}", recipients.len()),
        ));
    }
    for (i, recipient) in recipients.iter().enumerate() {
        let path = format!("{field}[{i}]");
        check(&path, recipient)?;
        if let Some(first) = recipients[..i].iter().position(|r| r == recipient) {
            return Err(ConfigError::at(
                path,
                format!("{recipient:?} is already {field}[{first}]"),
            ));
        }
    }
    Ok(())
}

/// E.164: `+`, then 7 to 15 digits, the first not 0.
fn is_phone_number(text: &str) -> bool {
    let Some(digits) = text.strip_prefix('+') else {
        return false;
    };
    (7..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && !digits.starts_with('0')
}

/// An alphanumeric sender id as SMS providers take it: up to 11 letters, digits and spaces,
/// with at least one letter.
fn is_sender_id(text: &str) -> bool {
    (1..=11).contains(&text.len())
        && text.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        && text.chars().any(|c| c.is_ascii_alphabetic())
        && text.trim() == text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn webhook() -> Value {
        json!({"url": "https://hooks.example.com/osprey", "secret": "s3cret"})
    }
    fn slack() -> Value {
        json!({"webhook_url": "https://hooks.slack.com/services/T000/B000/XXXXSECRET"})
    }
    fn email() -> Value {
        json!({
            "host": "smtp.example.com", "port": 2525, "security": "plain",
            "username": "osprey", "password": "hunter2",
            "from": "Osprey <osprey@example.com>", "to": ["ops@example.com", "oncall@example.com"],
        })
    }
    fn sms() -> Value {
        json!({
            "url": "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json",
            "account_sid": "AC123", "auth_token": "tok3n",
            "from": "+15005550006", "to": ["+15005550001"],
        })
    }
    fn pagerduty() -> Value {
        json!({"routing_key": "R0123456789ABCDEF0123456789ABCDE"})
    }

    fn all_kinds() -> Vec<(&'static str, Value)> {
        vec![
            ("webhook", webhook()),
            ("slack", slack()),
            ("email", email()),
            ("sms", sms()),
            ("pagerduty", pagerduty()),
        ]
    }

    /// Sets `config[key]` to `value` (removes it for `None`) and returns the parse error.
    fn refused(kind: &str, mut config: Value, key: &str, value: Option<Value>) -> ConfigError {
        let object = config.as_object_mut().unwrap();
        match value {
            Some(value) => object.insert(key.to_string(), value),
            None => object.remove(key),
        };
        match parse_channel(kind, &config) {
            Ok(parsed) => panic!("{kind} {config} was accepted as {parsed:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn good_configs_of_every_kind_parse() {
        for (kind, config) in all_kinds() {
            let parsed = parse_channel(kind, &config).unwrap_or_else(|e| panic!("{kind}: {e}"));
            assert_eq!(parsed.kind(), kind);
        }
        let parsed = parse_channel("email", &email()).unwrap();
        assert_eq!(
            parsed,
            ChannelConfig::Email {
                host: "smtp.example.com".into(),
                port: 2525,
                security: SmtpSecurity::Plain,
                username: Some("osprey".into()),
                password: Some("hunter2".into()),
                from: "Osprey <osprey@example.com>".into(),
                to: vec!["ops@example.com".into(), "oncall@example.com".into()],
            }
        );
    }

    #[test]
    fn defaults_fill_what_was_left_out() {
        let parsed = parse_channel("pagerduty", &pagerduty()).unwrap();
        assert!(
            matches!(parsed, ChannelConfig::PagerDuty { url, .. } if url == DEFAULT_PAGERDUTY_URL)
        );

        let parsed = parse_channel(
            "email",
            &json!({"host": "10.0.0.5", "from": "a@example.com", "to": ["b@example.com"]}),
        )
        .unwrap();
        assert!(matches!(
            parsed,
            ChannelConfig::Email {
                port: 587,
                security: SmtpSecurity::Starttls,
                username: None,
                ..
            }
        ));
        let parsed = parse_channel(
            "email",
            &json!({"host": "smtp.example.com", "security": "tls",
                    "from": "a@example.com", "to": ["b@example.com"]}),
        )
        .unwrap();
        assert!(matches!(parsed, ChannelConfig::Email { port: 465, .. }));

        let parsed =
            parse_channel("webhook", &json!({"url": "http://127.0.0.1:9000/hook"})).unwrap();
        assert!(matches!(
            parsed,
            ChannelConfig::Webhook { secret: None, .. }
        ));
    }

    #[test]
    fn the_kind_and_the_shape_of_config_are_checked() {
        let e = parse_channel("teams", &webhook()).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("kind"));
        assert!(
            e.message.contains("\"teams\"") && e.message.contains("pagerduty"),
            "{e}"
        );

        let e = parse_channel("webhook", &json!(["https://x.example.com"])).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("config"), "{e}");
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        for (kind, config) in all_kinds() {
            let e = refused(kind, config, "colour", Some(json!("blue")));
            assert_eq!(e.field.as_deref(), Some("config.colour"), "{kind}: {e}");
            assert!(e.message.contains("unknown field"), "{kind}: {e}");
        }
        let e = refused("webhook", webhook(), "url", None);
        assert_eq!(e.field.as_deref(), Some("config.url"), "{e}");
        assert!(e.message.contains("missing field"), "{e}");
        let e = refused("sms", sms(), "auth_token", None);
        assert_eq!(e.field.as_deref(), Some("config.auth_token"), "{e}");
        let e = refused("email", email(), "to", Some(json!("ops@example.com")));
        assert_eq!(e.field.as_deref(), Some("config.to"), "{e}");
        let e = refused("email", email(), "to", Some(json!(["a@example.com", 7])));
        assert_eq!(e.field.as_deref(), Some("config.to[1]"), "{e}");
    }

    #[test]
    fn urls_must_be_http_with_a_host_and_bounded() {
        let cases = [
            json!("ftp://hooks.example.com/x"),
            json!("hooks.example.com/x"),
            json!("https://"),
            json!("file:///etc/passwd"),
            json!(""),
            json!(format!(
                "https://hooks.example.com/{}",
                "a".repeat(MAX_URL_CHARS)
            )),
            json!("https://hooks.example.com/\nx"),
        ];
        for url in cases {
            for (kind, config, key) in [
                ("webhook", webhook(), "url"),
                ("slack", slack(), "webhook_url"),
                ("sms", sms(), "url"),
                ("pagerduty", pagerduty(), "url"),
            ] {
                let e = refused(kind, config, key, Some(url.clone()));
                assert_eq!(
                    e.field.as_deref(),
                    Some(format!("config.{key}").as_str()),
                    "{kind} {url}: {e}"
                );
            }
        }
        let e = refused(
            "webhook",
            webhook(),
            "url",
            Some(json!("ftp://x.example.com")),
        );
        assert!(e.message.contains("http or https"), "{e}");
    }

    #[test]
    fn webhook_secrets_are_checked() {
        let e = refused("webhook", webhook(), "secret", Some(json!("")));
        assert_eq!(e.field.as_deref(), Some("config.secret"), "{e}");
        let e = refused(
            "webhook",
            webhook(),
            "secret",
            Some(json!("x".repeat(MAX_SECRET_CHARS + 1))),
        );
        assert!(e.message.contains("257"), "{e}");
        let e = refused("webhook", webhook(), "secret", Some(json!(REDACTED)));
        assert!(e.message.contains("placeholder"), "{e}");
    }

    #[test]
    fn email_configs_are_checked_field_by_field() {
        let cases = [
            ("host", Some(json!("smtp example.com")), "config.host"),
            ("host", Some(json!("-smtp.example.com")), "config.host"),
            ("host", Some(json!("")), "config.host"),
            ("port", Some(json!(0)), "config.port"),
            ("port", Some(json!(70000)), "config.port"),
            ("port", Some(json!(-1)), "config.port"),
            ("port", Some(json!("587")), "config.port"),
            ("security", Some(json!("ssl")), "config.security"),
            ("username", None, "config.username"),
            ("password", None, "config.password"),
            ("from", Some(json!("not an address")), "config.from"),
            ("to", Some(json!([])), "config.to"),
            (
                "to",
                Some(json!(["ops@example.com", "nobody"])),
                "config.to[1]",
            ),
            (
                "to",
                Some(json!(["ops@example.com", "ops@example.com"])),
                "config.to[1]",
            ),
        ];
        for (key, value, field) in cases {
            let e = refused("email", email(), key, value.clone());
            assert_eq!(e.field.as_deref(), Some(field), "{key}={value:?}: {e}");
        }
        let many: Vec<String> = (0..=MAX_EMAIL_RECIPIENTS)
            .map(|i| format!("u{i}@example.com"))
            .collect();
        let e = refused("email", email(), "to", Some(json!(many)));
        assert_eq!(e.field.as_deref(), Some("config.to"));
        assert!(e.message.contains("51") && e.message.contains("50"), "{e}");
        let e = refused("email", email(), "port", Some(json!(70000)));
        assert!(e.message.contains("70000"), "{e}");
    }

    #[test]
    fn sms_configs_are_checked_field_by_field() {
        let cases = [
            ("account_sid", json!("AC 123"), "config.account_sid"),
            ("auth_token", json!(""), "config.auth_token"),
            ("from", json!("5005550006"), "config.from"),
            ("from", json!("Osprey Alerts Inc"), "config.from"),
            ("to", json!(["+15005550001", "15005550002"]), "config.to[1]"),
            ("to", json!(["+0123456789"]), "config.to[0]"),
            ("to", json!(["+1234"]), "config.to[0]"),
            ("to", json!([]), "config.to"),
        ];
        for (key, value, field) in cases {
            let e = refused("sms", sms(), key, Some(value.clone()));
            assert_eq!(e.field.as_deref(), Some(field), "{key}={value}: {e}");
        }
        let many: Vec<String> = (0..=MAX_SMS_RECIPIENTS)
            .map(|i| format!("+1500555{i:04}"))
            .collect();
        let e = refused("sms", sms(), "to", Some(json!(many)));
        assert_eq!(e.field.as_deref(), Some("config.to"), "{e}");
        // An alphanumeric sender id is a valid `from`.
        let mut config = sms();
        config["from"] = json!("Osprey");
        assert!(parse_channel("sms", &config).is_ok());
    }

    #[test]
    fn pagerduty_routing_keys_are_checked() {
        for key in [
            json!(""),
            json!("has space"),
            json!("x".repeat(MAX_ROUTING_KEY_CHARS + 1)),
        ] {
            let e = refused("pagerduty", pagerduty(), "routing_key", Some(key.clone()));
            assert_eq!(e.field.as_deref(), Some("config.routing_key"), "{key}: {e}");
        }
    }

    #[test]
    fn redaction_hides_every_secret() {
        let secrets = [
            "s3cret",
            "XXXXSECRET",
            "hunter2",
            "tok3n",
            "R0123456789ABCDEF0123456789ABCDE",
        ];
        for (kind, config) in all_kinds() {
            let parsed = parse_channel(kind, &config).unwrap();
            let shown = parsed.redacted().to_string();
            let debug = format!("{parsed:?}");
            for secret in secrets {
                assert!(!shown.contains(secret), "{kind} shows {secret}: {shown}");
                assert!(
                    !debug.contains(secret),
                    "{kind} debug shows {secret}: {debug}"
                );
            }
            assert!(shown.contains(REDACTED), "{kind}: {shown}");
        }
        // What is no secret stays visible, so a listing still says where messages go.
        let shown = parse_channel("email", &email()).unwrap().redacted();
        assert_eq!(shown["host"], "smtp.example.com");
        assert_eq!(shown["username"], "osprey");
        assert_eq!(shown["to"][1], "oncall@example.com");
        let shown = parse_channel("slack", &slack()).unwrap().redacted();
        assert_eq!(
            shown["webhook_url"],
            format!("https://hooks.slack.com/{REDACTED}")
        );
        // A webhook without a secret shows none.
        let parsed = parse_channel("webhook", &json!({"url": "https://h.example.com/x"})).unwrap();
        assert_eq!(parsed.redacted(), json!({"url": "https://h.example.com/x"}));
    }

    #[test]
    fn credentials_inside_webhook_urls_are_redacted() {
        let parsed = parse_channel(
            "webhook",
            &json!({"url": "https://bot:pa55word@h.example.com/x?token=t0ken&a=1"}),
        )
        .unwrap();
        let shown = parsed.redacted()["url"].as_str().unwrap().to_string();
        assert!(
            !shown.contains("pa55word") && !shown.contains("t0ken"),
            "{shown}"
        );
        assert_eq!(
            shown,
            format!("https://bot:{REDACTED}@h.example.com/x?{REDACTED}")
        );
    }

    #[test]
    fn stored_json_round_trips() {
        let extra = [
            ("webhook", json!({"url": "http://127.0.0.1:9000/hook"})),
            (
                "email",
                json!({"host": "mail", "from": "a@example.com", "to": ["b@example.com"]}),
            ),
            (
                "pagerduty",
                json!({"routing_key": "abc", "url": "http://127.0.0.1:1/enqueue"}),
            ),
        ];
        for (kind, config) in all_kinds().into_iter().chain(extra) {
            let parsed = parse_channel(kind, &config).unwrap();
            let stored = parsed.to_json();
            let back =
                parse_channel(kind, &stored).unwrap_or_else(|e| panic!("{kind} {stored}: {e}"));
            assert_eq!(back, parsed, "{kind}");
            assert_eq!(back.to_json(), stored, "{kind}");
        }
    }
}
