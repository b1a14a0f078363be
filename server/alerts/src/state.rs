//! The state machine of one alert instance (one rule × one label set).
//!
//! The server evaluates the rule's query each tick and calls [`AlertInstance::step`] with the
//! result; the machine answers with at most one [`Transition`]. It reads no clock: time is the
//! observation's `now_ms`, so a replay of the same observations gives the same transitions.
//!
//! With data, a threshold-like condition has two bounds: it *fires* on `value op threshold`
//! and, once firing, *holds* while `value op recover` (hysteresis; `recover` defaults to the
//! threshold, where the two coincide).
//!
//! | state      | fires / holds                          | neither                                  | no data                      |
//! |------------|----------------------------------------|------------------------------------------|------------------------------|
//! | normal     | → pending (→ firing if `for` = 0)      | stay                                     | → nodata after `nodata_for`  |
//! | pending    | → firing once true for `for`, else stay| → normal                                 | stay, then → nodata          |
//! | firing     | stay while it holds                    | → recovering (→ normal if `keep_firing_for` = 0) | stay, then → nodata |
//! | recovering | → firing while it holds again          | → normal once recovered for `keep_firing_for`, else stay | stay, then → nodata |
//! | nodata     | as from normal                         | → normal                                 | stay                         |
//!
//! Decisions:
//! - Time runs from entering a state: `for` from entering pending, `keep_firing_for` from
//!   entering recovering, `nodata_for` from the first evaluation without data. Edges are
//!   inclusive (exactly `for` after pending began fires).
//! - An evaluation without data is no evidence either way: a pending instance stays pending
//!   (and may fire on the next value if `for` has passed) and a recovering one keeps waiting,
//!   until `nodata_for` (default: `for`) without data moves the instance to nodata. So a single
//!   empty window does not page anyone when `for` is set.
//! - Nodata is its own status (see [`Status`]), notified as such, also from firing: a firing
//!   alert whose data disappears says "no data" rather than pretending to still know. When data
//!   returns the instance is judged afresh, as from normal.
//! - Recovering → firing is a state change but not a status change: the alert never stopped
//!   firing as far as anyone was told, so no notification follows and the episode (its
//!   `episode_ms`, part of dedup keys) continues.
//! - `absent` rules fire on missing data, so they never enter nodata; `for` and
//!   `keep_firing_for` apply on top of the `absent` duration. The gap is measured from the last
//!   evaluation with data (or the instance's first evaluation).
//! - `anomaly` rules compare the observation's score; data without a score (the detector is
//!   still learning) counts as score 0.
//! - `rate_of_change` rules compare the change of the value between two evaluations with data,
//!   scaled to `per`; the first point (and two points at the same instant) cannot be judged and
//!   change nothing.
//! - Non-finite values count as no data. Observations older than the last one are ignored.

use serde::{Deserialize, Serialize};

use crate::rule::{Condition, Trigger};
use crate::time::format_duration;

/// The state of one alert instance, as `GET /api/v1/alerts` lists it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    #[default]
    Normal,
    Pending,
    Firing,
    Recovering,
    NoData,
}

impl AlertState {
    /// What users have been told about an instance in this state.
    pub fn status(self) -> Status {
        match self {
            Self::Normal | Self::Pending => Status::Ok,
            Self::Firing | Self::Recovering => Status::Firing,
            Self::NoData => Status::NoData,
        }
    }

    /// The JSON spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Pending => "pending",
            Self::Firing => "firing",
            Self::Recovering => "recovering",
            Self::NoData => "nodata",
        }
    }
}

/// The outward status of an instance: a notification goes out only when it changes.
/// Pending and recovering are debouncing states, not news.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Firing,
    NoData,
}

/// One evaluation of a rule's query for one instance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// When the evaluation ran (unix ms).
    pub now_ms: i64,
    /// The aggregated value over the evaluation window; `None` when the window had no data.
    pub value: Option<f64>,
    /// The detector's anomaly score in [0, 1] of the latest point, for anomaly rules.
    pub anomaly_score: Option<f64>,
}

impl Observation {
    /// An evaluation that found `value`.
    pub fn value(now_ms: i64, value: f64) -> Self {
        Self {
            now_ms,
            value: Some(value),
            anomaly_score: None,
        }
    }

    /// An evaluation whose window had no data.
    pub fn empty(now_ms: i64) -> Self {
        Self {
            now_ms,
            value: None,
            anomaly_score: None,
        }
    }

    /// An evaluation that found `value` with an anomaly score.
    pub fn scored(now_ms: i64, value: f64, score: f64) -> Self {
        Self {
            now_ms,
            value: Some(value),
            anomaly_score: Some(score),
        }
    }
}

