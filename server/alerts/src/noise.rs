//! Noise control: from the transitions of one evaluation tick to the notifications to send.
//!
//! The [`Dispatcher`] remembers, per instance (rule id + labels), its current [`Status`] and
//! the status receivers were last told. A notification is *owed* when the two differ, and goes
//! out on the first tick nothing holds it back. That one rule gives:
//!
//! - **Notify on change only, dedup.** A repeated tick, or a replayed transition, changes no
//!   status, so nothing is owed. Each alert carries a stable key (rule id, labels, kind,
//!   episode start) and each notification one derived from its alerts, for `Idempotency-Key`.
//! - **Silences** ([`Silence`]): a muted alert still changes state but is not notified; if it
//!   is still firing when the silence ends, the firing is sent then. A resolve that happens
//!   under a silence is dropped (as in Alertmanager: the silence said "quiet").
//! - **Inhibition**: while any `critical` instance is firing, `warning` and `info` instances
//!   that share its values for every label in [`NoiseConfig::inhibit_equal`] (default
//!   `["service"]`; both must have the label) are held; when the critical one stops, held
//!   firings are sent. Resolves are never inhibited: good news closes what was already
//!   said. An empty list turns inhibition off. A silenced critical alert still inhibits.
//! - **Flapping**: more than [`NoiseConfig::flap_changes`] status changes (default 6) within
//!   [`NoiseConfig::flap_window_ms`] (10 min) mark the instance flapping: one `flapping`
//!   notification, then nothing until it has been quiet (no status change) for
//!   [`NoiseConfig::flap_quiet_ms`] (10 min); then its current status is sent if it differs
//!   from what was last told. Only status changes count (pending ↔ normal never reached
//!   anyone, so it cannot be noise).
//! - **Grouping**: alerts of one tick are grouped into one notification per kind, values of
//!   [`NoiseConfig::group_by`] (default `alertname` and `service`) and channel set.
//! - **Storm control**: when a tick's notifications would take the count sent within
//!   [`NoiseConfig::storm_window_ms`] (1 min) above [`NoiseConfig::storm_limit`] (20), the
//!   tick sends one `digest` instead, to the union of their channels, listing up to
//!   [`MAX_DIGEST_ALERTS`] alerts with counts per kind.
//!
//! Memory: an instance is remembered while its status or last-told status is not ok, while it
//! flaps, or while it has recent changes for flap detection; the server bounds instances.
//! After a restart, [`Dispatcher::seed`] restores what was told so nothing is re-sent.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::key::KeyHasher;
use crate::rule::Severity;
use crate::silence::Silence;
use crate::state::{AlertState, Status, Transition};
use crate::time::format_duration;
use crate::Labels;

/// Most alerts a digest lists; the rest are counted.
pub const MAX_DIGEST_ALERTS: usize = 100;

/// Tuning of a [`Dispatcher`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoiseConfig {
    /// Labels whose values split notifications into groups.
    pub group_by: Vec<String>,
    /// An instance with more status changes than this within `flap_window_ms` is flapping.
    pub flap_changes: usize,
    pub flap_window_ms: i64,
    /// A flapping instance with no status change for this long stops flapping.
    pub flap_quiet_ms: i64,
    /// Labels a firing critical alert must share with a warning or info alert to inhibit it.
    pub inhibit_equal: Vec<String>,
    /// Most notifications within `storm_window_ms` before a tick's are folded into a digest.
    pub storm_limit: usize,
    pub storm_window_ms: i64,
}

impl Default for NoiseConfig {
    fn default() -> Self {
        Self {
            group_by: vec!["alertname".into(), "service".into()],
            flap_changes: 6,
            flap_window_ms: 10 * 60_000,
            flap_quiet_ms: 10 * 60_000,
            inhibit_equal: vec!["service".into()],
            storm_limit: 20,
            storm_window_ms: 60_000,
        }
    }
}

/// One transition of one alert instance, with what notification needs to know about it.
/// `labels` are the instance's labels ([`crate::AlertRule::instance_labels`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    pub rule_id: String,
    pub labels: Labels,
    pub severity: Severity,
    pub channels: Vec<String>,
    pub transition: Transition,
}

/// What a notification says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    Firing,
    Resolved,
    NoData,
    Flapping,
    Digest,
}

impl NotificationKind {
    /// The kind as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Firing => "firing",
            Self::Resolved => "resolved",
            Self::NoData => "nodata",
            Self::Flapping => "flapping",
            Self::Digest => "digest",
        }
    }
}

/// One alert instance inside a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifiedAlert {
    /// Stable key of this news about this instance (rule id, labels, kind, episode start).
    pub key: String,
    pub kind: NotificationKind,
    pub rule_id: String,
    pub labels: Labels,
    pub severity: Severity,
    /// The instance's state when the notification was made.
    pub state: AlertState,
    /// When the episode began (firing, nodata or flapping; for resolved, the one that ended).
    pub since_ms: i64,
    /// When the transition being reported happened.
    pub at_ms: i64,
    pub value: Option<f64>,
    pub reason: String,
}

/// Counts of what a digest folded together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    /// Notifications replaced by this digest.
    pub notifications: usize,
    pub firing: usize,
    pub resolved: usize,
    pub nodata: usize,
    pub flapping: usize,
    /// Alerts counted but not listed (beyond [`MAX_DIGEST_ALERTS`]).
    pub omitted: usize,
}

/// A message to deliver to each of `channels`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// Idempotency key: the same alerts in the same group give the same key.
    pub key: String,
    pub kind: NotificationKind,
    /// The tick that produced it.
    pub at_ms: i64,
    /// The highest severity among its alerts.
    pub severity: Severity,
    pub channels: Vec<String>,
    /// The group's values of [`NoiseConfig::group_by`] (empty for a digest).
    pub group: Labels,
    pub alerts: Vec<NotifiedAlert>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct InstanceKey {
    rule_id: String,
    labels: Labels,
}

