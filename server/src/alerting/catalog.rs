//! What people configure: channels, rules, silences, escalation policies and on-call rotations,
//! validated on the way in and kept as documents in the store.

use super::{new_id, now_ms, Alerting, AlertingError, AlertingResult};
use crate::store::alerting::kinds;
use crate::store::Document;
use alerts::{AlertRule, DurationSpec, RuleSpec, Silence, TimeSpec};
use app::model::ChannelView;
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Most documents of one kind; beyond it creation answers 409.
const MAX_DOCUMENTS: usize = 10_000;

/// A rule as listed: its id and the spec as written (normalised).
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    pub id: String,
    #[serde(flatten)]
    pub spec: serde_json::Value,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelSpec {
    name: String,
    kind: String,
    #[serde(default)]
    config: serde_json::Value,
}

/// `{"name": "primary", "steps": [{"after": "10m", "channels": ["ch_…"]}], "rotation": "rot_…"}`:
/// while an incident is not acknowledged, each step notifies its channels `after` the previous
/// one (the first: after the incident opened). New incidents are assigned to whoever the
/// rotation has on call.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicy {
    pub name: String,
    pub steps: Vec<EscalationStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EscalationStep {
    pub after: DurationSpec,
    pub channels: Vec<String>,
}

/// `{"name": "primary", "users": ["ana", "bo"], "start": "2026-11-23T09:00:00Z", "period": "1w"}`:
/// users take turns in order, one `period` each (default a week), from `start`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    pub name: String,
    pub users: Vec<String>,
    pub start: TimeSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<DurationSpec>,
}

impl Rotation {
    /// Who is on call at `now`.
    pub fn on_call(&self, now: i64) -> Option<&str> {
        let start = self.start.to_ms().ok()?;
        let period = self
            .period
            .as_ref()
            .and_then(|p| p.to_ms().ok())
            .unwrap_or(WEEK_MS)
            .max(1);
        let turns = (now - start).div_euclid(period);
        let n = self.users.len() as i64;
        (n > 0).then(|| self.users[turns.rem_euclid(n) as usize].as_str())
    }
}

const WEEK_MS: i64 = 7 * 86_400_000;
const MAX_TEXT: usize = 200;

fn check_text(field: &str, text: &str) -> AlertingResult<()> {
    if text.trim().is_empty() {
        return Err(AlertingError::invalid(field, "must not be empty"));
    }
    if text.chars().count() > MAX_TEXT {
        return Err(AlertingError::invalid(
            field,
            format!("longer than {MAX_TEXT} characters"),
        ));
    }
    Ok(())
}

impl Alerting {
    async fn room_for(&self, kind: &'static str) -> AlertingResult<()> {
        if self.store.document_stats(kind).await?.count >= MAX_DOCUMENTS as i64 {
            return Err(AlertingError::Conflict(format!(
                "the limit of {MAX_DOCUMENTS} {kind}s is reached"
            )));
        }
        Ok(())
    }

    async fn put(
        &self,
        kind: &'static str,
        id: String,
        name: &str,
        body: serde_json::Value,
    ) -> AlertingResult<String> {
        let now = now_ms();
        let created_at = match self.store.document(kind, &id).await? {
            Some(old) => old.created_at,
            None => now,
        };
        self.store
            .put_document(&Document {
                kind,
                id: id.clone(),
                name: name.to_string(),
                body,
                created_at,
                updated_at: now,
            })
            .await?;
        self.rules_changed.fetch_add(1, Ordering::AcqRel);
        Ok(id)
    }

    async fn require(&self, kind: &'static str, field: String, id: &str) -> AlertingResult<()> {
        if self.store.document(kind, id).await?.is_none() {
            return Err(AlertingError::invalid(
                field,
                format!("no {} with id {id:?}", kind.replace('_', " ")),
            ));
        }
        Ok(())
    }

    // --- channels ---

    /// Validates and stores a channel (`POST /api/v1/channels`); returns its id.
    pub async fn create_channel(&self, json: &[u8]) -> AlertingResult<String> {
        let spec: ChannelSpec = alerts::from_json(json)?;
        check_text("name", &spec.name)?;
        let config = notify::parse_channel(&spec.kind, &spec.config).map_err(|e| {
            AlertingError::Invalid {
                field: e.field.clone(),
                message: e.message.clone(),
            }
        })?;
        self.room_for(kinds::CHANNEL).await?;
        let body = serde_json::json!({"kind": config.kind(), "config": config.to_json()});
        self.put(kinds::CHANNEL, new_id("ch"), &spec.name, body)
            .await
    }