/// A change of state, for the server to record (and the [`crate::Dispatcher`] to notify).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: AlertState,
    pub to: AlertState,
    pub at_ms: i64,
    /// The observed value (finite), if the evaluation had one.
    pub value: Option<f64>,
    /// Why, in words: `value 512 > 500 for 30s`.
    pub reason: String,
    /// When the firing or nodata episode this transition starts, continues or ends began; it
    /// tells two episodes of one instance apart in dedup keys. Equals `at_ms` for changes
    /// between normal and pending.
    pub episode_ms: i64,
}

impl Transition {
    /// Whether users should hear about it: the outward [`Status`] changed.
    pub fn status_changed(&self) -> bool {
        self.from.status() != self.to.status()
    }
}

/// The judgement of one observation against the condition.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// The window had no data (rules other than `absent`).
    Empty,
    /// Data, but not enough to judge (a rate needs two points).
    Unknown,
    /// `fire`: the condition to start firing holds; `hold`: the condition to keep firing
    /// holds; `measure`: the number compared (value, rate, score, or ms without data).
    Judged {
        fire: bool,
        hold: bool,
        measure: f64,
    },
}

/// The state of one alert instance and the little history its condition needs. Serializable
/// so the server can persist it and resume after a restart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertInstance {
    state: AlertState,
    /// When the current state was entered (the first evaluation, for the initial normal).
    since_ms: Option<i64>,
    /// When the current (or last) firing or nodata episode began.
    episode_ms: Option<i64>,
    first_eval_ms: Option<i64>,
    last_eval_ms: Option<i64>,
    last_data_ms: Option<i64>,
    /// The first of the current run of evaluations without data.
    empty_since_ms: Option<i64>,
    /// The last evaluation with data and its value, for rates.
    last_point: Option<(i64, f64)>,
}

impl AlertInstance {
    /// A new instance, normal, not yet evaluated.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current state.
    pub fn state(&self) -> AlertState {
        self.state
    }

    /// When the current state was entered; `None` before the first evaluation.
    pub fn since_ms(&self) -> Option<i64> {
        self.since_ms
    }

    /// When the current or last firing or nodata episode began.
    pub fn episode_ms(&self) -> Option<i64> {
        self.episode_ms
    }

    /// Feeds one evaluation; returns the transition it caused, if any.
    pub fn step(&mut self, trigger: &Trigger, obs: &Observation) -> Option<Transition> {
        let now = obs.now_ms;
        if self.last_eval_ms.is_some_and(|last| now < last) {
            return None;
        }
        self.first_eval_ms.get_or_insert(now);
        let since = *self.since_ms.get_or_insert(now);
        let value = obs.value.filter(|v| v.is_finite());
        let verdict = self.judge(&trigger.condition, now, value, obs.anomaly_score);

        self.last_eval_ms = Some(now);
        match value {
            Some(v) => {
                self.last_data_ms = Some(now);
                self.empty_since_ms = None;
                self.last_point = Some((now, v));
            }
            None => {
                self.empty_since_ms.get_or_insert(now);
            }
        }

        let (to, reason) = self.decide(trigger, now, since, verdict)?;
        Some(self.enter(to, now, value, reason))
    }

    fn judge(
        &self,
        condition: &Condition,
        now: i64,
        value: Option<f64>,
        score: Option<f64>,
    ) -> Verdict {
        match *condition {
            Condition::Absent { after_ms } => {
                if value.is_some() {
                    return Verdict::Judged {
                        fire: false,
                        hold: false,
                        measure: 0.0,
                    };
                }
                let gap = now - self.last_data_ms.or(self.first_eval_ms).unwrap_or(now);
                let absent = gap >= after_ms;
                Verdict::Judged {
                    fire: absent,
                    hold: absent,
                    measure: gap as f64,
                }
            }
            _ if value.is_none() => Verdict::Empty,
            Condition::Threshold {
                op,
                threshold,
                recover,
            } => {
                let v = value.unwrap_or_default();
                Verdict::Judged {
                    fire: op.holds(v, threshold),
                    hold: op.holds(v, recover.unwrap_or(threshold)),
                    measure: v,
                }
            }
            Condition::Anomaly { min_score, recover } => {
                let s = score.filter(|s| s.is_finite()).unwrap_or(0.0);
                Verdict::Judged {
                    fire: s >= min_score,
                    hold: s >= recover.unwrap_or(min_score),
                    measure: s,
                }
            }
            Condition::RateOfChange {
                op,
                per_ms,
                threshold,
                recover,
            } => {
                let v = value.unwrap_or_default();
                let Some((t0, v0)) = self.last_point.filter(|(t0, _)| now > *t0) else {
                    return Verdict::Unknown;
                };
                let rate = (v - v0) * per_ms as f64 / (now - t0) as f64;
                if !rate.is_finite() {
                    return Verdict::Unknown;
                }
                Verdict::Judged {
                    fire: op.holds(rate, threshold),
                    hold: op.holds(rate, recover.unwrap_or(threshold)),
                    measure: rate,
                }
            }
        }
    }