/// What the dispatcher remembers of one instance.
#[derive(Debug, Clone)]
struct Tracked {
    /// The latest event (its transition's `to` is the current state).
    event: AlertEvent,
    /// The status receivers were last told.
    told: Status,
    /// Times of recent status changes, for flap detection.
    changes: VecDeque<i64>,
    flapping_since: Option<i64>,
    last_change_ms: i64,
}

impl Tracked {
    fn status(&self) -> Status {
        self.event.transition.to.status()
    }

    /// The kind of notification owed, if what was told differs from the status.
    fn owed(&self) -> Option<NotificationKind> {
        match (self.status(), self.told) {
            (now, told) if now == told => None,
            (Status::Firing, _) => Some(NotificationKind::Firing),
            (Status::NoData, _) => Some(NotificationKind::NoData),
            (Status::Ok, _) => Some(NotificationKind::Resolved),
        }
    }

    fn alert(&self, kind: NotificationKind) -> NotifiedAlert {
        let e = &self.event;
        let t = &e.transition;
        let since_ms = match kind {
            NotificationKind::Flapping => self.flapping_since.unwrap_or(t.at_ms),
            _ => t.episode_ms,
        };
        let key = KeyHasher::new("alert")
            .text(&e.rule_id)
            .labels(&e.labels)
            .text(kind.as_str())
            .int(since_ms)
            .finish();
        NotifiedAlert {
            key,
            kind,
            rule_id: e.rule_id.clone(),
            labels: e.labels.clone(),
            severity: e.severity,
            state: t.to,
            since_ms,
            at_ms: t.at_ms,
            value: t.value,
            reason: t.reason.clone(),
        }
    }
}

/// Turns each tick's transitions into notifications. Pure: time comes in as `now_ms`.
#[derive(Debug, Clone, Default)]
pub struct Dispatcher {
    config: NoiseConfig,
    tracked: BTreeMap<InstanceKey, Tracked>,
    /// Send times of recent notifications, for storm control.
    sent: VecDeque<i64>,
}

/// What holds notifications back this tick: active silences and firing critical alerts.
struct Gate<'a> {
    silences: Vec<&'a Silence>,
    /// Labels of the firing critical instances.
    inhibitors: Vec<Labels>,
    equal: Vec<String>,
}

impl Gate<'_> {
    fn muted(&self, labels: &Labels) -> bool {
        self.silences.iter().any(|s| s.matches(labels))
    }

    fn inhibited(&self, t: &Tracked) -> bool {
        t.event.severity < Severity::Critical
            && self
                .inhibitors
                .iter()
                .any(|source| shares(&self.equal, source, &t.event.labels))
    }
}

/// An alert ready to go and the channels it goes to.
struct Outgoing {
    alert: NotifiedAlert,
    channels: Vec<String>,
}

impl Dispatcher {
    pub fn new(config: NoiseConfig) -> Self {
        Self {
            config,
            tracked: BTreeMap::new(),
            sent: VecDeque::new(),
        }
    }

    /// Restores an instance's last transition after a restart, as already notified.
    pub fn seed(&mut self, event: &AlertEvent) {
        let tracked = Tracked {
            told: event.transition.to.status(),
            event: event.clone(),
            changes: VecDeque::new(),
            flapping_since: None,
            last_change_ms: event.transition.at_ms,
        };
        self.tracked.insert(key_of(event), tracked);
    }

    /// Whether the instance is currently held as flapping.
    pub fn is_flapping(&self, rule_id: &str, labels: &Labels) -> bool {
        let key = InstanceKey {
            rule_id: rule_id.to_string(),
            labels: labels.clone(),
        };
        self.tracked
            .get(&key)
            .is_some_and(|t| t.flapping_since.is_some())
    }

    /// Instances currently remembered (for the server's own metrics).
    pub fn tracked_instances(&self) -> usize {
        self.tracked.len()
    }

    /// Takes one tick's events and the silences in force, returns the notifications to send.
    /// Call it every tick, with no events too: held notifications are released by time.
    pub fn tick(
        &mut self,
        now_ms: i64,
        events: &[AlertEvent],
        silences: &[Silence],
    ) -> Vec<Notification> {
        let started_flapping: Vec<InstanceKey> = events
            .iter()
            .filter_map(|e| self.record(e, now_ms))
            .collect();
        self.end_quiet_flapping(now_ms);
        let gate = Gate {
            silences: silences.iter().filter(|s| s.is_active(now_ms)).collect(),
            inhibitors: self.inhibitors(),
            equal: self.config.inhibit_equal.clone(),
        };
        let mut outgoing = self.flap_notices(&started_flapping, &gate);
        outgoing.extend(self.release_owed(&gate));
        let grouped = self.group(now_ms, outgoing);
        let out = self.storm_control(now_ms, grouped);
        self.forget_settled(now_ms);
        out
    }

    /// One `flapping` alert per instance that just started flapping, unless muted.
    fn flap_notices(&self, started: &[InstanceKey], gate: &Gate) -> Vec<Outgoing> {
        started
            .iter()
            .filter_map(|key| self.tracked.get(key))
            .filter(|t| !gate.muted(&t.event.labels) && !gate.inhibited(t))
            .map(|t| {
                let mut alert = t.alert(NotificationKind::Flapping);
                alert.reason = format!(
                    "{} status changes within {}",
                    t.changes.len(),
                    format_duration(self.config.flap_window_ms)
                );
                Outgoing {
                    alert,
                    channels: t.event.channels.clone(),
                }
            })
            .collect()
    }

