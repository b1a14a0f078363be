//! Watching security events for attacks: brute force (many failed sign-ins from one address
//! or against one account), credential stuffing (one address trying many accounts), and
//! impossible travel (one account signing in from two places farther apart than a plane flies
//! in the time between).
//!
//! Pure and streaming: events go in in time order, findings come out at most once per subject
//! and kind within a window, and the memory held is bounded however many addresses and users
//! an attacker cycles through.

use std::collections::{HashMap, HashSet, VecDeque};

/// Detection thresholds; one set for every project (`[security]` in the configuration).
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Failed sign-ins from one address, or against one account, within `window_ms`.
    pub brute_force_failures: usize,
    /// Distinct accounts failing from one address within `window_ms`.
    pub stuffing_accounts: usize,
    pub window_ms: i64,
    /// Faster than this between two successful sign-ins of one account is impossible travel.
    pub max_speed_kmh: f64,
    /// Addresses and accounts remembered at once; the least recently seen are forgotten first.
    pub max_subjects: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            brute_force_failures: 10,
            stuffing_accounts: 5,
            window_ms: 5 * 60_000,
            max_speed_kmh: 1_000.0,
            max_subjects: 100_000,
        }
    }
}

/// What a security event says, as far as detection cares.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signal<'a> {
    pub ts: i64,
    pub outcome: Outcome,
    pub actor: Option<&'a str>,
    pub ip: Option<&'a str>,
    /// Latitude and longitude in degrees, where the sender knew them.
    pub location: Option<(f64, f64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Failure,
    Success,
    /// Anything else (CSP reports, custom kinds): stored, not used for detection.
    Other,
}

/// Event kinds that are failed sign-ins.
pub const FAILURE_KINDS: [&str; 4] = [
    "auth_failure",
    "auth_failed",
    "login_failed",
    "login_failure",
];
/// Event kinds that are successful sign-ins.
pub const SUCCESS_KINDS: [&str; 3] = ["auth_success", "login", "login_success"];

impl Outcome {
    /// Reads an event kind: `auth_failure`, `login_failed` and the like are failures;
    /// `auth_success`, `login` successes.
    pub fn of_kind(kind: &str) -> Outcome {
        if FAILURE_KINDS.contains(&kind) {
            Outcome::Failure
        } else if SUCCESS_KINDS.contains(&kind) {
            Outcome::Success
        } else {
            Outcome::Other
        }
    }
}

/// Reads a location from an event's details: `{"lat", "lon"}` or `{"geo": {"lat", "lon"}}`.
pub fn location_of(details: &serde_json::Value) -> Option<(f64, f64)> {
    let geo = details.get("geo").unwrap_or(details);
    let lat = geo.get("lat")?.as_f64()?;
    let lon = geo
        .get("lon")
        .or_else(|| geo.get("lng"))
        .and_then(|v| v.as_f64())?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)).then_some((lat, lon))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FindingKind {
    BruteForceIp,
    BruteForceAccount,
    CredentialStuffing,
    ImpossibleTravel,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::BruteForceIp => "brute_force_ip",
            FindingKind::BruteForceAccount => "brute_force_account",
            FindingKind::CredentialStuffing => "credential_stuffing",
            FindingKind::ImpossibleTravel => "impossible_travel",
        }
    }
}

/// One detection.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub ts: i64,
    pub kind: FindingKind,
    /// The address or account it is about.
    pub subject: String,
    pub count: usize,
    pub explanation: String,
}

impl Finding {
    /// The kind of the security event a finding is stored as: `finding.brute_force_ip`, ….
    pub fn event_kind(&self) -> String {
        format!("finding.{}", self.kind.as_str())
    }
}

#[derive(Default)]
struct AddressState {
    /// Failures in the window: time and account.
    failures: VecDeque<(i64, Option<String>)>,
    last_seen: i64,
}

#[derive(Default)]
struct AccountState {
    failures: VecDeque<i64>,
    /// The last successful sign-in with a location: time, place, address.
    last_place: Option<(i64, (f64, f64), Option<String>)>,
    last_seen: i64,
}