    /// The next state and why, or `None` to stay.
    fn decide(
        &self,
        trigger: &Trigger,
        now: i64,
        since: i64,
        verdict: Verdict,
    ) -> Option<(AlertState, String)> {
        use AlertState::*;
        let held_for = now - since;
        let c = &trigger.condition;
        let (fire, hold, m) = match verdict {
            Verdict::Unknown => return None,
            Verdict::Empty => {
                let empty_for = now - self.empty_since_ms.unwrap_or(now);
                if self.state == NoData || empty_for < trigger.nodata_after_ms() {
                    return None;
                }
                return Some((
                    NoData,
                    format!("no data for {}", format_duration(empty_for)),
                ));
            }
            Verdict::Judged {
                fire,
                hold,
                measure,
            } => (fire, hold, measure),
        };
        match self.state {
            Normal | NoData if fire => {
                let to = if trigger.for_ms == 0 { Firing } else { Pending };
                let reason = phrase(c, m, false, true);
                Some((to, returned(self.state, reason)))
            }
            Normal => None,
            NoData => Some((Normal, returned(NoData, phrase(c, m, false, false)))),
            Pending if !fire => Some((Normal, phrase(c, m, false, false))),
            Pending if held_for >= trigger.for_ms => Some((
                Firing,
                format!(
                    "{} for {}",
                    phrase(c, m, false, true),
                    format_duration(held_for)
                ),
            )),
            Pending => None,
            Firing if hold => None,
            Firing if trigger.keep_firing_for_ms == 0 => Some((Normal, phrase(c, m, true, false))),
            Firing => Some((Recovering, phrase(c, m, true, false))),
            Recovering if hold => Some((Firing, format!("{} again", phrase(c, m, true, true)))),
            Recovering if held_for >= trigger.keep_firing_for_ms => Some((
                Normal,
                format!("recovered for {}", format_duration(held_for)),
            )),
            Recovering => None,
        }
    }

    fn enter(
        &mut self,
        to: AlertState,
        now: i64,
        value: Option<f64>,
        reason: String,
    ) -> Transition {
        let from = self.state;
        if to.status() != Status::Ok && to.status() != from.status() {
            self.episode_ms = Some(now);
        }
        let episode_ms = if from.status() == Status::Ok && to.status() == Status::Ok {
            now
        } else {
            self.episode_ms.unwrap_or(now)
        };
        self.state = to;
        self.since_ms = Some(now);
        Transition {
            from,
            to,
            at_ms: now,
            value,
            reason,
            episode_ms,
        }
    }
}

fn returned(from: AlertState, reason: String) -> String {
    if from == AlertState::NoData {
        format!("data returned: {reason}")
    } else {
        reason
    }
}

