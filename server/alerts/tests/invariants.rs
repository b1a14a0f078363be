//! Property tests: random rules and random observation streams through the state machine
//! and the dispatcher, checked against the invariants the design promises.

use std::collections::BTreeMap;

use alerts::{
    parse_silence, AlertEvent, AlertInstance, AlertState, Condition, Dispatcher, NoiseConfig,
    NotificationKind, Observation, Op, Severity, Silence, Status, Transition, Trigger,
};
use proptest::prelude::*;

const T0: i64 = 1_800_000_000_000;
const S: i64 = 1_000;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![Just(Op::Gt), Just(Op::Ge), Just(Op::Lt), Just(Op::Le)]
}

fn delay() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0), Just(10 * S), Just(30 * S)]
}

fn condition() -> impl Strategy<Value = Condition> {
    // Recover lies 0–20 on the clearing side of the threshold (or is left out).
    let recover = |op: Op, threshold: f64, gap: Option<f64>| {
        gap.map(|g| match op {
            Op::Gt | Op::Ge => threshold - g,
            Op::Lt | Op::Le => threshold + g,
        })
    };
    prop_oneof![
        (op(), 20.0..80.0f64, proptest::option::of(0.0..20.0f64)).prop_map(
            move |(op, threshold, gap)| Condition::Threshold {
                op,
                threshold,
                recover: recover(op, threshold, gap),
            }
        ),
        (0.0..1.0f64, proptest::option::of(0.0..1.0f64)).prop_map(|(min_score, f)| {
            Condition::Anomaly {
                min_score,
                recover: f.map(|f| f * min_score),
            }
        }),
        prop_oneof![Just(5 * S), Just(20 * S), Just(60 * S)]
            .prop_map(|after_ms| Condition::Absent { after_ms }),
        (
            op(),
            prop_oneof![Just(S), Just(60 * S)],
            -50.0..50.0f64,
            proptest::option::of(0.0..20.0f64)
        )
            .prop_map(
                move |(op, per_ms, threshold, gap)| Condition::RateOfChange {
                    op,
                    per_ms,
                    threshold,
                    recover: recover(op, threshold, gap),
                }
            ),
    ]
}

fn trigger() -> impl Strategy<Value = Trigger> {
    (
        condition(),
        delay(),
        delay(),
        prop_oneof![Just(None), Just(Some(0)), Just(Some(20 * S))],
    )
        .prop_map(
            |(condition, for_ms, keep_firing_for_ms, nodata_for_ms)| Trigger {
                condition,
                for_ms,
                keep_firing_for_ms,
                nodata_for_ms,
            },
        )
}

/// One evaluation: time step (sometimes backwards, sometimes zero), value or not, score.
fn step() -> impl Strategy<Value = (i64, Option<f64>, Option<f64>)> {
    (
        prop_oneof![8 => 0..20_000i64, 1 => -5_000..0i64],
        prop_oneof![
            6 => (0.0..100.0f64).prop_map(Some),
            2 => Just(None),
            1 => Just(Some(f64::NAN)),
        ],
        proptest::option::of(0.0..1.0f64),
    )
}