/// The detectors' memory.
pub struct SecurityWatch {
    config: Thresholds,
    addresses: HashMap<String, AddressState>,
    accounts: HashMap<String, AccountState>,
    /// Findings already reported, until when: one per subject and kind per window.
    quiet_until: HashMap<(FindingKind, String), i64>,
}

impl SecurityWatch {
    pub fn new(config: Thresholds) -> Self {
        SecurityWatch {
            config,
            addresses: HashMap::new(),
            accounts: HashMap::new(),
            quiet_until: HashMap::new(),
        }
    }

    /// Subjects remembered now (addresses plus accounts).
    pub fn len(&self) -> usize {
        self.addresses.len() + self.accounts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes one event; returns what it revealed.
    pub fn observe(&mut self, s: &Signal) -> Vec<Finding> {
        let mut found = Vec::new();
        let window = self.config.window_ms;
        match s.outcome {
            Outcome::Other => {}
            Outcome::Failure => {
                if let Some(ip) = s.ip {
                    let a = slot(&mut self.addresses, ip);
                    a.last_seen = a.last_seen.max(s.ts);
                    a.failures.push_back((s.ts, s.actor.map(str::to_string)));
                    while a.failures.front().is_some_and(|(t, _)| *t <= s.ts - window) {
                        a.failures.pop_front();
                    }
                    // Keep at most what the larger threshold needs, plus the distinct accounts.
                    let cap = self
                        .config
                        .brute_force_failures
                        .max(self.config.stuffing_accounts)
                        * 4;
                    while a.failures.len() > cap {
                        a.failures.pop_front();
                    }
                    let failures = a.failures.len();
                    let accounts: HashSet<&str> = a
                        .failures
                        .iter()
                        .filter_map(|(_, u)| u.as_deref())
                        .collect();
                    let distinct = accounts.len();
                    if failures >= self.config.brute_force_failures {
                        found.push(Finding {
                            ts: s.ts,
                            kind: FindingKind::BruteForceIp,
                            subject: ip.to_string(),
                            count: failures,
                            explanation: format!(
                                "{failures} failed sign-ins from {ip} within {}",
                                minutes(window)
                            ),
                        });
                    }
                    if distinct >= self.config.stuffing_accounts {
                        found.push(Finding {
                            ts: s.ts,
                            kind: FindingKind::CredentialStuffing,
                            subject: ip.to_string(),
                            count: distinct,
                            explanation: format!(
                                "{distinct} different accounts failed to sign in from {ip} within {}",
                                minutes(window)
                            ),
                        });
                    }
                }
                if let Some(actor) = s.actor {
                    let u = slot(&mut self.accounts, actor);
                    u.last_seen = u.last_seen.max(s.ts);
                    u.failures.push_back(s.ts);
                    while u.failures.front().is_some_and(|t| *t <= s.ts - window)
                        || u.failures.len() > self.config.brute_force_failures * 4
                    {
                        u.failures.pop_front();
                    }
                    let failures = u.failures.len();
                    if failures >= self.config.brute_force_failures {
                        found.push(Finding {
                            ts: s.ts,
                            kind: FindingKind::BruteForceAccount,
                            subject: actor.to_string(),
                            count: failures,
                            explanation: format!(
                                "{failures} failed sign-ins for account {actor} within {}",
                                minutes(window)
                            ),
                        });
                    }
                }
            }
            Outcome::Success => {
                if let (Some(actor), Some(place)) = (s.actor, s.location) {
                    let u = slot(&mut self.accounts, actor);
                    u.last_seen = u.last_seen.max(s.ts);
                    if let Some((t0, p0, ip0)) = &u.last_place {
                        let km = distance_km(*p0, place);
                        let hours = ((s.ts - t0).max(0) as f64 / 3_600_000.0).max(1.0 / 60.0);
                        let speed = km / hours;
                        if km > 500.0 && speed > self.config.max_speed_kmh {
                            found.push(Finding {
                                ts: s.ts,
                                kind: FindingKind::ImpossibleTravel,
                                subject: actor.to_string(),
                                count: 2,
                                explanation: format!(
                                    "{actor} signed in {km:.0} km apart within {} ({speed:.0} km/h){}{}",
                                    minutes(s.ts - t0),
                                    ip0.as_deref().map(|ip| format!(", from {ip}")).unwrap_or_default(),
                                    s.ip.map(|ip| format!(" then {ip}")).unwrap_or_default(),
                                ),
                            });
                        }
                    }
                    u.last_place = Some((s.ts, place, s.ip.map(str::to_string)));
                }
            }
        }
        self.bound(s.ts);
        found.retain(|f| {
            let key = (f.kind, f.subject.clone());
            match self.quiet_until.get(&key) {
                Some(until) if *until > f.ts => false,
                _ => {
                    self.quiet_until.insert(key, f.ts + window);
                    true
                }
            }
        });
        found
    }

    /// Forgets the least recently seen subjects beyond the bound, and expired quiet periods.
    fn bound(&mut self, now: i64) {
        let max = self.config.max_subjects.max(2);
        if self.len() <= max && self.quiet_until.len() <= max {
            return;
        }
        let window = self.config.window_ms;
        // First whatever fell out of the window; then the oldest, down to half the bound, so
        // that this pass runs once per `max / 2` new subjects rather than on every event.
        self.addresses.retain(|_, a| a.last_seen > now - window);
        self.accounts.retain(|_, u| {
            u.last_seen > now - window
                || u.last_place
                    .as_ref()
                    .is_some_and(|p| p.0 > now - TRAVEL_MEMORY_MS)
        });
        self.quiet_until.retain(|_, until| *until > now);
        let (addresses, total) = (self.addresses.len(), self.len());
        if total > max / 2 {
            let keep_addresses = max / 2 * addresses / total;
            evict_oldest(&mut self.addresses, keep_addresses, |a| a.last_seen);
            evict_oldest(&mut self.accounts, max / 2 - keep_addresses, |u| {
                u.last_seen
            });
        }
        if self.quiet_until.len() > max {
            self.quiet_until.clear();
        }
    }
}

/// How long an account's last place is remembered for impossible travel.
const TRAVEL_MEMORY_MS: i64 = 86_400_000;

/// The entry of `key`, created empty; allocates the key only when it is new.
fn slot<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> &'m mut V {
    if !map.contains_key(key) {
        map.insert(key.to_string(), V::default());
    }
    map.get_mut(key).expect("just inserted")
}

