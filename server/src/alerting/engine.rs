//! One evaluation of every rule: query, state machine, noise control, incidents, outbox.

use super::incidents::{incident_key, IncidentBook};
use super::{Alerting, AlertingResult};
use crate::query::engine as qengine;
use crate::query::params::Agg;
use crate::query::{RangeQuery, SeriesLookup};
use crate::store::{AlertChanges, InstanceRow, NewDelivery, TransitionRow};
use alerts::{
    AlertEvent, AlertInstance, AlertRule, AlertState, Condition, Dispatcher, Labels, NoiseConfig,
    Notification, NotificationKind, Observation, Silence, Status, Transition,
};
use app::model::{AlertView, InstanceView};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

/// The window a rule aggregates over when it names none.
pub const DEFAULT_WINDOW_MS: i64 = 60_000;
/// Anomalies are scored per closed minute, so anomaly rules look back at least this far.
const ANOMALY_LOOKBACK_MS: i64 = 180_000;
/// Every instance state is saved at least once in this many evaluations (not only when it
/// changes), so a restart resumes with recent "last data" times. Each evaluation saves its
/// share, so none writes them all at once.
const FLUSH_EVERY: u64 = 20;
/// Rules evaluated before their changes are committed and their notifications queued, so a
/// notification waits for at most this many other rules' evaluation (about 10 ms).
const CHUNK_RULES: usize = 256;

/// What the engine holds between evaluations.
pub(crate) struct Engine {
    instances: BTreeMap<(String, Labels), Live>,
    dispatcher: Dispatcher,
    restored: bool,
    ticks: u64,
}

struct Live {
    machine: AlertInstance,
    value: Option<f64>,
    /// Saved unchanged by the evaluations whose count modulo `FLUSH_EVERY` is this.
    flush_slot: u64,
}

impl Engine {
    pub(crate) fn new() -> Self {
        Engine {
            instances: BTreeMap::new(),
            dispatcher: Dispatcher::new(NoiseConfig::default()),
            restored: false,
            ticks: 0,
        }
    }

    /// The instances of one rule. Instances are ordered by rule id first and the empty label
    /// set sorts first, so they are one range of the map.
    fn instances_of<'a>(
        &'a self,
        rule_id: &'a str,
    ) -> impl Iterator<Item = (&'a Labels, &'a Live)> {
        self.instances
            .range((rule_id.to_string(), Labels::new())..)
            .take_while(move |((rid, _), _)| rid == rule_id)
            .map(|((_, labels), live)| (labels, live))
    }

    /// Whether any instance of `rule_id` whose incident key is `key` is still firing or
    /// without data.
    pub(crate) fn still_alerting(&self, rule_id: &str, key: &str) -> bool {
        self.instances_of(rule_id).any(|(labels, live)| {
            live.machine.state().status() != Status::Ok && incident_key(rule_id, labels) == key
        })
    }
}

/// The changes of the rules evaluated since the last commit.
#[derive(Default)]
struct Chunk {
    rules: usize,
    changes: AlertChanges,
    events: Vec<AlertEvent>,
    /// When each rule with an event changed state, for the dispatch latency.
    changed_at: HashMap<String, Instant>,
}

/// Critical rules first, so the alerts that inhibit others are known before those others are
/// notified; then by name, so rules sharing a name (a notification group) are adjacent.
fn evaluation_order(rules: &[(String, AlertRule)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rules.len()).collect();
    order.sort_by(|&a, &b| {
        let (ia, ra) = &rules[a];
        let (ib, rb) = &rules[b];
        rb.severity
            .cmp(&ra.severity)
            .then_with(|| ra.name.cmp(&rb.name))
            .then_with(|| ia.cmp(ib))
    });
    order
}

/// What one evaluation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub rules: usize,
    pub instances: usize,
    pub transitions: usize,
    pub notifications: usize,
    pub deliveries: usize,
}

fn urgency(state: AlertState) -> u8 {
    match state {
        AlertState::Firing => 4,
        AlertState::NoData => 3,
        AlertState::Recovering => 2,
        AlertState::Pending => 1,
        AlertState::Normal => 0,
    }
}

fn labels_json(labels: &Labels) -> String {
    serde_json::to_string(labels).expect("labels serialise")
}