    /// The owed notifications nothing holds back, marked as told.
    fn release_owed(&mut self, gate: &Gate) -> Vec<Outgoing> {
        let mut outgoing = Vec::new();
        for t in self.tracked.values_mut() {
            if t.flapping_since.is_some() {
                continue;
            }
            let Some(kind) = t.owed() else {
                continue;
            };
            if gate.muted(&t.event.labels) {
                if kind == NotificationKind::Resolved {
                    t.told = Status::Ok;
                }
                continue;
            }
            if kind != NotificationKind::Resolved && gate.inhibited(t) {
                continue;
            }
            t.told = t.status();
            outgoing.push(Outgoing {
                alert: t.alert(kind),
                channels: t.event.channels.clone(),
            });
        }
        outgoing
    }

    /// Applies one event; returns the instance's key if it just started flapping.
    fn record(&mut self, event: &AlertEvent, now_ms: i64) -> Option<InstanceKey> {
        let key = key_of(event);
        let new = &event.transition;
        let previous = match self.tracked.get(&key) {
            Some(t) => {
                let last = &t.event.transition;
                // Stale or replayed: already applied.
                if new.at_ms < last.at_ms || new == last {
                    return None;
                }
                t.status()
            }
            None => new.from.status(),
        };
        let tracked = self.tracked.entry(key.clone()).or_insert_with(|| Tracked {
            event: event.clone(),
            told: Status::Ok,
            changes: VecDeque::new(),
            flapping_since: None,
            last_change_ms: new.at_ms,
        });
        tracked.event = event.clone();
        if new.to.status() == previous {
            return None;
        }
        tracked.changes.push_back(new.at_ms);
        tracked.last_change_ms = tracked.last_change_ms.max(new.at_ms);
        prune(&mut tracked.changes, now_ms, self.config.flap_window_ms);
        if tracked.flapping_since.is_none() && tracked.changes.len() > self.config.flap_changes {
            tracked.flapping_since = Some(new.at_ms);
            return Some(key);
        }
        None
    }

    fn end_quiet_flapping(&mut self, now_ms: i64) {
        for t in self.tracked.values_mut() {
            if t.flapping_since.is_some() && now_ms - t.last_change_ms >= self.config.flap_quiet_ms
            {
                t.flapping_since = None;
                t.changes.clear();
            }
        }
    }

    /// Labels of the firing critical instances.
    fn inhibitors(&self) -> Vec<Labels> {
        if self.config.inhibit_equal.is_empty() {
            return Vec::new();
        }
        self.tracked
            .values()
            .filter(|t| t.event.severity == Severity::Critical && t.status() == Status::Firing)
            .map(|t| t.event.labels.clone())
            .collect()
    }

    /// One notification per kind, group-label values and channel set; alerts with no
    /// channel reach no one and are dropped here (they were still recorded as told).
    fn group(&self, now_ms: i64, outgoing: Vec<Outgoing>) -> Vec<Notification> {
        type GroupKey = (NotificationKind, Labels, Vec<String>);
        let mut groups: BTreeMap<GroupKey, Vec<NotifiedAlert>> = BTreeMap::new();
        for Outgoing { alert, channels } in outgoing {
            let channels: Vec<String> = channels
                .into_iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if channels.is_empty() {
                continue;
            }
            let group: Labels = self
                .config
                .group_by
                .iter()
                .filter_map(|name| alert.labels.get_key_value(name))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            groups
                .entry((alert.kind, group, channels))
                .or_default()
                .push(alert);
        }
        groups
            .into_iter()
            .map(|((kind, group, channels), alerts)| {
                let mut key = KeyHasher::new("notification");
                key.text(kind.as_str()).labels(&group);
                for c in &channels {
                    key.text(c);
                }
                for a in &alerts {
                    key.text(&a.key);
                }
                Notification {
                    key: key.finish(),
                    kind,
                    at_ms: now_ms,
                    severity: max_severity(&alerts),
                    channels,
                    group,
                    alerts,
                    digest: None,
                }
            })
            .collect()
    }

    fn storm_control(&mut self, now_ms: i64, notes: Vec<Notification>) -> Vec<Notification> {
        prune(&mut self.sent, now_ms, self.config.storm_window_ms);
        if notes.is_empty() {
            return notes;
        }
        let budget = self.config.storm_limit.saturating_sub(self.sent.len());
        let out = if notes.len() <= budget {
            notes
        } else {
            vec![digest(now_ms, notes)]
        };
        self.sent.extend(out.iter().map(|_| now_ms));
        out
    }

    /// Drops instances with nothing left to say or to watch.
    fn forget_settled(&mut self, now_ms: i64) {
        let window = self.config.flap_window_ms;
        self.tracked.retain(|_, t| {
            prune(&mut t.changes, now_ms, window);
            t.status() != Status::Ok
                || t.told != Status::Ok
                || t.flapping_since.is_some()
                || !t.changes.is_empty()
        });
    }
}

fn key_of(event: &AlertEvent) -> InstanceKey {
    InstanceKey {
        rule_id: event.rule_id.clone(),
        labels: event.labels.clone(),
    }
}

/// Keeps the times within the window `(now - window, now]` of a time-ordered queue.
fn prune(times: &mut VecDeque<i64>, now_ms: i64, window_ms: i64) {
    while times.front().is_some_and(|t| *t <= now_ms - window_ms) {
        times.pop_front();
    }
}

/// Whether `source` and `target` have the same value for every label in `equal` (both
/// must have it). An empty list never matches: inhibition is off.
fn shares(equal: &[String], source: &Labels, target: &Labels) -> bool {
    !equal.is_empty()
        && equal.iter().all(
            |name| matches!((source.get(name), target.get(name)), (Some(a), Some(b)) if a == b),
        )
}