    pub async fn channels(&self) -> AlertingResult<Vec<ChannelView>> {
        let docs = self.store.documents(kinds::CHANNEL).await?;
        Ok(docs.iter().filter_map(channel_view).collect())
    }

    /// The delivery configuration of a channel.
    pub(crate) async fn channel_config(
        &self,
        id: &str,
    ) -> AlertingResult<Option<(String, notify::ChannelConfig)>> {
        let Some(doc) = self.store.document(kinds::CHANNEL, id).await? else {
            return Ok(None);
        };
        let kind = doc.body["kind"].as_str().unwrap_or_default();
        let config = notify::parse_channel(kind, &doc.body["config"])
            .map_err(|e| corrupt(format!("channel {id}: {}", e.message)))?;
        Ok(Some((doc.name, config)))
    }

    /// Deletes a channel no rule or escalation policy uses.
    pub async fn delete_channel(&self, id: &str) -> AlertingResult<()> {
        for (rule_id, rule) in self.rules_parsed().await?.iter() {
            if rule.channels.iter().any(|c| c == id) {
                return Err(AlertingError::Conflict(format!(
                    "channel {id} is used by rule {rule_id}; change the rule first"
                )));
            }
        }
        for doc in self.store.documents(kinds::ESCALATION).await? {
            if let Ok(policy) = serde_json::from_value::<EscalationPolicy>(doc.body) {
                if policy
                    .steps
                    .iter()
                    .any(|s| s.channels.iter().any(|c| c == id))
                {
                    return Err(AlertingError::Conflict(format!(
                        "channel {id} is used by escalation policy {}",
                        doc.id
                    )));
                }
            }
        }
        self.delete(kinds::CHANNEL, id).await
    }

    async fn delete(&self, kind: &'static str, id: &str) -> AlertingResult<()> {
        if self.store.delete_document(kind, id).await? {
            self.rules_changed.fetch_add(1, Ordering::AcqRel);
            Ok(())
        } else {
            Err(AlertingError::NotFound(format!(
                "{} {id}",
                kind.replace('_', " ")
            )))
        }
    }

    // --- rules ---

    /// Validates a rule, including that its channels and escalation policy exist.
    async fn validate_rule(&self, json: &[u8]) -> AlertingResult<AlertRule> {
        let rule = alerts::parse_rule(json)?;
        for (i, channel) in rule.channels.iter().enumerate() {
            self.require(kinds::CHANNEL, format!("channels[{i}]"), channel)
                .await?;
        }
        if let Some(policy) = &rule.escalation {
            self.require(kinds::ESCALATION, "escalation".into(), policy)
                .await?;
        }
        Ok(rule)
    }

    /// `POST /api/v1/alert-rules`; returns the new rule's id.
    pub async fn create_rule(&self, json: &[u8]) -> AlertingResult<String> {
        let rule = self.validate_rule(json).await?;
        self.room_for(kinds::RULE).await?;
        let name = rule.name.clone();
        let body = serde_json::to_value(RuleSpec::from(rule)).expect("rules serialise");
        self.put(kinds::RULE, new_id("ru"), &name, body).await
    }

    /// `PUT /api/v1/alert-rules/{id}`: replaces the rule; its alert states carry on.
    pub async fn update_rule(&self, id: &str, json: &[u8]) -> AlertingResult<()> {
        if self.store.document(kinds::RULE, id).await?.is_none() {
            return Err(AlertingError::NotFound(format!("alert rule {id}")));
        }
        let rule = self.validate_rule(json).await?;
        let name = rule.name.clone();
        let body = serde_json::to_value(RuleSpec::from(rule)).expect("rules serialise");
        self.put(kinds::RULE, id.to_string(), &name, body).await?;
        Ok(())
    }

    pub async fn delete_rule(&self, id: &str) -> AlertingResult<()> {
        self.delete(kinds::RULE, id).await
    }

    pub async fn rules(&self) -> AlertingResult<Vec<RuleView>> {
        let docs = self.store.documents(kinds::RULE).await?;
        Ok(docs.into_iter().map(rule_view).collect())
    }

    pub async fn rule(&self, id: &str) -> AlertingResult<RuleView> {
        match self.store.document(kinds::RULE, id).await? {
            Some(doc) => Ok(rule_view(doc)),
            None => Err(AlertingError::NotFound(format!("alert rule {id}"))),
        }
    }