fn instance_row(rule_id: &str, labels: &Labels, live: &Live, now: i64) -> InstanceRow {
    InstanceRow {
        rule_id: rule_id.to_string(),
        labels: labels_json(labels),
        state: live.machine.state().as_str().to_string(),
        since: live.machine.since_ms().unwrap_or(now),
        value: live.value,
        updated_at: now,
        detail: serde_json::to_value(&live.machine).expect("instances serialise"),
    }
}

impl Alerting {
    /// Evaluates every rule once at `now` and stores what changed.
    pub async fn tick(&self, now: i64) -> AlertingResult<TickReport> {
        let mut engine = self.engine.lock().await;
        let rules = self.rules_parsed().await?;
        if !engine.restored {
            self.restore(&mut engine, &rules).await?;
        }
        let result = self.evaluate(&mut engine, &rules, now).await;
        if result.is_err() {
            // Memory may be ahead of the store; start again from what was stored.
            engine.restored = false;
        }
        result
    }

    /// Loads instance states saved before a restart; the dispatcher takes them as already
    /// notified, so nothing is sent twice.
    async fn restore(
        &self,
        engine: &mut Engine,
        rules: &[(String, AlertRule)],
    ) -> AlertingResult<()> {
        let by_id: HashMap<&str, &AlertRule> =
            rules.iter().map(|(id, r)| (id.as_str(), r)).collect();
        *engine = Engine::new();
        for row in self.store.alert_instances().await? {
            let (Ok(labels), Ok(machine)) = (
                serde_json::from_str::<Labels>(&row.labels),
                serde_json::from_value::<AlertInstance>(row.detail.clone()),
            ) else {
                tracing::warn!(rule = %row.rule_id, "unreadable alert state skipped");
                continue;
            };
            if let Some(rule) = by_id.get(row.rule_id.as_str()) {
                let state = machine.state();
                let since = machine.since_ms().unwrap_or(row.since);
                engine.dispatcher.seed(&AlertEvent {
                    rule_id: row.rule_id.clone(),
                    labels: labels.clone(),
                    severity: rule.severity,
                    channels: rule.channels.clone(),
                    transition: Transition {
                        from: state,
                        to: state,
                        at_ms: since,
                        value: row.value,
                        reason: "restored".into(),
                        episode_ms: machine.episode_ms().unwrap_or(since),
                    },
                });
            }
            let flush_slot = engine.instances.len() as u64 % FLUSH_EVERY;
            engine.instances.insert(
                (row.rule_id, labels),
                Live {
                    machine,
                    value: row.value,
                    flush_slot,
                },
            );
        }
        engine.restored = true;
        Ok(())
    }

    async fn evaluate(
        &self,
        engine: &mut Engine,
        rules: &[(String, AlertRule)],
        now: i64,
    ) -> AlertingResult<TickReport> {
        engine.ticks += 1;
        let silences: Vec<Silence> = self
            .silences(true)
            .await?
            .into_iter()
            .map(|(_, s)| s)
            .collect();
        let by_id: HashMap<&str, &AlertRule> =
            rules.iter().map(|(id, r)| (id.as_str(), r)).collect();
        let order = evaluation_order(rules);
        let mut report = TickReport {
            rules: rules.len(),
            ..TickReport::default()
        };
        let mut series = SeriesLookup::default();
        let mut chunk = Chunk::default();
        let mut saved: HashSet<(String, String)> = HashSet::new();
        for (pos, &i) in order.iter().enumerate() {
            let (rule_id, rule) = &rules[i];
            self.step_rule(engine, rule_id, rule, now, &mut series, &mut chunk)
                .await;
            chunk.rules += 1;
            // A chunk ends only where the rule name changes: notifications group alerts by
            // `alertname`, so no group is split between two chunks.
            let next_name = order.get(pos + 1).map(|&j| rules[j].1.name.as_str());
            if chunk.rules >= CHUNK_RULES
                && next_name.is_some_and(|n| n != rule.name)
                && !chunk.changes.is_empty()
            {
                let done = std::mem::take(&mut chunk);
                saved.extend(
                    done.changes
                        .instances
                        .iter()
                        .map(|i| (i.rule_id.clone(), i.labels.clone())),
                );
                self.dispatch(engine, &by_id, &silences, done, now, false, &mut report)
                    .await?;
            }
        }
        saved.extend(
            chunk
                .changes
                .instances
                .iter()
                .map(|i| (i.rule_id.clone(), i.labels.clone())),
        );
        self.dispatch(engine, &by_id, &silences, chunk, now, true, &mut report)
            .await?;
        // Housekeeping after the last notifications left: forgetting gone instances and saving
        // this evaluation's share of unchanged ones (about 1 600 rows at 10 000 rules) would
        // otherwise hold them back.
        let mut housekeeping = AlertChanges::default();
        self.forget(engine, rules, &mut housekeeping);
        self.flush_unchanged(engine, &saved, &mut housekeeping, now);
        self.store.apply(&housekeeping).await?;
        report.instances = engine.instances.len();
        Ok(report)
    }