/// Runs the machine, checking every transition against the promised semantics.
fn check_machine(trigger: &Trigger, steps: &[(i64, Option<f64>, Option<f64>)]) {
    let mut m = AlertInstance::new();
    let mut now = T0;
    let mut last_eval: Option<i64> = None;
    for &(dt, value, anomaly_score) in steps {
        now += dt;
        let before = m.clone();
        let state = m.state();
        let entered = m.since_ms();
        let obs = Observation {
            now_ms: now,
            value,
            anomaly_score,
        };
        let tr = m.step(trigger, &obs);
        if last_eval.is_some_and(|l| now < l) {
            assert!(tr.is_none(), "an old observation changed something");
            assert_eq!(m, before, "an old observation changed the machine");
            continue;
        }
        last_eval = Some(now);
        let Some(tr) = tr else {
            assert_eq!(m.state(), state);
            continue;
        };
        assert_eq!(tr.from, state);
        assert_ne!(tr.to, tr.from, "a transition must change the state");
        assert_eq!(tr.at_ms, now);
        assert_eq!(m.state(), tr.to);
        assert_eq!(m.since_ms(), Some(now));
        let held = now - entered.unwrap_or(now);
        use AlertState::*;
        match (tr.from, tr.to) {
            (Normal | NoData, Firing) => assert_eq!(trigger.for_ms, 0, "skipped pending"),
            (Pending, Firing) => assert!(held >= trigger.for_ms, "fired early: {held}"),
            (Recovering, Normal) => assert!(held >= trigger.keep_firing_for_ms),
            (Firing, Normal) => assert_eq!(trigger.keep_firing_for_ms, 0, "skipped recovering"),
            _ => {}
        }
        if tr.to == Pending {
            assert!(trigger.for_ms > 0, "pending with for = 0");
        }
        if tr.to == Recovering {
            assert!(
                trigger.keep_firing_for_ms > 0,
                "recovering with keep_firing_for = 0"
            );
        }
        if tr.to == NoData {
            assert!(!matches!(trigger.condition, Condition::Absent { .. }));
            assert!(value.is_none_or(|v| !v.is_finite()), "nodata with data");
        }
        if tr.to.status() != Status::Ok {
            assert!(tr.episode_ms <= now);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn machine_invariants(trigger in trigger(), steps in prop::collection::vec(step(), 1..80)) {
        check_machine(&trigger, &steps);
    }

    #[test]
    fn replayed_observations_give_the_same_transitions(
        trigger in trigger(),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let run = || {
            let mut m = AlertInstance::new();
            let mut now = T0;
            steps
                .iter()
                .filter_map(|&(dt, value, anomaly_score)| {
                    now += dt;
                    m.step(&trigger, &Observation { now_ms: now, value, anomaly_score })
                })
                .collect::<Vec<_>>()
        };
        prop_assert_eq!(run(), run());
    }
}

/// A few instances, each with its own trigger and stream, evaluated tick by tick.
struct World {
    instances: Vec<(AlertEvent, Trigger, AlertInstance)>,
}

impl World {
    fn new(triggers: &[Trigger], severities: &[Severity]) -> Self {
        let instances = triggers
            .iter()
            .zip(severities)
            .enumerate()
            .map(|(i, (t, sev))| {
                let labels = [
                    ("alertname".to_string(), format!("rule-{}", i % 2)),
                    ("service".to_string(), format!("svc-{}", i % 3)),
                    ("severity".to_string(), sev.as_str().to_string()),
                ]
                .into_iter()
                .collect();
                let template = AlertEvent {
                    rule_id: format!("r{i}"),
                    labels,
                    severity: *sev,
                    channels: vec![format!("ch-{}", i % 2)],
                    transition: Transition {
                        from: AlertState::Normal,
                        to: AlertState::Normal,
                        at_ms: 0,
                        value: None,
                        reason: String::new(),
                        episode_ms: 0,
                    },
                };
                (template, *t, AlertInstance::new())
            })
            .collect();
        Self { instances }
    }

    /// Evaluates every instance at `now` with its value; returns the tick's events.
    fn tick(&mut self, now: i64, values: &[Option<f64>]) -> Vec<AlertEvent> {
        self.instances
            .iter_mut()
            .zip(values)
            .filter_map(|((template, trigger, machine), value)| {
                let obs = Observation {
                    now_ms: now,
                    value: *value,
                    anomaly_score: value.map(|v| v / 100.0),
                };
                machine.step(trigger, &obs).map(|transition| AlertEvent {
                    transition,
                    ..template.clone()
                })
            })
            .collect()
    }
}

fn world() -> impl Strategy<Value = (Vec<Trigger>, Vec<Severity>, Vec<Vec<Option<f64>>>)> {
    let severity = prop_oneof![
        Just(Severity::Info),
        Just(Severity::Warning),
        Just(Severity::Critical)
    ];
    (1usize..5).prop_flat_map(move |n| {
        (
            prop::collection::vec(trigger(), n),
            prop::collection::vec(severity.clone(), n),
            prop::collection::vec(
                prop::collection::vec(
                    prop_oneof![4 => (0.0..100.0f64).prop_map(Some), 1 => Just(None)],
                    n,
                ),
                1..120,
            ),
        )
    })
}

type InstanceId = (String, BTreeMap<String, String>);

fn id(rule_id: &str, labels: &BTreeMap<String, String>) -> InstanceId {
    (rule_id.to_string(), labels.clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// With flapping, inhibition and storm control out of the way, an instance is notified
    /// in exactly the ticks where its status changes.
    #[test]
    fn notified_exactly_on_status_changes((triggers, severities, ticks) in world()) {
        let mut world = World::new(&triggers, &severities);
        let mut d = Dispatcher::new(NoiseConfig {
            flap_changes: usize::MAX,
            inhibit_equal: vec![],
            storm_limit: usize::MAX,
            ..NoiseConfig::default()
        });
        for (i, values) in ticks.iter().enumerate() {
            let now = T0 + i as i64 * 10 * S;
            let events = world.tick(now, values);
            let notes = d.tick(now, &events, &[]);
            let mut changed: Vec<InstanceId> = events
                .iter()
                .filter(|e| e.transition.status_changed())
                .map(|e| id(&e.rule_id, &e.labels))
                .collect();
            let mut notified: Vec<InstanceId> = notes
                .iter()
                .flat_map(|n| &n.alerts)
                .map(|a| id(&a.rule_id, &a.labels))
                .collect();
            changed.sort();
            notified.sort();
            prop_assert_eq!(&changed, &notified);
            for n in &notes {
                for a in &n.alerts {
                    let want = match a.state.status() {
                        Status::Ok => NotificationKind::Resolved,
                        Status::Firing => NotificationKind::Firing,
                        Status::NoData => NotificationKind::NoData,
                    };
                    prop_assert_eq!(a.kind, want);
                    prop_assert_eq!(n.kind, want);
                }
            }
            // The same tick again says nothing.
            prop_assert!(d.tick(now, &events, &[]).is_empty());
        }
    }

    /// With every noise control on, notifications still only ever report a status the
    /// instance is in, never carry the same news (alert key) twice, never resolve what was
    /// not told, and say nothing under a silence.
    #[test]
    fn noise_control_never_invents_news(
        (triggers, severities, ticks) in world(),
        silence_from in 0usize..120,
        silence_len in 1usize..60,
    ) {
        let silence: Silence = parse_silence(
            format!(
                r#"{{"matchers": [{{"label": "service", "op": "=", "value": "svc-1"}}],
                    "starts_at": {}, "ends_at": {}}}"#,
                T0 + silence_from as i64 * 10 * S,
                T0 + (silence_from + silence_len) as i64 * 10 * S,
            )
            .as_bytes(),
            T0,
        )
        .unwrap();
        let silences = [silence];
        let mut world = World::new(&triggers, &severities);
        let mut d = Dispatcher::new(NoiseConfig {
            flap_changes: 3,
            flap_window_ms: 120 * S,
            flap_quiet_ms: 60 * S,
            storm_limit: 3,
            ..NoiseConfig::default()
        });
        let mut status: BTreeMap<InstanceId, Status> = BTreeMap::new();
        let mut told: BTreeMap<InstanceId, Status> = BTreeMap::new();
        let mut sent_keys = std::collections::BTreeSet::new();
        for (i, values) in ticks.iter().enumerate() {
            let now = T0 + i as i64 * 10 * S;
            let events = world.tick(now, values);
            for e in &events {
                status.insert(id(&e.rule_id, &e.labels), e.transition.to.status());
            }
            let notes = d.tick(now, &events, &silences);
            for n in &notes {
                prop_assert!(!n.channels.is_empty());
                prop_assert_eq!(n.digest.is_some(), n.kind == NotificationKind::Digest);
                for a in &n.alerts {
                    if a.labels["service"] == "svc-1" {
                        prop_assert!(!silences[0].is_active(now), "notified under a silence");
                    }
                    prop_assert!(sent_keys.insert(a.key.clone()), "the same news twice");
                    let who = id(&a.rule_id, &a.labels);
                    let current = status.get(&who).copied().unwrap_or(Status::Ok);
                    let said = match a.kind {
                        NotificationKind::Firing => Status::Firing,
                        NotificationKind::NoData => Status::NoData,
                        NotificationKind::Resolved => Status::Ok,
                        NotificationKind::Flapping => continue,
                        NotificationKind::Digest => unreachable!("digests are not nested"),
                    };
                    prop_assert_eq!(said, current, "reported a status it is not in");
                    let before = told.insert(who, said).unwrap_or(Status::Ok);
                    if said == Status::Ok {
                        prop_assert_ne!(before, Status::Ok, "resolved what was never told");
                    }
                }
            }
            prop_assert!(d.tick(now, &events, &silences).is_empty());
        }
    }
}
