//! Delivery: [`Sender`] sends a [`Message`] to a channel and says whether a failure is worth
//! retrying; [`backoff`] says when.
//!
//! Failures are classified for the server's retry loop:
//! - retryable: connection errors (TLS handshakes included), timeouts, HTTP 408, 429 and 5xx
//!   (with the receiver's `Retry-After` in [`DeliveryError::retry_after`]), SMTP 4xx replies
//!   and lost connections;
//! - permanent: any other HTTP status outside 2xx (a 4xx says the request itself is wrong, so
//!   repeating it cannot help), a redirect to another origin, SMTP 5xx replies, a relay that
//!   lacks the STARTTLS or AUTH the channel needs, and requests that cannot be built at all.
//!
//! An SMS channel sends one request per recipient, all together; if any fails the whole
//! message fails and the server retries it, so recipients that already got it get it again
//! (at least once, never less).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::join_all;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{RequestBuilder, Response, Url};

use crate::channel::ChannelConfig;
use crate::email;
use crate::message::Message;
use crate::payload::{self, IDEMPOTENCY_HEADER, SIGNATURE_HEADER};
use crate::render::{one_line, render_sms};
use crate::truncate_chars;

/// The first retry delay's ceiling; each later attempt doubles it.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// The longest retry delay.
pub const BACKOFF_CAP: Duration = Duration::from_secs(600);
/// The longest `Retry-After` honoured; a receiver asking for more is retried after this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3_600);
/// Most redirects followed, all within the origin of the configured URL.
pub const MAX_REDIRECTS: usize = 3;
/// Most bytes of an error response read to explain a failure.
pub const MAX_ERROR_BODY_BYTES: usize = 512;

/// How long a delivery may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing a TCP connection (HTTP).
    pub connect: Duration,
    /// One HTTP request from connecting to the end of the response; one SMTP command
    /// (connecting included).
    pub request: Duration,
    /// A whole SMTP conversation, from connecting to `QUIT`.
    pub smtp_conversation: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(10),
            smtp_conversation: Duration::from_secs(30),
        }
    }
}

/// Why a delivery failed, and whether to try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DeliveryError {
    /// Whether the same message may get through later.
    pub retryable: bool,
    /// How long the receiver asked us to wait (`Retry-After`), when it did.
    pub retry_after: Option<Duration>,
    /// What went wrong, for the outbox row and the logs; never holds a secret.
    pub message: String,
}

impl DeliveryError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            retry_after: None,
            message: message.into(),
        }
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            retry_after: None,
            message: message.into(),
        }
    }

    /// When to try again after `attempt` attempts (see [`backoff`]), respecting the receiver's
    /// `Retry-After`; `None` when the failure is permanent.
    pub fn next_delay(&self, attempt: u32, jitter_unit: f64) -> Option<Duration> {
        self.retryable.then(|| {
            let delay = backoff(attempt, jitter_unit);
            self.retry_after.map_or(delay, |asked| asked.max(delay))
        })
    }
}