    /// Queries one rule and steps its instances, adding what changed to `chunk`.
    async fn step_rule(
        &self,
        engine: &mut Engine,
        rule_id: &str,
        rule: &AlertRule,
        now: i64,
        series: &mut SeriesLookup,
        chunk: &mut Chunk,
    ) {
        let observed = match self.observe(rule, now, series).await {
            Ok(observed) => observed,
            Err(e) => {
                tracing::warn!(rule = %rule_id, error = %e, "alert rule not evaluated");
                return;
            }
        };
        let mut due: BTreeMap<Labels, Observation> = observed
            .into_iter()
            .map(|(group, obs)| (rule.instance_labels(&group), obs))
            .collect();
        for (labels, _) in engine.instances_of(rule_id) {
            if !due.contains_key(labels) {
                due.insert(labels.clone(), Observation::empty(now));
            }
        }
        if due.is_empty() && rule.group_by.is_empty() {
            // No series at all yet: one instance tracks the absence of data. A grouped rule
            // has instances only for the groups its query reports.
            due.insert(
                rule.instance_labels(&Labels::new()),
                Observation::empty(now),
            );
        }
        for (labels, obs) in due {
            let flush_slot = engine.instances.len() as u64 % FLUSH_EVERY;
            let live = engine
                .instances
                .entry((rule_id.to_string(), labels.clone()))
                .or_insert_with(|| Live {
                    machine: AlertInstance::new(),
                    value: None,
                    flush_slot,
                });
            let transition = live.machine.step(&rule.trigger, &obs);
            live.value = obs.value;
            let Some(t) = transition else {
                continue;
            };
            chunk.changes.transitions.push(TransitionRow {
                rule_id: rule_id.to_string(),
                labels: labels_json(&labels),
                ts: t.at_ms,
                from_state: t.from.as_str().into(),
                to_state: t.to.as_str().into(),
                value: t.value,
            });
            chunk
                .changes
                .instances
                .push(instance_row(rule_id, &labels, live, now));
            chunk
                .changed_at
                .entry(rule_id.to_string())
                .or_insert_with(Instant::now);
            chunk.events.push(AlertEvent {
                rule_id: rule_id.to_string(),
                labels,
                severity: rule.severity,
                channels: rule.channels.clone(),
                transition: t,
            });
        }
    }

    /// Saves the instances whose turn it is to be saved unchanged (see [`FLUSH_EVERY`]).
    /// `saved` holds the (rule, labels JSON) of the instances this evaluation saved already.
    fn flush_unchanged(
        &self,
        engine: &Engine,
        saved: &HashSet<(String, String)>,
        changes: &mut AlertChanges,
        now: i64,
    ) {
        let slot = engine.ticks % FLUSH_EVERY;
        for ((rule_id, labels), live) in &engine.instances {
            if live.flush_slot == slot && !saved.contains(&(rule_id.clone(), labels_json(labels))) {
                changes
                    .instances
                    .push(instance_row(rule_id, labels, live, now));
            }
        }
    }