    /// Every stored rule that still parses, with its id. A rule that no longer parses (stored
    /// by another version) is skipped and logged rather than stopping all alerting.
    ///
    /// Parsed rules are kept between evaluations (parsing 10 000 of them took about 100 ms) and
    /// reloaded when the stored rules change: through this process, or through another one
    /// sharing the database, which changes their count or newest update time.
    pub(crate) async fn rules_parsed(&self) -> AlertingResult<super::Rules> {
        let stamp = (
            self.rules_changed.load(Ordering::Acquire),
            self.store.document_stats(kinds::RULE).await?,
        );
        if let Some((cached, rules)) = &*self.rule_cache.lock().expect("rule cache") {
            if *cached == stamp {
                return Ok(Arc::clone(rules));
            }
        }
        let docs = self.store.documents(kinds::RULE).await?;
        let rules: super::Rules = Arc::new(
            docs.into_iter()
                .filter_map(|doc| match serde_json::from_value::<AlertRule>(doc.body) {
                    Ok(rule) => Some((doc.id, rule)),
                    Err(e) => {
                        tracing::warn!(rule = %doc.id, error = %e, "stored alert rule skipped");
                        None
                    }
                })
                .collect(),
        );
        *self.rule_cache.lock().expect("rule cache") = Some((stamp, Arc::clone(&rules)));
        Ok(rules)
    }

    // --- silences ---

    /// `POST /api/v1/silences`; returns the new silence's id.
    pub async fn create_silence(&self, json: &[u8]) -> AlertingResult<String> {
        let silence = alerts::parse_silence(json, now_ms())?;
        self.room_for(kinds::SILENCE).await?;
        let name = silence.comment.clone();
        let body = serde_json::to_value(&silence).expect("silences serialise");
        self.put(kinds::SILENCE, new_id("si"), &name, body).await
    }

    /// Silences with their ids, newest first; `active_only` leaves out expired ones.
    pub async fn silences(&self, active_only: bool) -> AlertingResult<Vec<(String, Silence)>> {
        let now = now_ms();
        let mut out: Vec<(String, Silence)> = self
            .store
            .documents(kinds::SILENCE)
            .await?
            .into_iter()
            .filter_map(|doc| {
                serde_json::from_value::<Silence>(doc.body)
                    .ok()
                    .map(|s| (doc.id, s))
            })
            .filter(|(_, s)| !active_only || s.ends_at_ms > now)
            .collect();
        out.reverse();
        Ok(out)
    }

    /// Ends a silence now (it stays listed as expired).
    pub async fn expire_silence(&self, id: &str) -> AlertingResult<()> {
        let Some(doc) = self.store.document(kinds::SILENCE, id).await? else {
            return Err(AlertingError::NotFound(format!("silence {id}")));
        };
        let mut silence: Silence =
            serde_json::from_value(doc.body).map_err(|e| corrupt(format!("silence {id}: {e}")))?;
        let now = now_ms();
        silence.ends_at_ms = now.max(silence.starts_at_ms + 1).min(silence.ends_at_ms);
        let body = serde_json::to_value(&silence).expect("silences serialise");
        self.put(kinds::SILENCE, id.to_string(), &doc.name, body)
            .await?;
        Ok(())
    }

    // --- escalation policies and rotations ---

    pub async fn create_escalation_policy(&self, json: &[u8]) -> AlertingResult<String> {
        let policy: EscalationPolicy = alerts::from_json(json)?;
        check_text("name", &policy.name)?;
        if policy.steps.is_empty() || policy.steps.len() > 10 {
            return Err(AlertingError::invalid("steps", "give 1 to 10 steps"));
        }
        for (i, step) in policy.steps.iter().enumerate() {
            let after = step
                .after
                .to_ms()
                .map_err(|e| AlertingError::invalid(format!("steps[{i}].after"), e))?;
            if !(60_000..=7 * 86_400_000).contains(&after) {
                return Err(AlertingError::invalid(
                    format!("steps[{i}].after"),
                    "must be between 1m and 7d",
                ));
            }
            if step.channels.is_empty() || step.channels.len() > 20 {
                return Err(AlertingError::invalid(
                    format!("steps[{i}].channels"),
                    "give 1 to 20 channels",
                ));
            }
            for (j, channel) in step.channels.iter().enumerate() {
                self.require(kinds::CHANNEL, format!("steps[{i}].channels[{j}]"), channel)
                    .await?;
            }
        }
        if let Some(rotation) = &policy.rotation {
            self.require(kinds::ROTATION, "rotation".into(), rotation)
                .await?;
        }
        self.room_for(kinds::ESCALATION).await?;
        let body = serde_json::to_value(&policy).expect("policies serialise");
        self.put(kinds::ESCALATION, new_id("esc"), &policy.name, body)
            .await
    }