/// Keeps (about) the `keep` most recently seen entries.
fn evict_oldest<V>(map: &mut HashMap<String, V>, keep: usize, seen: impl Fn(&V) -> i64) {
    if map.len() <= keep {
        return;
    }
    if keep == 0 {
        map.clear();
        return;
    }
    let mut times: Vec<i64> = map.values().map(&seen).collect();
    // The keep-th most recent time: everything at or after it stays.
    let (_, &mut cutoff, _) = times.select_nth_unstable_by(keep - 1, |a, b| b.cmp(a));
    map.retain(|_, v| seen(v) >= cutoff);
}

fn minutes(ms: i64) -> String {
    let m = ms / 60_000;
    if m >= 1 {
        format!("{m} min")
    } else {
        format!("{} s", ms / 1000)
    }
}

/// Great-circle distance in km (haversine).
pub fn distance_km((lat1, lon1): (f64, f64), (lat2, lon2): (f64, f64)) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6_371.0 * a.sqrt().asin()
}

/// How far detection has got, for tests, benchmarks and `/metrics`-style checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Sign-in events looked at.
    pub observed: u64,
    /// Findings stored.
    pub findings: u64,
}

/// Reports taken from one request at most; the rest are dropped.
pub const MAX_CSP_REPORTS: usize = 100;
/// Longest text kept of one report field.
const MAX_CSP_FIELD: usize = 1024;

/// Why a CSP report body was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CspError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("expected {{\"csp-report\": {{…}}}} or a Reporting API array")]
    Shape,
}