    /// Turns one chunk's events into notifications and incident changes and commits them, so
    /// its notifications go out while later rules are still being evaluated. The `last` chunk
    /// of an evaluation also takes escalations due.
    #[allow(clippy::too_many_arguments)]
    async fn dispatch(
        &self,
        engine: &mut Engine,
        by_id: &HashMap<&str, &AlertRule>,
        silences: &[Silence],
        chunk: Chunk,
        now: i64,
        last: bool,
        report: &mut TickReport,
    ) -> AlertingResult<()> {
        let Chunk {
            mut changes,
            events,
            changed_at,
            ..
        } = chunk;
        let notifications = engine.dispatcher.tick(now, &events, silences);
        let mut book = IncidentBook::default();
        for event in events.iter().filter(|e| e.transition.status_changed()) {
            let Some(rule) = by_id.get(event.rule_id.as_str()) else {
                continue;
            };
            let muted = silences.iter().any(|s| s.mutes(&event.labels, now));
            self.record_in_incident(&mut book, engine, rule, event, muted, now)
                .await?;
        }
        if last {
            self.escalate(&mut book, by_id, &mut changes, now).await?;
        }
        let mut decided = Vec::new();
        for n in &notifications {
            let from = changes.deliveries.len();
            self.queue(&mut book, by_id, n, &mut changes, now).await?;
            let at = n
                .alerts
                .iter()
                .filter_map(|a| changed_at.get(&a.rule_id))
                .min()
                .copied()
                .unwrap_or_else(Instant::now);
            decided.extend(
                changes.deliveries[from..]
                    .iter()
                    .map(|d| (d.idempotency_key.clone(), at)),
            );
        }
        report.transitions += changes.transitions.len();
        report.notifications += notifications.len();
        report.deliveries += changes.deliveries.len();
        book.into_changes(&mut changes);
        self.store.apply(&changes).await?;
        if !changes.deliveries.is_empty() {
            self.dispatch_clock.decided(decided);
            self.queued.notify_one();
        }
        Ok(())
    }

    /// Drops instances of deleted rules, and normal instances whose group has gone (a
    /// `group_by` value no longer reported).
    fn forget(
        &self,
        engine: &mut Engine,
        rules: &[(String, AlertRule)],
        changes: &mut AlertChanges,
    ) {
        let by_id: HashMap<&str, &AlertRule> =
            rules.iter().map(|(id, r)| (id.as_str(), r)).collect();
        engine.instances.retain(|(rule_id, labels), live| {
            let keep = match by_id.get(rule_id.as_str()) {
                None => false,
                // The instances of a grouped rule carry every `group_by` label (an absent one as
                // ""); one lacking a label is left from before the rule was grouped. Comparing
                // with the labels of the empty group instead would also match a group the
                // filter fixes (filter host=h1, group by host) and forget it every evaluation.
                Some(rule) => {
                    let leftover = rule.group_by.iter().any(|k| !labels.contains_key(k));
                    rule.group_by.is_empty()
                        || ((live.machine.state() != AlertState::Normal || live.value.is_some())
                            && !leftover)
                }
            };
            if !keep {
                changes
                    .removed_instances
                    .push((rule_id.clone(), labels_json(labels)));
            }
            keep
        });
    }

    /// The rule's query over its window, one observation per group; `series` is shared by the
    /// rules of one evaluation.
    async fn observe(
        &self,
        rule: &AlertRule,
        now: i64,
        series: &mut SeriesLookup,
    ) -> Result<Vec<(Labels, Observation)>, crate::query::QueryError> {
        let window = rule.query.window_ms.unwrap_or(DEFAULT_WINDOW_MS).max(1_000);
        let filter: Vec<(String, String)> = rule
            .query
            .filter
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let q = RangeQuery {
            metric: rule.query.metric.clone(),
            from: now - window,
            to: now,
            step: window,
            agg: Agg::parse(&rule.query.agg)?,
            group_by: rule.group_by.clone(),
            filter: filter.clone(),
        };
        let values = self.query.window_in(&q, now, series).await?;
        let mut out: Vec<(Labels, Observation)> = values
            .into_iter()
            .map(|(group, v)| (group, Observation::value(now, v)))
            .collect();
        if let Condition::Anomaly { .. } = rule.trigger.condition {
            let from = now - window.max(ANOMALY_LOOKBACK_MS);
            let anomalies = self
                .store
                .anomalies(Some(&rule.query.metric), from, now + 1, 10_000)
                .await?;
            let mut scores: HashMap<Labels, f64> = HashMap::new();
            for a in anomalies
                .iter()
                .filter(|a| !a.dismissed && qengine::matches(&a.labels, &filter))
            {
                let best = scores
                    .entry(qengine::group_key(&a.labels, &rule.group_by))
                    .or_insert(0.0);
                *best = best.max(a.score);
            }
            for (group, obs) in &mut out {
                obs.anomaly_score = Some(scores.get(group).copied().unwrap_or(0.0));
            }
        }
        Ok(out)
    }

