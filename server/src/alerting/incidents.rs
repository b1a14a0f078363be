//! Incidents: opened by firing alert groups, joined by re-firing ones, acknowledged, resolved
//! (by people, or by Osprey once every alert of the group recovered), escalated while nobody
//! acknowledges, with a timeline of everything that happened.

use super::engine::Engine;
use super::{new_id, now_ms, Alerting, AlertingError, AlertingResult};
use crate::store::{AlertChanges, IncidentEvent, IncidentRow, NewDelivery, Store};
use alerts::{AlertEvent, AlertRule, Labels, NoiseConfig, Severity, Status};
use app::model::{IncidentView, TimelineEntry};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

pub const TRIGGERED: &str = "triggered";
pub const ACKNOWLEDGED: &str = "acknowledged";
pub const RESOLVED: &str = "resolved";

/// Longest note or postmortem, in characters.
const MAX_NOTE_CHARS: usize = 20_000;

/// The alert group an instance belongs to: its rule and the values of the dispatcher's
/// grouping labels. A re-firing alert of the group joins the group's open incident.
pub fn incident_key(rule_id: &str, labels: &Labels) -> String {
    let mut hash = Sha256::new();
    hash.update(rule_id.as_bytes());
    for name in NoiseConfig::default().group_by {
        hash.update([0]);
        hash.update(name.as_bytes());
        hash.update([0]);
        hash.update(labels.get(&name).map(String::as_bytes).unwrap_or_default());
    }
    hex::encode(&hash.finalize()[..16])
}

/// SEV1 (worst) to SEV5 from an alert's severity.
fn sev(severity: Severity) -> i64 {
    match severity {
        Severity::Critical => 2,
        Severity::Warning => 3,
        Severity::Info => 4,
    }
}

/// Open incidents touched during one evaluation, and their new timeline entries.
#[derive(Default)]
pub(crate) struct IncidentBook {
    /// Open incidents by dedup key, as loaded or changed; `None`: known to have none.
    open: HashMap<String, Option<IncidentRow>>,
    changed: BTreeMap<String, IncidentRow>,
    events: Vec<IncidentEvent>,
}

impl IncidentBook {
    /// The open incident of a dedup key, read once per evaluation.
    pub(crate) async fn open(
        &mut self,
        store: &dyn Store,
        key: &str,
    ) -> AlertingResult<Option<&IncidentRow>> {
        if !self.open.contains_key(key) {
            let found = store.open_incident(key).await?;
            self.open.insert(key.to_string(), found);
        }
        Ok(self.open.get(key).and_then(Option::as_ref))
    }

    fn save(&mut self, incident: IncidentRow) {
        let key = incident.dedup_key.clone();
        let open = incident.status != RESOLVED;
        self.changed.insert(incident.id.clone(), incident.clone());
        self.open.insert(key, open.then_some(incident));
    }

    pub(crate) fn note(
        &mut self,
        incident_id: &str,
        ts: i64,
        kind: &str,
        message: String,
        actor: Option<&str>,
    ) {
        self.events.push(IncidentEvent {
            incident_id: incident_id.to_string(),
            ts,
            kind: kind.to_string(),
            message,
            actor: actor.map(str::to_string),
        });
    }

    pub(crate) fn into_changes(self, changes: &mut AlertChanges) {
        changes.incidents.extend(self.changed.into_values());
        changes.incident_events.extend(self.events);
    }
}

fn describe_labels(labels: &Labels) -> String {
    labels
        .iter()
        .filter(|(k, _)| *k != "alertname" && *k != "severity")
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An incident with its timeline, as the API and dashboard show it.
fn view(row: IncidentRow, timeline: Vec<IncidentEvent>) -> IncidentView {
    IncidentView {
        id: row.id,
        title: row.title,
        severity: format!("SEV{}", row.severity),
        status: row.status,
        assignee: row.assignee,
        rule_id: row.rule_id,
        dedup_key: row.dedup_key,
        opened_at: row.opened_at,
        acknowledged_at: row.acknowledged_at,
        resolved_at: row.resolved_at,
        escalation_level: row.escalation_level,
        postmortem: row.postmortem,
        timeline: timeline
            .into_iter()
            .map(|e| TimelineEntry {
                ts: e.ts,
                kind: e.kind,
                message: e.message,
                actor: e.actor,
            })
            .collect(),
    }
}

/// The fields `PATCH /api/v1/incidents/{id}` may change.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IncidentPatch {
    pub severity: Option<String>,
    pub assignee: Option<String>,
    pub postmortem: Option<String>,
}