    pub async fn escalation_policy(&self, id: &str) -> AlertingResult<Option<EscalationPolicy>> {
        Ok(self
            .store
            .document(kinds::ESCALATION, id)
            .await?
            .and_then(|doc| serde_json::from_value(doc.body).ok()))
    }

    pub async fn escalation_policies(&self) -> AlertingResult<Vec<(String, EscalationPolicy)>> {
        Ok(self
            .store
            .documents(kinds::ESCALATION)
            .await?
            .into_iter()
            .filter_map(|doc| serde_json::from_value(doc.body).ok().map(|p| (doc.id, p)))
            .collect())
    }

    pub async fn create_rotation(&self, json: &[u8]) -> AlertingResult<String> {
        let rotation: Rotation = alerts::from_json(json)?;
        check_text("name", &rotation.name)?;
        if rotation.users.is_empty() || rotation.users.len() > 100 {
            return Err(AlertingError::invalid("users", "give 1 to 100 users"));
        }
        for (i, user) in rotation.users.iter().enumerate() {
            check_text(&format!("users[{i}]"), user)?;
        }
        rotation
            .start
            .to_ms()
            .map_err(|e| AlertingError::invalid("start", e))?;
        if let Some(period) = &rotation.period {
            let ms = period
                .to_ms()
                .map_err(|e| AlertingError::invalid("period", e))?;
            if ms < 3_600_000 {
                return Err(AlertingError::invalid("period", "must be at least 1h"));
            }
        }
        self.room_for(kinds::ROTATION).await?;
        let body = serde_json::to_value(&rotation).expect("rotations serialise");
        self.put(kinds::ROTATION, new_id("rot"), &rotation.name, body)
            .await
    }

    pub async fn rotations(&self) -> AlertingResult<Vec<(String, Rotation)>> {
        Ok(self
            .store
            .documents(kinds::ROTATION)
            .await?
            .into_iter()
            .filter_map(|doc| serde_json::from_value(doc.body).ok().map(|r| (doc.id, r)))
            .collect())
    }

    pub(crate) async fn rotation(&self, id: &str) -> AlertingResult<Option<Rotation>> {
        Ok(self
            .store
            .document(kinds::ROTATION, id)
            .await?
            .and_then(|doc| serde_json::from_value(doc.body).ok()))
    }
}

fn channel_view(doc: &Document) -> Option<ChannelView> {
    let kind = doc.body["kind"].as_str()?;
    let config = notify::parse_channel(kind, &doc.body["config"]).ok()?;
    Some(ChannelView {
        id: doc.id.clone(),
        name: doc.name.clone(),
        kind: kind.to_string(),
        config: config.redacted(),
        created_at: doc.created_at,
    })
}

fn rule_view(doc: Document) -> RuleView {
    RuleView {
        id: doc.id,
        spec: doc.body,
        created_at: doc.created_at,
        updated_at: doc.updated_at,
    }
}

/// Stored data that no longer parses.
fn corrupt(message: String) -> AlertingError {
    AlertingError::Store(crate::store::StoreError::Corrupt(message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotations_take_turns_by_period() {
        let r = Rotation {
            name: "primary".into(),
            users: vec!["ana".into(), "bo".into(), "cy".into()],
            start: TimeSpec::Millis(0),
            period: Some(DurationSpec::Text("1d".into())),
        };
        let day = 86_400_000;
        assert_eq!(r.on_call(0), Some("ana"));
        assert_eq!(r.on_call(day - 1), Some("ana"));
        assert_eq!(r.on_call(day), Some("bo"));
        assert_eq!(r.on_call(2 * day + 5), Some("cy"));
        assert_eq!(r.on_call(3 * day), Some("ana"));
        assert_eq!(
            r.on_call(-1),
            Some("cy"),
            "before the start the order runs backwards"
        );
        let weekly = Rotation { period: None, ..r };
        assert_eq!(weekly.on_call(6 * day), Some("ana"));
        assert_eq!(weekly.on_call(7 * day), Some("bo"));
    }
}