/// The delay before the next attempt, after `attempt` attempts have failed (1 after the
/// first): a ceiling of 1 s doubling per attempt up to 10 min, with "equal jitter" (half the
/// ceiling, plus `jitter_unit` times the other half). `jitter_unit` is a random number in
/// [0, 1) from the caller, so this stays pure; values outside are clamped.
pub fn backoff(attempt: u32, jitter_unit: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(20);
    let ceiling = BACKOFF_BASE
        .saturating_mul(1u32 << doublings)
        .min(BACKOFF_CAP);
    let jitter = if jitter_unit.is_finite() {
        jitter_unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let half = ceiling / 2;
    half + half.mul_f64(jitter)
}

/// Delivers messages to channels. Cheap to clone; keep one and share it, so that HTTP
/// connections are reused.
#[derive(Debug, Clone)]
pub struct Sender {
    http: reqwest::Client,
    timeouts: Timeouts,
}

impl Default for Sender {
    fn default() -> Self {
        Self::new()
    }
}

impl Sender {
    /// A sender with the default [`Timeouts`] (connect 5 s, request 10 s, SMTP 30 s).
    pub fn new() -> Self {
        Self::with_timeouts(Timeouts::default())
    }

    /// A sender with the given timeouts.
    pub fn with_timeouts(timeouts: Timeouts) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .timeout(timeouts.request)
            .user_agent(concat!("osprey/", env!("CARGO_PKG_VERSION")))
            .redirect(same_origin_redirects())
            .build()
            // Only fails when the TLS backend cannot start, as `reqwest::Client::new` assumes.
            .expect("the HTTP client starts");
        Self { http, timeouts }
    }

    /// Sends `message` to `channel`: returns once the receiver has accepted it.
    pub async fn send(
        &self,
        channel: &ChannelConfig,
        message: &Message,
    ) -> Result<(), DeliveryError> {
        let result = match channel {
            ChannelConfig::Webhook { url, secret } => {
                let body = payload::webhook_body(message);
                let mut request = self
                    .http
                    .post(url)
                    .header(CONTENT_TYPE, "application/json")
                    .header(IDEMPOTENCY_HEADER, &message.idempotency_key);
                if let Some(secret) = secret {
                    request = request.header(SIGNATURE_HEADER, payload::sign(secret, &body));
                }
                self.execute(request.body(body)).await
            }
            ChannelConfig::Slack { webhook_url } => {
                let body = payload::slack_body(message);
                self.execute(self.post_json(webhook_url, &body)).await
            }
            ChannelConfig::PagerDuty { routing_key, url } => {
                let body = payload::pagerduty_body(routing_key, message);
                self.execute(self.post_json(url, &body)).await
            }
            ChannelConfig::Sms {
                url,
                account_sid,
                auth_token,
                from,
                to,
            } => {
                let text = render_sms(message);
                let sends = to.iter().map(|number| {
                    let request = self
                        .http
                        .post(url)
                        .basic_auth(account_sid, Some(auth_token))
                        .form(&payload::sms_form(number, from, &text));
                    async move {
                        self.execute(request).await.map_err(|e| DeliveryError {
                            message: format!("sms to {number}: {}", e.message),
                            ..e
                        })
                    }
                });
                combine(join_all(sends).await)
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
                let credentials = username.as_deref().zip(password.as_deref());
                let relay = email::Relay {
                    host,
                    port: *port,
                    security: *security,
                    credentials,
                };
                email::send(&relay, from, to, message, &self.timeouts).await
            }
        };
        match &result {
            Ok(()) => tracing::debug!(
                kind = channel.kind(),
                key = %message.idempotency_key,
                "notification delivered"
            ),
            Err(e) => tracing::debug!(
                kind = channel.kind(),
                key = %message.idempotency_key,
                retryable = e.retryable,
                error = %e,
                "notification not delivered"
            ),
        }
        result
    }

    fn post_json(&self, url: &str, body: &serde_json::Value) -> RequestBuilder {
        self.http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body.to_string())
    }

    /// Sends one HTTP request; any 2xx is success.
    async fn execute(&self, request: RequestBuilder) -> Result<(), DeliveryError> {
        let request = request
            .build()
            .map_err(|e| DeliveryError::permanent(format!("invalid request: {}", chain(e))))?;
        let origin = origin(request.url());
        let response = self
            .http
            .execute(request)
            .await
            .map_err(|e| request_error(&origin, e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, Utc::now()));
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|value| value.to_str().ok())
            .map(|location| truncate_chars(&one_line(location), 200));
        let retryable = is_retryable_status(status.as_u16());
        let mut message = format!("http {} from {origin}", status.as_u16());
        if status.is_redirection() {
            match location {
                Some(target) => message.push_str(&format!(
                    ": redirect to {target} not followed, it leaves the configured origin"
                )),
                None => message.push_str(": redirect without a location"),
            }
        } else {
            let snippet = error_body(response).await;
            if !snippet.is_empty() {
                message.push_str(&format!(": {snippet}"));
            }
        }
        Err(DeliveryError {
            retryable,
            retry_after: retry_after.filter(|_| retryable),
            message,
        })
    }
}