impl Alerting {
    /// Records an alert's change of status in its group's incident, opening one when the
    /// group starts firing and resolving it once nothing in the group alerts any more.
    pub(crate) async fn record_in_incident(
        &self,
        book: &mut IncidentBook,
        engine: &Engine,
        rule: &AlertRule,
        event: &AlertEvent,
        muted: bool,
        now: i64,
    ) -> AlertingResult<()> {
        let key = incident_key(&event.rule_id, &event.labels);
        let t = &event.transition;
        let what = describe_labels(&event.labels);
        let open = book.open(&*self.store, &key).await?.cloned();
        match (t.to.status(), open) {
            (Status::Firing, None) if !muted => {
                let (assignee, escalate_at) = self.escalation_start(rule, now).await?;
                let group = NoiseConfig::default()
                    .group_by
                    .iter()
                    .filter(|k| *k != "alertname")
                    .filter_map(|k| event.labels.get(k).map(|v| format!("{k}={v}")))
                    .collect::<Vec<_>>();
                let title = if group.is_empty() {
                    rule.name.clone()
                } else {
                    format!("{} ({})", rule.name, group.join(", "))
                };
                let incident = IncidentRow {
                    id: new_id("inc"),
                    dedup_key: key,
                    title,
                    severity: sev(rule.severity),
                    status: TRIGGERED.into(),
                    assignee: assignee.clone(),
                    rule_id: Some(event.rule_id.clone()),
                    opened_at: now,
                    acknowledged_at: None,
                    resolved_at: None,
                    escalation_level: 0,
                    escalate_at,
                    postmortem: None,
                    updated_at: now,
                };
                book.note(
                    &incident.id,
                    now,
                    "opened",
                    format!("Incident opened by rule {:?}", rule.name),
                    None,
                );
                book.note(
                    &incident.id,
                    t.at_ms,
                    "alert",
                    format!("Firing {what}: {}", t.reason),
                    None,
                );
                if let Some(user) = &assignee {
                    book.note(
                        &incident.id,
                        now,
                        "assigned",
                        format!("Assigned to {user}, on call"),
                        None,
                    );
                }
                book.save(incident);
            }
            (Status::Firing, Some(incident)) => {
                book.note(
                    &incident.id,
                    t.at_ms,
                    "alert",
                    format!("Firing {what}: {}", t.reason),
                    None,
                );
            }
            (Status::NoData, Some(incident)) => {
                book.note(
                    &incident.id,
                    t.at_ms,
                    "alert",
                    format!("No data {what}: {}", t.reason),
                    None,
                );
            }
            (Status::Ok, Some(mut incident)) => {
                book.note(
                    &incident.id,
                    t.at_ms,
                    "alert",
                    format!("Recovered {what}: {}", t.reason),
                    None,
                );
                if !engine.still_alerting(&event.rule_id, &incident.dedup_key) {
                    incident.status = RESOLVED.into();
                    incident.resolved_at = Some(now);
                    incident.escalate_at = None;
                    incident.updated_at = now;
                    book.note(
                        &incident.id,
                        now,
                        "resolved",
                        "Resolved: every alert of the group recovered".into(),
                        None,
                    );
                    book.save(incident);
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Who a new incident of `rule` is assigned to and when it first escalates.
    async fn escalation_start(
        &self,
        rule: &AlertRule,
        now: i64,
    ) -> AlertingResult<(Option<String>, Option<i64>)> {
        let Some(policy_id) = &rule.escalation else {
            return Ok((None, None));
        };
        let Some(policy) = self.escalation_policy(policy_id).await? else {
            return Ok((None, None));
        };
        let assignee = match &policy.rotation {
            Some(id) => self
                .rotation(id)
                .await?
                .and_then(|r| r.on_call(now).map(str::to_string)),
            None => None,
        };
        let first = policy.steps.first().and_then(|s| s.after.to_ms().ok());
        Ok((assignee, first.map(|after| now + after)))
    }

    /// Takes the next escalation step of every triggered incident nobody acknowledged in time.
    pub(crate) async fn escalate(
        &self,
        book: &mut IncidentBook,
        rules: &HashMap<&str, &AlertRule>,
        changes: &mut AlertChanges,
        now: i64,
    ) -> AlertingResult<()> {
        for mut incident in self.store.incidents(true, 1_000).await? {
            let due =
                incident.status == TRIGGERED && incident.escalate_at.is_some_and(|t| t <= now);
            if !due || book.changed.contains_key(&incident.id) {
                continue;
            }
            let rule = incident.rule_id.as_deref().and_then(|id| rules.get(id));
            let policy = match rule.and_then(|r| r.escalation.as_deref()) {
                Some(id) => self.escalation_policy(id).await?,
                None => None,
            };
            let level = incident.escalation_level as usize;
            let Some(step) = policy.as_ref().and_then(|p| p.steps.get(level)) else {
                incident.escalate_at = None;
                book.save(incident);
                continue;
            };
            let waited = alerts::format_duration(now - incident.opened_at);
            let mut names = Vec::new();
            let message = notify::Message {
                idempotency_key: format!("{}.escalation.{}", incident.id, level + 1),
                dedup_key: incident.dedup_key.clone(),
                status: notify::MessageStatus::Firing,
                title: format!(
                    "[ESCALATED] {} — not acknowledged for {waited}",
                    incident.title
                ),
                severity: rule
                    .map(|r| r.severity.as_str())
                    .unwrap_or("critical")
                    .into(),
                alerts: Vec::new(),
                incident: Some(notify::IncidentRef {
                    id: incident.id.clone(),
                    url: self.link(&format!("/incidents/{}", incident.id)),
                    sev: incident.severity as u8,
                }),
                panel_url: incident
                    .rule_id
                    .as_ref()
                    .map(|id| self.link(&format!("/alerts/{id}"))),
                sent_at_ms: now,
                extra_text: Some(format!(
                    "Escalation step {} of {}.",
                    level + 1,
                    policy.as_ref().map_or(0, |p| p.steps.len())
                )),
            };
            let body = serde_json::to_value(&message).expect("messages serialise");
            for channel in &step.channels {
                if let Some((name, _)) = self.channel_config(channel).await? {
                    names.push(name);
                    changes.deliveries.push(NewDelivery {
                        channel_id: channel.clone(),
                        idempotency_key: format!("{}.{channel}", message.idempotency_key),
                        incident_id: Some(incident.id.clone()),
                        message: body.clone(),
                    });
                }
            }
            incident.escalation_level += 1;
            incident.escalate_at = policy
                .as_ref()
                .and_then(|p| p.steps.get(level + 1))
                .and_then(|s| s.after.to_ms().ok())
                .map(|after| now + after);
            incident.updated_at = now;
            book.note(
                &incident.id,
                now,
                "escalated",
                format!(
                    "Not acknowledged for {waited}: escalated to step {} ({})",
                    level + 1,
                    names.join(", ")
                ),
                None,
            );
            book.save(incident);
        }
        Ok(())
    }

    // --- what people do ---

    pub async fn incidents(
        &self,
        open_only: bool,
        limit: u32,
    ) -> AlertingResult<Vec<IncidentView>> {
        Ok(self
            .store
            .incidents(open_only, limit.min(1_000))
            .await?
            .into_iter()
            .map(|row| view(row, Vec::new()))
            .collect())
    }

    /// One incident with its timeline.
    pub async fn incident(&self, id: &str) -> AlertingResult<IncidentView> {
        let row = self
            .store
            .incident(id)
            .await?
            .ok_or_else(|| AlertingError::NotFound(format!("incident {id}")))?;
        let timeline = self.store.incident_events(id).await?;
        Ok(view(row, timeline))
    }

    /// Applies one person's change to an incident, serialised with evaluations.
    async fn change_incident(
        &self,
        id: &str,
        change: impl FnOnce(&mut IncidentRow, &mut IncidentBook, i64) -> AlertingResult<bool>,
    ) -> AlertingResult<IncidentView> {
        let _engine = self.engine.lock().await;
        let mut incident = self
            .store
            .incident(id)
            .await?
            .ok_or_else(|| AlertingError::NotFound(format!("incident {id}")))?;
        let now = now_ms();
        let mut book = IncidentBook::default();
        if change(&mut incident, &mut book, now)? {
            incident.updated_at = now;
            book.save(incident);
            let mut changes = AlertChanges::default();
            book.into_changes(&mut changes);
            self.store.apply(&changes).await?;
        }
        drop(_engine);
        self.incident(id).await
    }

    /// Acknowledges: escalation stops. Acknowledging twice changes nothing.
    pub async fn acknowledge(&self, id: &str, actor: &str) -> AlertingResult<IncidentView> {
        self.change_incident(id, |incident, book, now| match incident.status.as_str() {
            TRIGGERED => {
                incident.status = ACKNOWLEDGED.into();
                incident.acknowledged_at = Some(now);
                incident.escalate_at = None;
                book.note(
                    &incident.id,
                    now,
                    "acknowledged",
                    format!("Acknowledged by {actor}"),
                    Some(actor),
                );
                Ok(true)
            }
            ACKNOWLEDGED => Ok(false),
            _ => Err(AlertingError::Conflict(format!(
                "incident {} is resolved",
                incident.id
            ))),
        })
        .await
    }

    /// Resolves. Resolving twice changes nothing.
    pub async fn resolve(&self, id: &str, actor: &str) -> AlertingResult<IncidentView> {
        self.change_incident(id, |incident, book, now| {
            if incident.status == RESOLVED {
                return Ok(false);
            }
            incident.status = RESOLVED.into();
            incident.resolved_at = Some(now);
            incident.escalate_at = None;
            book.note(
                &incident.id,
                now,
                "resolved",
                format!("Resolved by {actor}"),
                Some(actor),
            );
            Ok(true)
        })
        .await
    }

    /// Adds a note to the timeline.
    pub async fn add_note(
        &self,
        id: &str,
        actor: &str,
        text: &str,
    ) -> AlertingResult<IncidentView> {
        check_note("text", text)?;
        self.change_incident(id, |incident, book, now| {
            book.note(
                &incident.id,
                now,
                "note",
                text.trim().to_string(),
                Some(actor),
            );
            Ok(true)
        })
        .await
    }

    /// Changes severity, assignee or postmortem.
    pub async fn update_incident(
        &self,
        id: &str,
        actor: &str,
        json: &[u8],
    ) -> AlertingResult<IncidentView> {
        let patch: IncidentPatch = alerts::from_json(json)?;
        let severity = match patch.severity.as_deref() {
            None => None,
            Some(text) => Some(parse_sev(text).ok_or_else(|| {
                AlertingError::invalid("severity", format!("expected SEV1 to SEV5, got {text:?}"))
            })?),
        };
        if let Some(assignee) = &patch.assignee {
            if assignee.chars().count() > 200 {
                return Err(AlertingError::invalid(
                    "assignee",
                    "longer than 200 characters",
                ));
            }
        }
        if let Some(text) = &patch.postmortem {
            check_note("postmortem", text)?;
        }
        self.change_incident(id, |incident, book, now| {
            if let Some(sev) = severity.filter(|s| *s != incident.severity) {
                book.note(
                    &incident.id,
                    now,
                    "severity",
                    format!("Severity SEV{} → SEV{sev}", incident.severity),
                    Some(actor),
                );
                incident.severity = sev;
            }
            if let Some(assignee) = patch.assignee.as_deref() {
                let assignee = Some(assignee.trim().to_string()).filter(|a| !a.is_empty());
                if assignee != incident.assignee {
                    let text = match &assignee {
                        Some(user) => format!("Assigned to {user}"),
                        None => "Unassigned".into(),
                    };
                    book.note(&incident.id, now, "assigned", text, Some(actor));
                    incident.assignee = assignee;
                }
            }
            if let Some(text) = &patch.postmortem {
                incident.postmortem = Some(text.trim().to_string());
                book.note(
                    &incident.id,
                    now,
                    "postmortem",
                    "Postmortem updated".into(),
                    Some(actor),
                );
            }
            Ok(true)
        })
        .await
    }
}

fn parse_sev(text: &str) -> Option<i64> {
    let n: i64 = text
        .trim()
        .to_ascii_uppercase()
        .strip_prefix("SEV")?
        .parse()
        .ok()?;
    (1..=5).contains(&n).then_some(n)
}

fn check_note(field: &str, text: &str) -> AlertingResult<()> {
    if text.trim().is_empty() {
        return Err(AlertingError::invalid(field, "must not be empty"));
    }
    if text.chars().count() > MAX_NOTE_CHARS {
        return Err(AlertingError::invalid(
            field,
            format!("longer than {MAX_NOTE_CHARS} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incident_keys_group_by_rule_and_service() {
        let labels = |pairs: &[(&str, &str)]| -> Labels {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let a = labels(&[("alertname", "x"), ("service", "api"), ("route", "/a")]);
        let b = labels(&[("alertname", "x"), ("service", "api"), ("route", "/b")]);
        let c = labels(&[("alertname", "x"), ("service", "web"), ("route", "/a")]);
        assert_eq!(
            incident_key("r1", &a),
            incident_key("r1", &b),
            "routes share an incident"
        );
        assert_ne!(incident_key("r1", &a), incident_key("r1", &c));
        assert_ne!(incident_key("r1", &a), incident_key("r2", &a));
        assert_eq!(incident_key("r1", &a).len(), 32);
    }

    #[test]
    fn severities_parse_sev1_to_sev5() {
        assert_eq!(parse_sev("SEV1"), Some(1));
        assert_eq!(parse_sev("sev5"), Some(5));
        assert_eq!(parse_sev("SEV0"), None);
        assert_eq!(parse_sev("SEV6"), None);
        assert_eq!(parse_sev("high"), None);
    }
}