/// Reads CSP violation reports, either the `report-uri` form (`{"csp-report": {...}}`,
/// `application/csp-report`) or the Reporting API's (`[{"type": "csp-violation", "body":
/// {...}}]`, `application/reports+json`), into event details with the `report-uri` field names.
/// Reports of other types are skipped; fields are bounded in length.
pub fn csp_reports(body: &[u8]) -> Result<Vec<serde_json::Value>, CspError> {
    use serde_json::Value;
    let doc: Value = serde_json::from_slice(body).map_err(|e| CspError::Json(e.to_string()))?;
    let reports: Vec<&serde_json::Map<String, Value>> = match &doc {
        Value::Object(o) => match o.get("csp-report") {
            Some(Value::Object(r)) => vec![r],
            _ => return Err(CspError::Shape),
        },
        Value::Array(items) => items
            .iter()
            .filter(|r| r.get("type").and_then(Value::as_str) == Some("csp-violation"))
            .filter_map(|r| r.get("body").and_then(Value::as_object))
            .take(MAX_CSP_REPORTS)
            .collect(),
        _ => return Err(CspError::Shape),
    };
    // (stored name, report-uri name, Reporting API name)
    const FIELDS: [(&str, &str, &str); 9] = [
        ("document-uri", "document-uri", "documentURL"),
        (
            "violated-directive",
            "violated-directive",
            "effectiveDirective",
        ),
        (
            "effective-directive",
            "effective-directive",
            "effectiveDirective",
        ),
        ("blocked-uri", "blocked-uri", "blockedURL"),
        ("source-file", "source-file", "sourceFile"),
        ("line-number", "line-number", "lineNumber"),
        ("column-number", "column-number", "columnNumber"),
        ("disposition", "disposition", "disposition"),
        ("script-sample", "script-sample", "sample"),
    ];
    Ok(reports
        .into_iter()
        .map(|r| {
            let mut details = serde_json::Map::new();
            for (name, classic, modern) in FIELDS {
                let value = match r.get(classic).or_else(|| r.get(modern)) {
                    Some(Value::String(s)) if !s.is_empty() => Value::String(bounded(s)),
                    Some(Value::Number(n)) => Value::Number(n.clone()),
                    _ => continue,
                };
                details.insert(name.to_string(), value);
            }
            Value::Object(details)
        })
        .collect())
}