fn max_severity(alerts: &[NotifiedAlert]) -> Severity {
    alerts
        .iter()
        .map(|a| a.severity)
        .max()
        .unwrap_or(Severity::Info)
}

/// Folds a tick's notifications into one.
fn digest(now_ms: i64, notes: Vec<Notification>) -> Notification {
    let mut counts = Digest {
        notifications: notes.len(),
        ..Digest::default()
    };
    let mut channels = BTreeSet::new();
    let mut severity = Severity::Info;
    let mut key = KeyHasher::new("digest");
    key.int(now_ms);
    let mut alerts = Vec::new();
    for note in notes {
        key.text(&note.key);
        severity = severity.max(note.severity);
        channels.extend(note.channels);
        for alert in note.alerts {
            match alert.kind {
                NotificationKind::Firing => counts.firing += 1,
                NotificationKind::Resolved => counts.resolved += 1,
                NotificationKind::NoData => counts.nodata += 1,
                NotificationKind::Flapping => counts.flapping += 1,
                NotificationKind::Digest => {}
            }
            if alerts.len() < MAX_DIGEST_ALERTS {
                alerts.push(alert);
            } else {
                counts.omitted += 1;
            }
        }
    }
    Notification {
        key: key.finish(),
        kind: NotificationKind::Digest,
        at_ms: now_ms,
        severity,
        channels: channels.into_iter().collect(),
        group: Labels::new(),
        alerts,
        digest: Some(counts),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::silence::parse_silence;
    use AlertState::*;
    use NotificationKind as K;

    const T0: i64 = 1_800_000_000_000;
    const S: i64 = 1_000;
    const MIN: i64 = 60 * S;

    fn labels(rule: &str, service: &str, severity: Severity) -> Labels {
        [
            ("alertname", rule),
            ("service", service),
            ("severity", severity.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// An event of rule `rule` on `service`, episode starting at `episode`.
    fn ev(
        rule: &str,
        service: &str,
        severity: Severity,
        (from, to): (AlertState, AlertState),
        at: i64,
        episode: i64,
    ) -> AlertEvent {
        AlertEvent {
            rule_id: format!("r-{rule}"),
            labels: labels(rule, service, severity),
            severity,
            channels: vec!["ops".into()],
            transition: Transition {
                from,
                to,
                at_ms: at,
                value: Some(1.0),
                reason: format!("{from:?} to {to:?}"),
                episode_ms: episode,
            },
        }
    }

    fn warn(service: &str, change: (AlertState, AlertState), at: i64, ep: i64) -> AlertEvent {
        ev("latency", service, Severity::Warning, change, at, ep)
    }

    fn crit(service: &str, change: (AlertState, AlertState), at: i64, ep: i64) -> AlertEvent {
        ev("down", service, Severity::Critical, change, at, ep)
    }

    fn kinds(notes: &[Notification]) -> Vec<NotificationKind> {
        notes.iter().map(|n| n.kind).collect()
    }

    fn silence(json: &str) -> Silence {
        parse_silence(json.as_bytes(), T0).unwrap()
    }

    #[test]
    fn only_status_changes_are_notified() {
        let mut d = Dispatcher::default();
        let steps = [
            ((Normal, Pending), vec![]),
            ((Pending, Firing), vec![K::Firing]),
            ((Firing, Recovering), vec![]),
            ((Recovering, Firing), vec![]),
            ((Firing, Recovering), vec![]),
            ((Recovering, Normal), vec![K::Resolved]),
            ((Normal, Pending), vec![]),
            ((Pending, Normal), vec![]),
            ((Normal, NoData), vec![K::NoData]),
            ((NoData, Pending), vec![K::Resolved]),
            ((Pending, Firing), vec![K::Firing]),
            ((Firing, NoData), vec![K::NoData]),
            ((NoData, Firing), vec![K::Firing]),
            ((Firing, Normal), vec![K::Resolved]),
        ];
        for (i, (change, want)) in steps.into_iter().enumerate() {
            // One change every 5 minutes: too slow to count as flapping.
            let at = T0 + i as i64 * 5 * MIN;
            let notes = d.tick(at, &[warn("api", change, at, at)], &[]);
            assert_eq!(kinds(&notes), want, "step {i}: {change:?}");
        }
    }

    #[test]
    fn a_resolve_that_was_never_announced_is_not_sent() {
        let mut d = Dispatcher::default();
        // The dispatcher never saw the firing (no seed): nothing to resolve.
        let notes = d.tick(T0, &[warn("api", (Recovering, Normal), T0, T0 - MIN)], &[]);
        assert!(notes.is_empty());
    }

    #[test]
    fn repeated_and_stale_events_produce_nothing() {
        let mut d = Dispatcher::default();
        let firing = [warn("api", (Pending, Firing), T0, T0)];
        assert_eq!(d.tick(T0, &firing, &[]).len(), 1);
        assert!(d.tick(T0, &firing, &[]).is_empty(), "same tick again");
        assert!(d.tick(T0 + S, &firing, &[]).is_empty(), "replayed later");
        let stale = warn("api", (Normal, Pending), T0 - S, T0 - S);
        assert!(d.tick(T0 + 2 * S, &[stale], &[]).is_empty());
        assert_eq!(d.tracked[&key_of(&firing[0])].event.transition.to, Firing);
    }

    #[test]
    fn keys_are_stable_and_distinguish_episodes() {
        let run = || {
            let mut d = Dispatcher::default();
            d.tick(T0, &[warn("api", (Pending, Firing), T0, T0)], &[])
        };
        let (a, b) = (run(), run());
        assert_eq!(a, b);
        assert_eq!(a[0].key.len(), 32);
        assert_ne!(a[0].key, a[0].alerts[0].key);

        let mut d = Dispatcher::default();
        let first = d.tick(T0, &[warn("api", (Pending, Firing), T0, T0)], &[]);
        let resolved = d.tick(
            T0 + MIN,
            &[warn("api", (Firing, Normal), T0 + MIN, T0)],
            &[],
        );
        let second = d.tick(
            T0 + 10 * MIN,
            &[warn("api", (Pending, Firing), T0 + 10 * MIN, T0 + 10 * MIN)],
            &[],
        );
        let keys = [&first, &resolved, &second].map(|n| n[0].alerts[0].key.clone());
        assert_ne!(keys[0], keys[1], "firing and resolved differ");
        assert_ne!(keys[0], keys[2], "two episodes differ");
        assert_eq!(
            resolved[0].alerts[0].since_ms, T0,
            "resolve names its episode"
        );
    }

    #[test]
    fn one_notification_per_group_kind_and_channels() {
        let mut d = Dispatcher::default();
        let mut routes: Vec<AlertEvent> = ["/a", "/b", "/c"]
            .iter()
            .map(|route| {
                let mut e = warn("api", (Pending, Firing), T0, T0);
                e.labels.insert("route".into(), route.to_string());
                e
            })
            .collect();
        routes.push(warn("web", (Pending, Firing), T0, T0));
        let mut paged = warn("db", (Pending, Firing), T0, T0);
        paged.channels = vec!["pager".into(), "ops".into(), "pager".into()];
        routes.push(paged);
        let mut nobody = warn("cache", (Pending, Firing), T0, T0);
        nobody.channels.clear();
        routes.push(nobody);
        let mut other_rule = ev("errors", "api", Severity::Info, (Pending, Firing), T0, T0);
        other_rule.labels.insert("route".into(), "/a".into());
        routes.push(other_rule);

        let notes = d.tick(T0, &routes, &[]);
        let summary: Vec<_> = notes
            .iter()
            .map(|n| {
                (
                    n.group["alertname"].as_str(),
                    n.group["service"].as_str(),
                    n.channels.join(","),
                    n.alerts.len(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("errors", "api", "ops".to_string(), 1),
                ("latency", "api", "ops".to_string(), 3),
                ("latency", "db", "ops,pager".to_string(), 1),
                ("latency", "web", "ops".to_string(), 1),
            ]
        );
        // The channel-less alert was recorded as told: it does not come back.
        assert!(d.tick(T0 + S, &[], &[]).is_empty());
    }

    #[test]
    fn firing_and_resolved_in_one_group_are_separate_notifications() {
        let mut d = Dispatcher::default();
        let mut a = warn("api", (Pending, Firing), T0, T0);
        a.labels.insert("route".into(), "/a".into());
        let mut b = a.clone();
        b.labels.insert("route".into(), "/b".into());
        d.tick(T0, &[a.clone()], &[]);
        a.transition = Transition {
            from: Firing,
            to: Normal,
            at_ms: T0 + MIN,
            ..a.transition.clone()
        };
        b.transition.at_ms = T0 + MIN;
        b.transition.episode_ms = T0 + MIN;
        let notes = d.tick(T0 + MIN, &[a, b], &[]);
        assert_eq!(kinds(&notes), vec![K::Firing, K::Resolved]);
        assert!(notes.iter().all(|n| n.group["service"] == "api"));
    }

    #[test]
    fn group_severity_is_the_highest() {
        let config = NoiseConfig {
            group_by: vec!["service".into()],
            inhibit_equal: vec![],
            ..NoiseConfig::default()
        };
        let mut d = Dispatcher::new(config);
        let notes = d.tick(
            T0,
            &[
                warn("api", (Pending, Firing), T0, T0),
                ev("errors", "api", Severity::Info, (Pending, Firing), T0, T0),
                ev("cpu", "api", Severity::Critical, (Pending, Firing), T0, T0),
            ],
            &[],
        );
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].severity, Severity::Critical);
        assert_eq!(notes[0].alerts.len(), 3);
        assert_eq!(notes[0].group.len(), 1);
    }

    #[test]
    fn silences_mute_in_their_window_and_release_after() {
        let s = silence(&format!(
            r#"{{"matchers": [{{"label": "service", "op": "=", "value": "api"}}],
                "starts_at": {}, "ends_at": {}}}"#,
            T0 + MIN,
            T0 + 10 * MIN
        ));
        let silences = [s];
        let mut d = Dispatcher::default();
        // Before the window: sent.
        let notes = d.tick(T0, &[warn("api", (Pending, Firing), T0, T0)], &silences);
        assert_eq!(kinds(&notes), vec![K::Firing]);
        // In the window: the resolve and a new firing are muted…
        let at = T0 + 2 * MIN;
        assert!(d
            .tick(at, &[warn("api", (Firing, Normal), at, T0)], &silences)
            .is_empty());
        let at = T0 + 3 * MIN;
        assert!(d
            .tick(at, &[warn("api", (Pending, Firing), at, at)], &silences)
            .is_empty());
        // …other services are not.
        let at = T0 + 4 * MIN;
        let notes = d.tick(at, &[warn("web", (Pending, Firing), at, at)], &silences);
        assert_eq!(notes[0].group["service"], "web");
        // Still muted just before the end; at the end the still-firing alert goes out.
        assert!(d.tick(T0 + 10 * MIN - 1, &[], &silences).is_empty());
        let notes = d.tick(T0 + 10 * MIN, &[], &silences);
        assert_eq!(kinds(&notes), vec![K::Firing]);
        assert_eq!(notes[0].alerts[0].since_ms, T0 + 3 * MIN);
        assert_eq!(notes[0].alerts[0].at_ms, T0 + 3 * MIN);
    }

    #[test]
    fn a_resolve_under_a_silence_is_dropped_for_good() {
        let s = silence(&format!(
            r#"{{"matchers": [{{"label": "alertname", "op": "=~", "value": "lat.*"}}],
                "ends_at": {}}}"#,
            T0 + 10 * MIN
        ));
        let mut d = Dispatcher::default();
        d.tick(
            T0 - MIN,
            &[warn("api", (Pending, Firing), T0 - MIN, T0 - MIN)],
            &[],
        );
        let silences = [s];
        assert!(d
            .tick(
                T0,
                &[warn("api", (Firing, Normal), T0, T0 - MIN)],
                &silences
            )
            .is_empty());
        assert!(d.tick(T0 + 20 * MIN, &[], &silences).is_empty());
        assert_eq!(d.tracked_instances(), 0, "settled and forgotten");
    }

    #[test]
    fn silences_use_every_matcher_op() {
        let cases = [
            (r#"{"label": "service", "op": "=", "value": "api"}"#, true),
            (r#"{"label": "service", "op": "=", "value": "web"}"#, false),
            (
                r#"{"label": "alertname", "op": "=~", "value": "lat.*"}"#,
                true,
            ),
            (
                r#"{"label": "alertname", "op": "=~", "value": "lat"}"#,
                false,
            ),
        ];
        for (matcher, mutes) in cases {
            let s = silence(&format!(
                r#"{{"matchers": [{matcher}, {{"label": "service", "op": "!=", "value": "db"}},
                    {{"label": "severity", "op": "!~", "value": "crit.*"}}], "ends_at": {}}}"#,
                T0 + MIN
            ));
            let mut d = Dispatcher::default();
            let notes = d.tick(T0, &[warn("api", (Pending, Firing), T0, T0)], &[s]);
            assert_eq!(notes.is_empty(), mutes, "{matcher}");
        }
    }

    #[test]
    fn critical_inhibits_lower_severities_of_the_same_service() {
        let mut d = Dispatcher::default();
        let notes = d.tick(
            T0,
            &[
                crit("api", (Pending, Firing), T0, T0),
                warn("api", (Pending, Firing), T0, T0),
                ev("errors", "api", Severity::Info, (Pending, Firing), T0, T0),
                warn("web", (Pending, Firing), T0, T0),
                ev("cpu", "api", Severity::Critical, (Pending, Firing), T0, T0),
            ],
            &[],
        );
        let sent: Vec<_> = notes
            .iter()
            .flat_map(|n| &n.alerts)
            .map(|a| (a.labels["alertname"].as_str(), a.labels["service"].as_str()))
            .collect();
        assert_eq!(
            sent,
            vec![("cpu", "api"), ("down", "api"), ("latency", "web")]
        );

        // Recovering is still firing: still inhibits.
        let at = T0 + MIN;
        assert!(d
            .tick(at, &[crit("api", (Firing, Recovering), at, T0)], &[])
            .is_empty());
        // When both criticals resolve, the held warning and info firings go out.
        let at = T0 + 2 * MIN;
        let notes = d.tick(
            at,
            &[
                crit("api", (Recovering, Normal), at, T0),
                ev("cpu", "api", Severity::Critical, (Firing, Normal), at, T0),
            ],
            &[],
        );
        let got: Vec<_> = notes
            .iter()
            .map(|n| (n.kind, n.group["alertname"].as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (K::Firing, "errors"),
                (K::Firing, "latency"),
                (K::Resolved, "cpu"),
                (K::Resolved, "down"),
            ]
        );
    }

    #[test]
    fn resolves_are_not_inhibited_and_missing_labels_do_not_match() {
        let mut d = Dispatcher::default();
        d.tick(T0, &[warn("api", (Pending, Firing), T0, T0)], &[]);
        let at = T0 + MIN;
        d.tick(at, &[crit("api", (Pending, Firing), at, at)], &[]);
        let at = T0 + 2 * MIN;
        let notes = d.tick(at, &[warn("api", (Firing, Normal), at, T0)], &[]);
        assert_eq!(kinds(&notes), vec![K::Resolved]);

        // A critical alert without `service` inhibits nothing, nor does one on another service.
        let mut d = Dispatcher::default();
        let mut bare = crit("x", (Pending, Firing), T0, T0);
        bare.labels.remove("service");
        let mut plain = warn("x", (Pending, Firing), T0, T0);
        plain.labels.remove("service");
        let notes = d.tick(T0, &[bare, plain], &[]);
        assert_eq!(notes.iter().map(|n| n.alerts.len()).sum::<usize>(), 2);
    }

    #[test]
    fn inhibition_uses_the_configured_labels_or_is_off() {
        let with = |equal: &[&str]| {
            let mut d = Dispatcher::new(NoiseConfig {
                inhibit_equal: equal.iter().map(|s| s.to_string()).collect(),
                ..NoiseConfig::default()
            });
            let mut c = crit("api", (Pending, Firing), T0, T0);
            c.labels.insert("cluster".into(), "eu".into());
            let mut w = warn("api", (Pending, Firing), T0, T0);
            w.labels.insert("cluster".into(), "us".into());
            let notes = d.tick(T0, &[c, w], &[]);
            notes.iter().map(|n| n.alerts.len()).sum::<usize>()
        };
        assert_eq!(with(&["service"]), 1);
        assert_eq!(with(&["service", "cluster"]), 2);
        assert_eq!(with(&[]), 2);
    }

    #[test]
    fn a_silenced_critical_still_inhibits() {
        let s = silence(&format!(
            r#"{{"matchers": [{{"label": "severity", "op": "=", "value": "critical"}}],
                "ends_at": {}}}"#,
            T0 + MIN
        ));
        let mut d = Dispatcher::default();
        let notes = d.tick(
            T0,
            &[
                crit("api", (Pending, Firing), T0, T0),
                warn("api", (Pending, Firing), T0, T0),
            ],
            &[s],
        );
        assert!(notes.is_empty());
    }

    /// Alternates firing and resolved every `gap`, `n` times from `start`; returns the kinds
    /// sent per tick.
    fn flap(d: &mut Dispatcher, start: i64, gap: i64, n: usize) -> Vec<Vec<NotificationKind>> {
        (0..n)
            .map(|i| {
                let at = start + i as i64 * gap;
                let change = if i % 2 == 0 {
                    (Pending, Firing)
                } else {
                    (Firing, Normal)
                };
                let episode = start + (i as i64 / 2) * 2 * gap;
                kinds(&d.tick(at, &[warn("api", change, at, episode)], &[]))
            })
            .collect()
    }

    #[test]
    fn flapping_is_reported_once_then_held_until_quiet() {
        let mut d = Dispatcher::default();
        let sent = flap(&mut d, T0, MIN, 10);
        // Six changes go out; the seventh within 10 minutes marks it flapping.
        let want: Vec<Vec<K>> = vec![
            vec![K::Firing],
            vec![K::Resolved],
            vec![K::Firing],
            vec![K::Resolved],
            vec![K::Firing],
            vec![K::Resolved],
            vec![K::Flapping],
            vec![],
            vec![],
            vec![],
        ];
        assert_eq!(sent, want);
        let labels = labels("latency", "api", Severity::Warning);
        assert!(d.is_flapping("r-latency", &labels));
        // Last change at T0 + 9 min (resolved); told: resolved. Quiet for 10 min ends it,
        // and nothing is owed.
        assert!(d.tick(T0 + 19 * MIN - 1, &[], &[]).is_empty());
        assert!(d.tick(T0 + 19 * MIN, &[], &[]).is_empty());
        assert!(!d.is_flapping("r-latency", &labels));
    }

    #[test]
    fn leaving_flapping_sends_the_status_it_settled_in() {
        let mut d = Dispatcher::default();
        let sent = flap(&mut d, T0, MIN, 9);
        assert_eq!(sent[6], vec![K::Flapping]);
        // The 9th change (firing) was held; after a quiet period it goes out.
        assert!(d.tick(T0 + 18 * MIN - 1, &[], &[]).is_empty());
        let notes = d.tick(T0 + 18 * MIN, &[], &[]);
        assert_eq!(kinds(&notes), vec![K::Firing]);
        assert!(d.tick(T0 + 19 * MIN, &[], &[]).is_empty());
    }

    #[test]
    fn flapping_notice_says_why() {
        let mut d = Dispatcher::default();
        let mut last = Vec::new();
        for i in 0..7 {
            let at = T0 + i * MIN;
            let change = if i % 2 == 0 {
                (Pending, Firing)
            } else {
                (Firing, Normal)
            };
            last = d.tick(at, &[warn("api", change, at, at)], &[]);
        }
        assert_eq!(last[0].alerts[0].reason, "7 status changes within 10m");
        assert_eq!(last[0].alerts[0].since_ms, T0 + 6 * MIN);
    }

    #[test]
    fn slow_changes_and_state_only_changes_are_not_flapping() {
        let mut d = Dispatcher::default();
        // Every 2 minutes: at most 5 changes in any 10-minute window.
        let sent = flap(&mut d, T0, 2 * MIN, 20);
        assert!(sent.iter().all(|k| k.len() == 1 && k[0] != K::Flapping));

        // Firing ↔ recovering forty times: no status change, nothing sent, no flapping.
        let mut d = Dispatcher::default();
        d.tick(T0, &[warn("api", (Pending, Firing), T0, T0)], &[]);
        for i in 1..40 {
            let at = T0 + i * S;
            let change = if i % 2 == 1 {
                (Firing, Recovering)
            } else {
                (Recovering, Firing)
            };
            assert!(d.tick(at, &[warn("api", change, at, T0)], &[]).is_empty());
        }
        assert!(!d.is_flapping("r-latency", &labels("latency", "api", Severity::Warning)));
    }

    #[test]
    fn flapping_thresholds_are_configurable() {
        let mut d = Dispatcher::new(NoiseConfig {
            flap_changes: 2,
            flap_window_ms: MIN,
            flap_quiet_ms: 2 * MIN,
            ..NoiseConfig::default()
        });
        let sent = flap(&mut d, T0, 10 * S, 4);
        assert_eq!(
            sent,
            vec![
                vec![K::Firing],
                vec![K::Resolved],
                vec![K::Flapping],
                vec![]
            ]
        );
        // Last change (resolved, held) at T0 + 30 s; resolved is also what was last told, so
        // the end of flapping, 2 minutes later, owes nothing.
        let labels = labels("latency", "api", Severity::Warning);
        assert!(d.tick(T0 + 150 * S - 1, &[], &[]).is_empty());
        assert!(d.is_flapping("r-latency", &labels));
        assert!(d.tick(T0 + 150 * S, &[], &[]).is_empty());
        assert!(!d.is_flapping("r-latency", &labels));
    }

    /// `n` warning instances of rule `rule`, one per service, starting to fire at `at`.
    fn many_firing(rule: &str, n: usize, at: i64) -> Vec<AlertEvent> {
        (0..n)
            .map(|i| {
                let mut e = warn(&format!("svc-{i:03}"), (Pending, Firing), at, at);
                e.rule_id = rule.into();
                e
            })
            .collect()
    }

    #[test]
    fn storms_become_one_digest() {
        let mut d = Dispatcher::default();
        let notes = d.tick(T0, &many_firing("a", 20, T0), &[]);
        assert_eq!(notes.len(), 20, "the limit itself is allowed");

        let mut d = Dispatcher::default();
        let mut events = many_firing("a", 21, T0);
        events[0].channels = vec!["pager".into()];
        events[1].severity = Severity::Critical;
        let notes = d.tick(T0, &events, &[]);
        assert_eq!(kinds(&notes), vec![K::Digest]);
        let digest = &notes[0];
        assert_eq!(digest.alerts.len(), 21);
        assert_eq!(digest.channels, vec!["ops", "pager"]);
        assert_eq!(digest.severity, Severity::Critical);
        assert!(digest.group.is_empty());
        assert_eq!(
            digest.digest,
            Some(Digest {
                notifications: 21,
                firing: 21,
                ..Digest::default()
            })
        );
        // The alerts were delivered (in the digest): nothing is owed afterwards.
        assert!(d.tick(T0 + S, &[], &[]).is_empty());
    }

    #[test]
    fn storm_budget_spans_the_window() {
        let mut d = Dispatcher::default();
        assert_eq!(d.tick(T0, &many_firing("a", 15, T0), &[]).len(), 15);
        // 15 + 6 > 20 within the minute: a digest (which counts as one).
        let at = T0 + 30 * S;
        assert_eq!(
            kinds(&d.tick(at, &many_firing("b", 6, at), &[])),
            vec![K::Digest]
        );
        // 16 sent in the window; 4 more fit, 5 would not.
        let at = T0 + 40 * S;
        assert_eq!(d.tick(at, &many_firing("c", 4, at), &[]).len(), 4);
        let at = T0 + 50 * S;
        assert_eq!(
            kinds(&d.tick(at, &many_firing("d", 2, at), &[])),
            vec![K::Digest]
        );
        // A minute after the first burst its 15 have left the window: 15 fit again.
        let at = T0 + 60 * S;
        assert_eq!(d.tick(at, &many_firing("e", 14, at), &[]).len(), 14);
    }

    #[test]
    fn digests_list_at_most_a_hundred_alerts() {
        let mut d = Dispatcher::default();
        let mut events = many_firing("a", 150, T0);
        for e in events.iter_mut().take(30) {
            e.transition.to = NoData;
        }
        let notes = d.tick(T0, &events, &[]);
        let digest = notes[0].digest.clone().unwrap();
        assert_eq!(notes[0].alerts.len(), MAX_DIGEST_ALERTS);
        assert_eq!(
            digest,
            Digest {
                notifications: 150,
                firing: 120,
                nodata: 30,
                omitted: 50,
                ..Digest::default()
            }
        );
    }

    #[test]
    fn seeded_instances_are_not_announced_again() {
        let mut d = Dispatcher::default();
        d.seed(&warn("api", (Pending, Firing), T0 - MIN, T0 - MIN));
        assert!(d.tick(T0, &[], &[]).is_empty());
        assert!(d
            .tick(T0, &[warn("api", (Firing, Recovering), T0, T0 - MIN)], &[])
            .is_empty());
        let at = T0 + MIN;
        let notes = d.tick(at, &[warn("api", (Recovering, Normal), at, T0 - MIN)], &[]);
        assert_eq!(kinds(&notes), vec![K::Resolved]);
    }

    #[test]
    fn settled_instances_are_forgotten_after_the_flap_window() {
        let mut d = Dispatcher::default();
        d.tick(T0, &[warn("api", (Pending, Firing), T0, T0)], &[]);
        d.tick(
            T0 + MIN,
            &[warn("api", (Firing, Normal), T0 + MIN, T0)],
            &[],
        );
        assert_eq!(d.tracked_instances(), 1, "changes still count for flapping");
        d.tick(T0 + 11 * MIN, &[], &[]);
        assert_eq!(d.tracked_instances(), 0);
        // Pending ↔ normal churn leaves nothing behind.
        d.tick(
            T0 + 12 * MIN,
            &[warn("api", (Normal, Pending), T0 + 12 * MIN, 0)],
            &[],
        );
        assert_eq!(d.tracked_instances(), 0);
    }

    #[test]
    fn notification_json_shape() {
        let mut d = Dispatcher::default();
        let notes = d.tick(T0, &[warn("api", (Pending, Firing), T0, T0)], &[]);
        let v = serde_json::to_value(&notes[0]).unwrap();
        let obj = v.as_object().unwrap();
        let mut fields: Vec<_> = obj.keys().map(String::as_str).collect();
        fields.sort_unstable();
        assert_eq!(
            fields,
            ["alerts", "at_ms", "channels", "group", "key", "kind", "severity"]
        );
        assert_eq!(v["kind"], "firing");
        assert_eq!(v["severity"], "warning");
        assert_eq!(
            v["group"],
            serde_json::json!({"alertname": "latency", "service": "api"})
        );
        let alert = &v["alerts"][0];
        assert_eq!(alert["state"], "firing");
        assert_eq!(alert["kind"], "firing");
        assert_eq!(alert["rule_id"], "r-latency");
        assert_eq!(alert["since_ms"], T0);
        let back: Notification = serde_json::from_value(v).unwrap();
        assert_eq!(back, notes[0]);
    }

    #[test]
    fn config_reads_partial_json() {
        let c: NoiseConfig = serde_json::from_str(r#"{"storm_limit": 5}"#).unwrap();
        assert_eq!(c.storm_limit, 5);
        assert_eq!(c.flap_changes, 6);
        assert!(serde_json::from_str::<NoiseConfig>(r#"{"storm": 5}"#).is_err());
    }
}