/// Statuses that may succeed later: timeouts, rate limits and server errors.
pub fn is_retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// A `Retry-After` value, in seconds or as an HTTP-date, capped at [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Saturate: a number too long for u64 is "very long".
        Duration::from_secs(value.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = DateTime::parse_from_rfc2822(value)
            .ok()?
            .with_timezone(&Utc);
        (at - now).to_std().unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Follows up to [`MAX_REDIRECTS`] redirects that stay on the configured URL's scheme, host
/// and port; a redirect elsewhere is not followed, and fails the delivery.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let Some(first) = attempt.previous().first() else {
            return attempt.stop();
        };
        if attempt.previous().len() > MAX_REDIRECTS {
            attempt.error(format!("more than {MAX_REDIRECTS} redirects"))
        } else if attempt.url().origin() == first.origin() {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Combines the results of the requests of one message: it fails if any failed, retryably
/// if any failure is retryable, after the longest `Retry-After`.
fn combine(results: Vec<Result<(), DeliveryError>>) -> Result<(), DeliveryError> {
    let failures: Vec<DeliveryError> = results.into_iter().filter_map(Result::err).collect();
    if failures.is_empty() {
        return Ok(());
    }
    Err(DeliveryError {
        retryable: failures.iter().any(|e| e.retryable),
        retry_after: failures.iter().filter_map(|e| e.retry_after).max(),
        message: failures
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; "),
    })
}

fn request_error(origin: &str, error: reqwest::Error) -> DeliveryError {
    let (timeout, connect, redirect, builder) = (
        error.is_timeout(),
        error.is_connect(),
        error.is_redirect(),
        error.is_builder(),
    );
    let detail = chain(error);
    if redirect {
        DeliveryError::permanent(format!("{origin}: {detail}"))
    } else if builder {
        DeliveryError::permanent(format!("invalid request to {origin}: {detail}"))
    } else if timeout {
        DeliveryError::transient(format!("timed out: {origin}: {detail}"))
    } else if connect {
        DeliveryError::transient(format!("cannot connect: {origin}: {detail}"))
    } else {
        DeliveryError::transient(format!("request failed: {origin}: {detail}"))
    }
}

/// The error and its causes, without the URL (a Slack webhook URL is a credential).
fn chain(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut parts = vec![error.to_string()];
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// `host:port` of a URL, to say where a delivery went without its path or query.
fn origin(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        (Some(host), None) => host.to_string(),
        _ => "unknown host".to_string(),
    }
}

/// The start of an error response's body, on one line: receivers explain themselves there
/// (`invalid_payload`, `{"message": "Invalid routing key"}`).
async fn error_body(mut response: Response) -> String {
    let mut bytes = Vec::new();
    while bytes.len() < MAX_ERROR_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    bytes.truncate(MAX_ERROR_BODY_BYTES);
    let text = String::from_utf8_lossy(&bytes);
    let text = one_line(&text);
    truncate_chars(&text.split_whitespace().collect::<Vec<_>>().join(" "), 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_to_ten_minutes() {
        assert_eq!(backoff(1, 0.0), Duration::from_millis(500));
        assert_eq!(backoff(1, 0.999), Duration::from_micros(999_500));
        assert_eq!(backoff(0, 0.5), backoff(1, 0.5));
        assert_eq!(backoff(2, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(11, 0.0), Duration::from_secs(300));
        for jitter in [0.0, 0.25, 0.5, 0.999] {
            let mut previous = Duration::ZERO;
            for attempt in 1..=40 {
                let delay = backoff(attempt, jitter);
                let ceiling = BACKOFF_BASE
                    .saturating_mul(1 << (attempt - 1).min(20))
                    .min(BACKOFF_CAP);
                assert!(
                    delay >= ceiling / 2 && delay <= ceiling,
                    "{attempt} {jitter}: {delay:?}"
                );
                assert!(delay <= BACKOFF_CAP);
                if ceiling < BACKOFF_CAP {
                    assert!(
                        delay > previous,
                        "{attempt} {jitter}: {delay:?} after {previous:?}"
                    );
                } else {
                    assert!(delay >= previous);
                }
                previous = delay;
            }
        }
        assert_eq!(backoff(u32::MAX, 0.0), BACKOFF_CAP / 2);
        assert_eq!(backoff(u32::MAX, 1.0), BACKOFF_CAP);
        assert_eq!(backoff(3, f64::NAN), backoff(3, 0.0));
        assert_eq!(backoff(3, -5.0), backoff(3, 0.0));
    }

    #[test]
    fn the_next_delay_honours_retry_after_and_permanence() {
        let mut e = DeliveryError::transient("http 429");
        assert_eq!(e.next_delay(1, 0.0), Some(Duration::from_millis(500)));
        e.retry_after = Some(Duration::from_secs(7));
        assert_eq!(e.next_delay(1, 0.0), Some(Duration::from_secs(7)));
        assert_eq!(e.next_delay(12, 0.0), Some(Duration::from_secs(300)));
        assert_eq!(
            DeliveryError::permanent("http 400").next_delay(1, 0.0),
            None
        );
    }

    #[test]
    fn statuses_are_classified() {
        for status in [408, 429, 500, 502, 503, 599] {
            assert!(is_retryable_status(status), "{status}");
        }
        for status in [300, 301, 400, 401, 403, 404, 410, 413, 422] {
            assert!(!is_retryable_status(status), "{status}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2026-11-18T11:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let parse = |text: &str| parse_retry_after(text, now);
        assert_eq!(parse("7"), Some(Duration::from_secs(7)));
        assert_eq!(parse(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse("99999999999999999999999"), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse("Wed, 18 Nov 2026 11:00:30 GMT"),
            Some(Duration::from_secs(30))
        );
        assert_eq!(parse("Wed, 18 Nov 2026 10:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(parse("-3"), None);
        assert_eq!(parse("soon"), None);
        assert_eq!(parse(""), None);
    }

    #[test]
    fn combined_failures_keep_the_most_hopeful_verdict() {
        assert_eq!(combine(vec![Ok(()), Ok(())]), Ok(()));
        let mut slow = DeliveryError::transient("b");
        slow.retry_after = Some(Duration::from_secs(9));
        let e = combine(vec![Ok(()), Err(DeliveryError::permanent("a")), Err(slow)]).unwrap_err();
        assert!(e.retryable);
        assert_eq!(e.retry_after, Some(Duration::from_secs(9)));
        assert_eq!(e.message, "a; b");
        let e = combine(vec![Err(DeliveryError::permanent("a"))]).unwrap_err();
        assert!(!e.retryable);
    }

    #[test]
    fn origins_name_host_and_port_only() {
        let url = Url::parse("https://hooks.slack.com/services/T0/B0/SECRET?x=1").unwrap();
        assert_eq!(origin(&url), "hooks.slack.com:443");
        let url = Url::parse("http://127.0.0.1:8080/x").unwrap();
        assert_eq!(origin(&url), "127.0.0.1:8080");
    }
}