    /// Queues one notification to each of its channels.
    async fn queue(
        &self,
        book: &mut IncidentBook,
        rules: &HashMap<&str, &AlertRule>,
        n: &Notification,
        changes: &mut AlertChanges,
        now: i64,
    ) -> AlertingResult<()> {
        let incident = match n.alerts.first() {
            Some(a) if n.kind != NotificationKind::Digest => book
                .open(&*self.store, &incident_key(&a.rule_id, &a.labels))
                .await?
                .cloned(),
            _ => None,
        };
        let message = self.message(n, rules, incident.as_ref(), now);
        let body = serde_json::to_value(&message).expect("messages serialise");
        for channel in &n.channels {
            let Some((name, config)) = self.channel_config(channel).await? else {
                tracing::warn!(channel = %channel, "notification to a deleted channel dropped");
                continue;
            };
            changes.deliveries.push(NewDelivery {
                channel_id: channel.clone(),
                idempotency_key: format!("{}.{channel}", n.key),
                incident_id: incident.as_ref().map(|i| i.id.clone()),
                message: body.clone(),
            });
            if let Some(incident) = &incident {
                book.note(
                    &incident.id,
                    now,
                    "notified",
                    format!(
                        "{} notification queued for {name} ({})",
                        n.kind.as_str(),
                        config.kind()
                    ),
                    None,
                );
            }
        }
        Ok(())
    }

    /// The words of a notification.
    pub(crate) fn message(
        &self,
        n: &Notification,
        rules: &HashMap<&str, &AlertRule>,
        incident: Option<&crate::store::IncidentRow>,
        now: i64,
    ) -> notify::Message {
        let alerts: Vec<notify::MessageAlert> = n
            .alerts
            .iter()
            .map(|a| {
                let rule = rules.get(a.rule_id.as_str());
                notify::MessageAlert {
                    rule_id: a.rule_id.clone(),
                    rule_name: rule
                        .map(|r| r.name.clone())
                        .unwrap_or_else(|| a.rule_id.clone()),
                    labels: a.labels.clone(),
                    state: a.state.as_str().to_string(),
                    value: a.value,
                    threshold: rule.and_then(|r| threshold(&r.trigger.condition)),
                    condition: rule.map(|r| describe(r)).unwrap_or_default(),
                    since_ms: a.since_ms,
                }
            })
            .collect();
        let first = n.alerts.first();
        let name = first
            .and_then(|a| rules.get(a.rule_id.as_str()))
            .map(|r| r.name.clone())
            .unwrap_or_else(|| "alerts".into());
        let group: Vec<String> = n
            .group
            .iter()
            .filter(|(k, v)| *k != "alertname" && !v.is_empty())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let title = match (&n.digest, group.is_empty()) {
            (Some(d), _) => format!(
                "[DIGEST] {} notifications: {} firing, {} resolved",
                d.notifications, d.firing, d.resolved
            ),
            (None, true) => format!("[{}] {name}", n.kind.as_str().to_uppercase()),
            (None, false) => format!(
                "[{}] {name} ({})",
                n.kind.as_str().to_uppercase(),
                group.join(", ")
            ),
        };
        let status = match n.kind {
            NotificationKind::Resolved => notify::MessageStatus::Resolved,
            NotificationKind::Digest => notify::MessageStatus::Digest,
            _ => notify::MessageStatus::Firing,
        };
        let extra_text = match (&n.digest, n.kind) {
            (Some(d), _) if d.omitted > 0 => Some(format!("and {} more alerts", d.omitted)),
            (_, NotificationKind::Flapping) => Some(
                "This alert is flapping: it changed state too often and is held until it settles."
                    .into(),
            ),
            (_, NotificationKind::NoData) => Some("The rule's query returns no data.".into()),
            _ => None,
        };
        notify::Message {
            idempotency_key: n.key.clone(),
            dedup_key: incident
                .map(|i| i.dedup_key.clone())
                .or_else(|| first.map(|a| incident_key(&a.rule_id, &a.labels)))
                .unwrap_or_else(|| n.key.clone()),
            status,
            title,
            severity: n.severity.as_str().to_string(),
            alerts,
            incident: incident.map(|i| notify::IncidentRef {
                id: i.id.clone(),
                url: self.link(&format!("/incidents/{}", i.id)),
                sev: i.severity as u8,
            }),
            panel_url: first.map(|a| self.link(&format!("/alerts/{}", a.rule_id))),
            sent_at_ms: now,
            extra_text,
        }
    }