/// Describes the comparison made: against the firing bound, or (`holding`) the recover
/// bound; `met` says whether it held.
fn phrase(condition: &Condition, measure: f64, holding: bool, met: bool) -> String {
    let not = if met { "" } else { "not " };
    match *condition {
        Condition::Threshold {
            op,
            threshold,
            recover,
        } => {
            let bound = if holding {
                recover.unwrap_or(threshold)
            } else {
                threshold
            };
            format!("value {measure} {not}{} {bound}", op.as_str())
        }
        Condition::RateOfChange {
            op,
            per_ms,
            threshold,
            recover,
        } => {
            let bound = if holding {
                recover.unwrap_or(threshold)
            } else {
                threshold
            };
            let per = format_duration(per_ms);
            format!("rate {measure} per {per} {not}{} {bound}", op.as_str())
        }
        Condition::Anomaly { min_score, recover } => {
            let bound = if holding {
                recover.unwrap_or(min_score)
            } else {
                min_score
            };
            let op = if met { ">=" } else { "<" };
            format!("anomaly score {measure} {op} {bound}")
        }
        Condition::Absent { .. } if met => {
            format!("no data for {}", format_duration(measure as i64))
        }
        Condition::Absent { .. } => "data received".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Op;
    use AlertState::*;

    const S: i64 = 1_000;
    const T0: i64 = 1_800_000_000_000;

    /// `> 500`, recover at 400, `for` 30s, `keep_firing_for` 60s, `nodata_for` 20s.
    fn trigger() -> Trigger {
        Trigger {
            condition: Condition::Threshold {
                op: Op::Gt,
                threshold: 500.0,
                recover: Some(400.0),
            },
            for_ms: 30 * S,
            keep_firing_for_ms: 60 * S,
            nodata_for_ms: Some(20 * S),
        }
    }

    /// Inputs by class: above the threshold, between recover and threshold, below recover,
    /// no data, and a non-finite value (which counts as no data).
    #[derive(Debug, Clone, Copy)]
    enum In {
        High,
        Band,
        Low,
        Empty,
        Nan,
    }

    fn obs(input: In, now: i64) -> Observation {
        match input {
            In::High => Observation::value(now, 600.0),
            In::Band => Observation::value(now, 450.0),
            In::Low => Observation::value(now, 300.0),
            In::Empty => Observation::empty(now),
            In::Nan => Observation::value(now, f64::NAN),
        }
    }

    /// Runs observations, returning the transitions.
    fn run(m: &mut AlertInstance, t: &Trigger, steps: &[(In, i64)]) -> Vec<Transition> {
        steps
            .iter()
            .filter_map(|(input, at)| m.step(t, &obs(*input, *at)))
            .collect()
    }

    /// A machine under `trigger()` that entered `state` at T0 (its last evaluation).
    fn machine_in(state: AlertState) -> AlertInstance {
        let t = trigger();
        let mut m = AlertInstance::new();
        let steps: &[(In, i64)] = match state {
            Normal => &[(In::Low, T0)],
            Pending => &[(In::Low, T0 - 10 * S), (In::High, T0)],
            Firing => &[(In::High, T0 - 30 * S), (In::High, T0)],
            Recovering => &[
                (In::High, T0 - 40 * S),
                (In::High, T0 - 10 * S),
                (In::Low, T0),
            ],
            NoData => &[
                (In::Low, T0 - 30 * S),
                (In::Empty, T0 - 20 * S),
                (In::Empty, T0),
            ],
        };
        run(&mut m, &t, steps);
        assert_eq!(m.state(), state, "setup");
        assert_eq!(m.since_ms(), Some(T0), "setup");
        m
    }

    #[test]
    fn every_state_and_input() {
        // (from, input, seconds after entering `from`, expected state)
        let table = [
            (Normal, In::High, 1, Pending),
            (Normal, In::Band, 1, Normal),
            (Normal, In::Low, 1, Normal),
            (Normal, In::Empty, 1, Normal),
            (Normal, In::Nan, 1, Normal),
            (Pending, In::High, 1, Pending),
            (Pending, In::High, 29, Pending),
            (Pending, In::High, 30, Firing),
            (Pending, In::High, 31, Firing),
            (Pending, In::Band, 1, Normal),
            (Pending, In::Band, 30, Normal),
            (Pending, In::Low, 1, Normal),
            (Pending, In::Empty, 1, Pending),
            (Pending, In::Empty, 30, Pending),
            (Pending, In::Nan, 1, Pending),
            (Firing, In::High, 1, Firing),
            (Firing, In::Band, 1, Firing),
            (Firing, In::Low, 1, Recovering),
            (Firing, In::Empty, 1, Firing),
            (Firing, In::Nan, 1, Firing),
            (Recovering, In::High, 1, Firing),
            (Recovering, In::Band, 1, Firing),
            (Recovering, In::Low, 1, Recovering),
            (Recovering, In::Low, 59, Recovering),
            (Recovering, In::Low, 60, Normal),
            (Recovering, In::Low, 61, Normal),
            (Recovering, In::Empty, 1, Recovering),
            (Recovering, In::Empty, 60, Recovering),
            (Recovering, In::Nan, 1, Recovering),
            (NoData, In::High, 1, Pending),
            (NoData, In::Band, 1, Normal),
            (NoData, In::Low, 1, Normal),
            (NoData, In::Empty, 1, NoData),
            (NoData, In::Nan, 1, NoData),
        ];
        let t = trigger();
        for (from, input, secs, want) in table {
            let mut m = machine_in(from);
            let tr = m.step(&t, &obs(input, T0 + secs * S));
            assert_eq!(m.state(), want, "{from:?} + {input:?} after {secs}s");
            match tr {
                Some(tr) => {
                    assert_ne!(
                        from, want,
                        "{from:?} + {input:?}: transition without change"
                    );
                    assert_eq!((tr.from, tr.to, tr.at_ms), (from, want, T0 + secs * S));
                    assert_eq!(m.since_ms(), Some(T0 + secs * S));
                }
                None => {
                    assert_eq!(
                        from, want,
                        "{from:?} + {input:?}: change without transition"
                    );
                    assert_eq!(m.since_ms(), Some(T0), "since moved without a change");
                }
            }
        }
    }

    #[test]
    fn zero_delays_skip_pending_and_recovering() {
        let t = Trigger {
            for_ms: 0,
            keep_firing_for_ms: 0,
            nodata_for_ms: None,
            ..trigger()
        };
        let mut m = AlertInstance::new();
        let tr = run(
            &mut m,
            &t,
            &[(In::Low, T0), (In::High, T0 + S), (In::Low, T0 + 2 * S)],
        );
        let path: Vec<_> = tr.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(path, vec![(Normal, Firing), (Firing, Normal)]);

        // Also from nodata, and on the very first evaluation.
        let mut m = AlertInstance::new();
        let tr = run(
            &mut m,
            &t,
            &[(In::High, T0), (In::Empty, T0 + S), (In::High, T0 + 2 * S)],
        );
        let path: Vec<_> = tr.iter().map(|t| (t.from, t.to)).collect();
        assert_eq!(
            path,
            vec![(Normal, Firing), (Firing, NoData), (NoData, Firing)]
        );
    }

    #[test]
    fn pending_fires_exactly_at_for_and_not_before() {
        let t = trigger();
        let mut m = AlertInstance::new();
        assert!(m.step(&t, &Observation::value(T0, 501.0)).is_some());
        assert_eq!(m.state(), Pending);
        assert!(m
            .step(&t, &Observation::value(T0 + 30 * S - 1, 501.0))
            .is_none());
        let tr = m.step(&t, &Observation::value(T0 + 30 * S, 501.0)).unwrap();
        assert_eq!((tr.from, tr.to), (Pending, Firing));
        assert_eq!(tr.reason, "value 501 > 500 for 30s");
    }

    #[test]
    fn pending_restarts_after_a_false_evaluation() {
        let t = trigger();
        let mut m = AlertInstance::new();
        run(
            &mut m,
            &t,
            &[
                (In::High, T0),
                (In::High, T0 + 20 * S),
                (In::Band, T0 + 25 * S),
            ],
        );
        assert_eq!(m.state(), Normal);
        run(
            &mut m,
            &t,
            &[(In::High, T0 + 26 * S), (In::High, T0 + 40 * S)],
        );
        // 14 s of the new run, not 40 s since the first.
        assert_eq!(m.state(), Pending);
        run(&mut m, &t, &[(In::High, T0 + 56 * S)]);
        assert_eq!(m.state(), Firing);
    }

    #[test]
    fn recovering_resolves_exactly_at_keep_firing_for() {
        let t = trigger();
        let mut m = machine_in(Recovering);
        assert!(m
            .step(&t, &Observation::value(T0 + 60 * S - 1, 0.0))
            .is_none());
        let tr = m.step(&t, &Observation::value(T0 + 60 * S, 0.0)).unwrap();
        assert_eq!((tr.from, tr.to), (Recovering, Normal));
        assert_eq!(tr.reason, "recovered for 1m");
    }

    #[test]
    fn hysteresis_keeps_firing_inside_the_band() {
        let t = trigger();
        let mut m = machine_in(Firing);
        // Oscillating between 450 and 550 never leaves firing.
        for i in 1..=20 {
            let v = if i % 2 == 0 { 450.0 } else { 550.0 };
            assert!(m.step(&t, &Observation::value(T0 + i * S, v)).is_none());
        }
        // Exactly at recover (400) is still "> 400"? No: 400 is not > 400, so it recovers.
        let tr = m.step(&t, &Observation::value(T0 + 21 * S, 400.0)).unwrap();
        assert_eq!(tr.to, Recovering);
        assert_eq!(tr.reason, "value 400 not > 400");
        // Back inside the band while recovering: firing again, same episode.
        let tr = m.step(&t, &Observation::value(T0 + 22 * S, 401.0)).unwrap();
        assert_eq!(tr.to, Firing);
        assert_eq!(tr.reason, "value 401 > 400 again");
        assert!(!tr.status_changed());
    }

    #[test]
    fn without_recover_the_threshold_is_the_only_bound() {
        for (op, fire, clear) in [
            (Op::Gt, 11.0, 10.0),
            (Op::Ge, 10.0, 9.9),
            (Op::Lt, 9.0, 10.0),
            (Op::Le, 10.0, 10.1),
        ] {
            let t = Trigger::immediate(Condition::Threshold {
                op,
                threshold: 10.0,
                recover: None,
            });
            let mut m = AlertInstance::new();
            assert_eq!(
                m.step(&t, &Observation::value(T0, fire)).unwrap().to,
                Firing
            );
            assert!(m.step(&t, &Observation::value(T0 + S, fire)).is_none());
            assert_eq!(
                m.step(&t, &Observation::value(T0 + 2 * S, clear))
                    .unwrap()
                    .to,
                Normal,
                "{op:?}"
            );
        }
    }

    #[test]
    fn less_than_rules_use_recover_above_the_threshold() {
        let t = Trigger::immediate(Condition::Threshold {
            op: Op::Lt,
            threshold: 10.0,
            recover: Some(20.0),
        });
        let mut m = AlertInstance::new();
        assert_eq!(m.step(&t, &Observation::value(T0, 5.0)).unwrap().to, Firing);
        assert!(m.step(&t, &Observation::value(T0 + S, 15.0)).is_none());
        assert_eq!(
            m.step(&t, &Observation::value(T0 + 2 * S, 20.0))
                .unwrap()
                .to,
            Normal
        );
        // 15 is not below the threshold, so it does not fire from normal.
        assert!(m.step(&t, &Observation::value(T0 + 3 * S, 15.0)).is_none());
    }

    #[test]
    fn nodata_after_nodata_for_from_every_state() {
        let t = trigger();
        for from in [Normal, Pending, Firing, Recovering] {
            let mut m = machine_in(from);
            assert!(
                m.step(&t, &Observation::empty(T0 + S)).is_none(),
                "{from:?}"
            );
            assert!(m.step(&t, &Observation::empty(T0 + 21 * S - 1)).is_none());
            let tr = m.step(&t, &Observation::empty(T0 + 21 * S)).unwrap();
            assert_eq!((tr.from, tr.to), (from, NoData));
            assert_eq!(tr.reason, "no data for 20s");
            assert_eq!(tr.value, None);
            assert_eq!(tr.episode_ms, T0 + 21 * S);
        }
    }

    #[test]
    fn nodata_delay_defaults_to_for_and_resets_on_data() {
        let t = Trigger {
            nodata_for_ms: None,
            ..trigger()
        };
        let mut m = machine_in(Normal);
        run(&mut m, &t, &[(In::Empty, T0 + S), (In::Empty, T0 + 30 * S)]);
        assert_eq!(m.state(), Normal, "29 s without data is under for = 30 s");
        // A value in between restarts the count.
        run(
            &mut m,
            &t,
            &[
                (In::Low, T0 + 31 * S),
                (In::Empty, T0 + 32 * S),
                (In::Empty, T0 + 61 * S),
            ],
        );
        assert_eq!(m.state(), Normal);
        run(&mut m, &t, &[(In::Empty, T0 + 62 * S)]);
        assert_eq!(m.state(), NoData);

        // With for = 0 and no nodata_for, the first empty window is nodata.
        let t = Trigger::immediate(trigger().condition);
        let mut m = AlertInstance::new();
        let tr = run(&mut m, &t, &[(In::Empty, T0)]);
        assert_eq!(tr[0].to, NoData);
        assert_eq!(tr[0].reason, "no data for 0s");
    }

    #[test]
    fn data_returning_from_nodata_is_judged_afresh() {
        let t = trigger();
        let mut m = machine_in(NoData);
        let tr = m.step(&t, &Observation::value(T0 + S, 600.0)).unwrap();
        assert_eq!((tr.from, tr.to), (NoData, Pending));
        assert_eq!(tr.reason, "data returned: value 600 > 500");
        let mut m = machine_in(NoData);
        let tr = m.step(&t, &Observation::value(T0 + S, 450.0)).unwrap();
        assert_eq!((tr.from, tr.to), (NoData, Normal));
        assert_eq!(tr.reason, "data returned: value 450 not > 500");
        assert_eq!(tr.episode_ms, T0, "resolves the nodata episode");
    }

    #[test]
    fn absent_fires_after_the_gap_and_never_goes_nodata() {
        let t = Trigger::immediate(Condition::Absent { after_ms: 300 * S });
        let mut m = AlertInstance::new();
        let tr = run(
            &mut m,
            &t,
            &[
                (In::Low, T0),
                (In::Empty, T0 + 60 * S),
                (In::Empty, T0 + 300 * S - 1),
            ],
        );
        assert!(tr.is_empty());
        let tr = m.step(&t, &Observation::empty(T0 + 300 * S)).unwrap();
        assert_eq!((tr.from, tr.to), (Normal, Firing));
        assert_eq!(tr.reason, "no data for 5m");
        for i in 1..100 {
            assert!(m
                .step(&t, &Observation::empty(T0 + (300 + i * 60) * S))
                .is_none());
        }
        assert_eq!(m.state(), Firing);
        let tr = m
            .step(&t, &Observation::value(T0 + 7_000 * S, 1.0))
            .unwrap();
        assert_eq!((tr.from, tr.to), (Firing, Normal));
        assert_eq!(tr.reason, "data received");
        assert_eq!(tr.value, Some(1.0));
    }

    #[test]
    fn absent_counts_from_the_first_evaluation_when_no_data_was_ever_seen() {
        let t = Trigger::immediate(Condition::Absent { after_ms: 60 * S });
        let mut m = AlertInstance::new();
        assert!(m.step(&t, &Observation::empty(T0)).is_none());
        assert!(m.step(&t, &Observation::empty(T0 + 59 * S)).is_none());
        assert_eq!(
            m.step(&t, &Observation::empty(T0 + 60 * S)).unwrap().to,
            Firing
        );
    }

    #[test]
    fn absent_honours_for_and_keep_firing_for() {
        let t = Trigger {
            condition: Condition::Absent { after_ms: 60 * S },
            for_ms: 30 * S,
            keep_firing_for_ms: 60 * S,
            nodata_for_ms: Some(0),
        };
        let mut m = AlertInstance::new();
        let tr = run(
            &mut m,
            &t,
            &[
                (In::Low, T0),
                (In::Empty, T0 + 60 * S),
                (In::Empty, T0 + 89 * S),
                (In::Empty, T0 + 90 * S),
                (In::Low, T0 + 100 * S),
                (In::Empty, T0 + 120 * S),
                (In::Low, T0 + 160 * S),
            ],
        );
        let path: Vec<_> = tr.iter().map(|t| (t.at_ms - T0, t.to)).collect();
        assert_eq!(
            path,
            vec![
                (60 * S, Pending),
                (90 * S, Firing),
                (100 * S, Recovering),
                (160 * S, Normal)
            ]
        );
    }

    #[test]
    fn anomaly_fires_at_min_score_with_optional_recover() {
        let t = Trigger::immediate(Condition::Anomaly {
            min_score: 0.9,
            recover: Some(0.5),
        });
        let mut m = AlertInstance::new();
        assert!(m.step(&t, &Observation::scored(T0, 1.0, 0.89)).is_none());
        let tr = m.step(&t, &Observation::scored(T0 + S, 1.0, 0.9)).unwrap();
        assert_eq!(
            (tr.to, tr.reason.as_str()),
            (Firing, "anomaly score 0.9 >= 0.9")
        );
        assert!(m
            .step(&t, &Observation::scored(T0 + 2 * S, 1.0, 0.6))
            .is_none());
        let tr = m
            .step(&t, &Observation::scored(T0 + 3 * S, 1.0, 0.4))
            .unwrap();
        assert_eq!(
            (tr.to, tr.reason.as_str()),
            (Normal, "anomaly score 0.4 < 0.5")
        );
        // No score (the detector is learning) and a NaN score count as 0.
        let t = Trigger::immediate(Condition::Anomaly {
            min_score: 0.0,
            recover: None,
        });
        let mut m = AlertInstance::new();
        assert_eq!(m.step(&t, &Observation::value(T0, 1.0)).unwrap().to, Firing);
        let t = Trigger::immediate(Condition::Anomaly {
            min_score: 0.5,
            recover: None,
        });
        let mut m = AlertInstance::new();
        assert!(m.step(&t, &Observation::value(T0, 1.0)).is_none());
        assert!(m
            .step(&t, &Observation::scored(T0 + S, 1.0, f64::NAN))
            .is_none());
        // Without a value the window is empty, whatever the score.
        let tr = m
            .step(
                &t,
                &Observation {
                    now_ms: T0 + 2 * S,
                    value: None,
                    anomaly_score: Some(1.0),
                },
            )
            .unwrap();
        assert_eq!(tr.to, NoData);
    }

    #[test]
    fn rate_of_change_compares_the_change_per_period() {
        let t = Trigger::immediate(Condition::RateOfChange {
            op: Op::Gt,
            per_ms: 60 * S,
            threshold: 100.0,
            recover: Some(50.0),
        });
        let mut m = AlertInstance::new();
        // The first point has no rate.
        assert!(m.step(&t, &Observation::value(T0, 1_000.0)).is_none());
        // +50 in 30 s = 100 per minute: not > 100.
        assert!(m
            .step(&t, &Observation::value(T0 + 30 * S, 1_050.0))
            .is_none());
        // +60 in 30 s = 120 per minute.
        let tr = m
            .step(&t, &Observation::value(T0 + 60 * S, 1_110.0))
            .unwrap();
        assert_eq!(tr.to, Firing);
        assert_eq!(tr.reason, "rate 120 per 1m > 100");
        assert_eq!(tr.value, Some(1_110.0));
        // +30 in 30 s = 60 per minute: above recover, keeps firing.
        assert!(m
            .step(&t, &Observation::value(T0 + 90 * S, 1_140.0))
            .is_none());
        // A gap without data does not reset the last point: +20 over 60 s = 20 per minute.
        assert!(m.step(&t, &Observation::empty(T0 + 120 * S)).is_some()); // nodata (delay 0)
        let tr = m
            .step(&t, &Observation::value(T0 + 150 * S, 1_160.0))
            .unwrap();
        assert_eq!((tr.from, tr.to), (NoData, Normal));
        assert_eq!(tr.reason, "data returned: rate 20 per 1m not > 100");
        // Two evaluations at the same instant cannot give a rate.
        assert!(m
            .step(&t, &Observation::value(T0 + 150 * S, 9_999.0))
            .is_none());
        assert_eq!(m.state(), Normal);
    }

    #[test]
    fn falling_rates_use_less_than() {
        let t = Trigger::immediate(Condition::RateOfChange {
            op: Op::Lt,
            per_ms: S,
            threshold: -10.0,
            recover: None,
        });
        let mut m = AlertInstance::new();
        assert!(m.step(&t, &Observation::value(T0, 100.0)).is_none());
        let tr = m.step(&t, &Observation::value(T0 + 2 * S, 70.0)).unwrap();
        assert_eq!(tr.to, Firing);
        assert_eq!(tr.reason, "rate -15 per 1s < -10");
    }

    #[test]
    fn old_observations_are_ignored_and_repeats_are_harmless() {
        let t = trigger();
        let mut m = machine_in(Firing);
        let before = m.clone();
        assert!(m.step(&t, &Observation::value(T0 - S, 0.0)).is_none());
        assert_eq!(m, before);
        // Same instant, same value: nothing changes.
        assert!(m.step(&t, &Observation::value(T0, 600.0)).is_none());
        assert_eq!(m.state(), Firing);
    }

    #[test]
    fn episodes_span_recovering_and_change_with_each_firing() {
        let t = trigger();
        let mut m = AlertInstance::new();
        let tr = run(
            &mut m,
            &t,
            &[
                (In::High, T0),
                (In::High, T0 + 30 * S),  // firing, episode A
                (In::Low, T0 + 40 * S),   // recovering
                (In::High, T0 + 50 * S),  // firing again, still A
                (In::Low, T0 + 60 * S),   // recovering
                (In::Low, T0 + 120 * S),  // normal: ends A
                (In::High, T0 + 130 * S), // pending
                (In::High, T0 + 160 * S), // firing, episode B
            ],
        );
        let a = T0 + 30 * S;
        let b = T0 + 160 * S;
        let got: Vec<_> = tr.iter().map(|t| (t.to, t.episode_ms)).collect();
        assert_eq!(
            got,
            vec![
                (Pending, T0),
                (Firing, a),
                (Recovering, a),
                (Firing, a),
                (Recovering, a),
                (Normal, a),
                (Pending, T0 + 130 * S),
                (Firing, b),
            ]
        );
        assert_eq!(m.episode_ms(), Some(b));
        let changed: Vec<_> = tr.iter().map(Transition::status_changed).collect();
        assert_eq!(
            changed,
            vec![false, true, false, false, false, true, false, true]
        );
    }

    #[test]
    fn reasons_describe_each_change() {
        let t = trigger();
        let mut m = AlertInstance::new();
        let tr = run(
            &mut m,
            &t,
            &[
                (In::High, T0),
                (In::Band, T0 + S),
                (In::High, T0 + 2 * S),
                (In::High, T0 + 40 * S),
                (In::Low, T0 + 41 * S),
            ],
        );
        let reasons: Vec<_> = tr.iter().map(|t| t.reason.as_str()).collect();
        assert_eq!(
            reasons,
            vec![
                "value 600 > 500",
                "value 450 not > 500",
                "value 600 > 500",
                "value 600 > 500 for 38s",
                "value 300 not > 400",
            ]
        );
    }

    #[test]
    fn persisted_state_resumes_the_same_timing() {
        let t = trigger();
        let mut m = machine_in(Pending);
        let json = serde_json::to_string(&m).unwrap();
        let mut restored: AlertInstance = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, m);
        let a = m.step(&t, &Observation::value(T0 + 30 * S, 600.0));
        let b = restored.step(&t, &Observation::value(T0 + 30 * S, 600.0));
        assert_eq!(a, b);
        assert_eq!(restored.state(), Firing);
    }

    #[test]
    fn states_and_statuses_serialize_as_the_api_names_them() {
        let names: Vec<_> = [Normal, Pending, Firing, Recovering, NoData]
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "\"normal\"",
                "\"pending\"",
                "\"firing\"",
                "\"recovering\"",
                "\"nodata\""
            ]
        );
        for s in [Normal, Pending, Firing, Recovering, NoData] {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert_eq!(
            serde_json::to_string(&Status::NoData).unwrap(),
            "\"nodata\""
        );
    }
}