fn bounded(text: &str) -> String {
    if text.len() <= MAX_CSP_FIELD {
        return text.to_string();
    }
    let mut end = MAX_CSP_FIELD;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(ts: i64, actor: &str, ip: &str) -> Signal<'static> {
        Signal {
            ts,
            outcome: Outcome::Failure,
            actor: Some(Box::leak(actor.to_string().into_boxed_str())),
            ip: Some(Box::leak(ip.to_string().into_boxed_str())),
            location: None,
        }
    }

    fn watch() -> SecurityWatch {
        SecurityWatch::new(Thresholds::default())
    }

    #[test]
    fn ten_failures_from_one_address_are_brute_force_reported_once() {
        let mut w = watch();
        let mut found = Vec::new();
        for i in 0..30 {
            found.extend(w.observe(&fail(i * 1_000, "alice", "203.0.113.7")));
        }
        let kinds: Vec<FindingKind> = found.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            vec![FindingKind::BruteForceIp, FindingKind::BruteForceAccount],
            "once per subject and kind within the window: {found:?}"
        );
        assert_eq!(found[0].ts, 9_000, "on the tenth failure");
        assert!(found[0].explanation.contains("203.0.113.7"));
    }

    #[test]
    fn failures_spread_beyond_the_window_are_not_brute_force() {
        let mut w = watch();
        for i in 0..50 {
            assert!(w
                .observe(&fail(i * 60_000, "bob", "198.51.100.1"))
                .is_empty());
        }
    }

    #[test]
    fn many_accounts_from_one_address_are_credential_stuffing() {
        let mut w = watch();
        let found: Vec<Finding> = (0..5)
            .flat_map(|i| w.observe(&fail(i * 1_000, &format!("user{i}"), "192.0.2.9")))
            .collect();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, FindingKind::CredentialStuffing);
        assert_eq!(found[0].count, 5);
    }

    #[test]
    fn paris_then_new_york_within_an_hour_is_impossible_travel() {
        let mut w = watch();
        let at = |ts, place| Signal {
            ts,
            outcome: Outcome::Success,
            actor: Some("carol"),
            ip: None,
            location: Some(place),
        };
        assert!(w.observe(&at(0, (48.86, 2.35))).is_empty());
        let found = w.observe(&at(3_600_000, (40.71, -74.0)));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].kind, FindingKind::ImpossibleTravel);
        // Twelve hours later the same trip is possible.
        let mut w = watch();
        w.observe(&at(0, (48.86, 2.35)));
        assert!(w.observe(&at(12 * 3_600_000, (40.71, -74.0))).is_empty());
        // Neighbouring towns quickly are fine.
        let mut w = watch();
        w.observe(&at(0, (48.86, 2.35)));
        assert!(w.observe(&at(60_000, (48.80, 2.13))).is_empty());
    }

    #[test]
    fn memory_stays_bounded_under_address_cycling() {
        let mut w = SecurityWatch::new(Thresholds {
            max_subjects: 1_000,
            ..Thresholds::default()
        });
        for i in 0..100_000i64 {
            w.observe(&fail(
                i,
                &format!("u{i}"),
                &format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255),
            ));
        }
        assert!(w.len() <= 1_000, "{} subjects kept", w.len());
    }

    #[test]
    fn an_attacker_hidden_in_noise_is_still_found() {
        let mut w = SecurityWatch::new(Thresholds {
            max_subjects: 10_000,
            ..Thresholds::default()
        });
        let mut found = Vec::new();
        for i in 0..100_000i64 {
            let ip = format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255);
            found.extend(w.observe(&fail(i, &format!("u{i}"), &ip)));
            if i % 1_000 == 999 {
                found.extend(w.observe(&fail(i, "root", "203.0.113.66")));
            }
        }
        assert!(
            found
                .iter()
                .any(|f| f.kind == FindingKind::BruteForceIp && f.subject == "203.0.113.66"),
            "{found:?}"
        );
        assert!(w.len() <= 10_000);
    }

    #[test]
    fn locations_are_read_from_details() {
        assert_eq!(
            location_of(&serde_json::json!({"geo": {"lat": 1.5, "lon": 2.5}})),
            Some((1.5, 2.5))
        );
        assert_eq!(location_of(&serde_json::json!({"lat": 91, "lon": 0})), None);
        assert_eq!(location_of(&serde_json::json!({})), None);
        assert!((distance_km((48.86, 2.35), (40.71, -74.0)) - 5_837.0).abs() < 20.0);
    }

    #[test]
    fn csp_reports_of_both_forms_are_read() {
        let classic = br#"{"csp-report": {"document-uri": "https://shop.example/cart",
            "violated-directive": "script-src-elem", "blocked-uri": "https://evil.example/x.js",
            "source-file": "https://shop.example/app.js", "line-number": 12, "original-policy": "x"}}"#;
        let found = csp_reports(classic).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0]["blocked-uri"], "https://evil.example/x.js");
        assert_eq!(found[0]["line-number"], 12);
        assert!(
            found[0].get("original-policy").is_none(),
            "only the known fields are kept"
        );

        let modern = br#"[{"type": "csp-violation", "url": "https://shop.example/",
            "body": {"documentURL": "https://shop.example/", "effectiveDirective": "img-src",
                     "blockedURL": "https://track.example/p.gif", "lineNumber": 3}},
            {"type": "deprecation", "body": {"id": "x"}}]"#;
        let found = csp_reports(modern).unwrap();
        assert_eq!(found.len(), 1, "other report types are skipped");
        assert_eq!(found[0]["violated-directive"], "img-src");
        assert_eq!(found[0]["document-uri"], "https://shop.example/");

        assert!(csp_reports(b"{\"x\": 1}").is_err());
        assert!(csp_reports(b"not json").is_err());
        let long = format!(
            r#"{{"csp-report": {{"blocked-uri": "{}"}}}}"#,
            "é".repeat(5_000)
        );
        let found = csp_reports(long.as_bytes()).unwrap();
        assert!(found[0]["blocked-uri"].as_str().unwrap().len() <= MAX_CSP_FIELD);
    }
}