    /// Every rule's current state, most urgent first.
    pub async fn alerts(&self) -> AlertingResult<Vec<AlertView>> {
        let rules = self.rules_parsed().await?;
        let mut engine = self.engine.lock().await;
        if !engine.restored {
            self.restore(&mut engine, &rules).await?;
        }
        let mut out: Vec<AlertView> = rules
            .iter()
            .map(|(id, rule)| {
                let instances: Vec<InstanceView> = engine
                    .instances_of(id)
                    .map(|(labels, live)| InstanceView {
                        labels: labels.clone(),
                        state: live.machine.state().as_str().into(),
                        since: live.machine.since_ms(),
                        value: live.value,
                        flapping: engine.dispatcher.is_flapping(id, labels),
                    })
                    .collect();
                let state = engine
                    .instances_of(id)
                    .map(|(_, live)| live.machine.state())
                    .max_by_key(|s| urgency(*s))
                    .unwrap_or(AlertState::Normal);
                AlertView {
                    rule_id: id.clone(),
                    name: rule.name.clone(),
                    severity: rule.severity.as_str().into(),
                    state: state.as_str().into(),
                    condition: describe(rule),
                    instances,
                }
            })
            .collect();
        out.sort_by_key(|a| std::cmp::Reverse(urgency_of(&a.state)));
        Ok(out)
    }
}

fn urgency_of(state: &str) -> u8 {
    match state {
        "firing" => 4,
        "nodata" => 3,
        "recovering" => 2,
        "pending" => 1,
        _ => 0,
    }
}

/// The bound a rule compares against, for messages.
fn threshold(condition: &Condition) -> Option<f64> {
    match *condition {
        Condition::Threshold { threshold, .. } | Condition::RateOfChange { threshold, .. } => {
            Some(threshold)
        }
        Condition::Anomaly { min_score, .. } => Some(min_score),
        Condition::Absent { .. } => None,
    }
}

/// The rule's condition in words: `avg http.latency_ms > 500`.
pub(crate) fn describe(rule: &AlertRule) -> String {
    let q = &rule.query;
    let subject = format!("{} {}", q.agg, q.metric);
    match rule.trigger.condition {
        Condition::Threshold { op, threshold, .. } => {
            format!("{subject} {} {threshold}", op.as_str())
        }
        Condition::RateOfChange {
            op,
            per_ms,
            threshold,
            ..
        } => format!(
            "change of {subject} per {} {} {threshold}",
            alerts::format_duration(per_ms),
            op.as_str()
        ),
        Condition::Anomaly { min_score, .. } => {
            format!("anomaly score of {} ≥ {min_score}", q.metric)
        }
        Condition::Absent { after_ms } => format!(
            "no data for {} in {}",
            q.metric,
            alerts::format_duration(after_ms)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, severity: &str) -> AlertRule {
        let json = serde_json::json!({
            "name": name,
            "query": {"metric": "m"},
            "condition": {"op": ">", "threshold": 1},
            "severity": severity,
        });
        alerts::parse_rule(json.to_string().as_bytes()).expect("valid rule")
    }

    #[test]
    fn critical_rules_go_first_and_namesakes_stay_together() {
        let rules = vec![
            ("r1".to_string(), rule("disk", "warning")),
            ("r2".to_string(), rule("cpu", "warning")),
            ("r3".to_string(), rule("zeta", "critical")),
            ("r4".to_string(), rule("disk", "warning")),
            ("r5".to_string(), rule("cpu", "info")),
        ];
        let ids: Vec<&str> = evaluation_order(&rules)
            .into_iter()
            .map(|i| rules[i].0.as_str())
            .collect();
        assert_eq!(ids, ["r3", "r2", "r1", "r4", "r5"]);
    }
}
