//! Throughput of alert evaluation: 5 000 instances through the state machine per tick (the
//! target is 5 000 alerts/s, so one iteration must take well under a second), and one
//! dispatcher tick with 500 transitions.
//!
//! `cargo bench -p alerts --bench evaluate`

use alerts::{
    AlertEvent, AlertInstance, AlertState, Condition, Dispatcher, NoiseConfig, Observation, Op,
    Severity, Transition, Trigger,
};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const INSTANCES: usize = 5_000;
const T0: i64 = 1_800_000_000_000;

fn trigger() -> Trigger {
    Trigger {
        condition: Condition::Threshold {
            op: Op::Gt,
            threshold: 500.0,
            recover: Some(400.0),
        },
        for_ms: 30_000,
        keep_firing_for_ms: 60_000,
        nodata_for_ms: None,
    }
}

/// A value that crosses the threshold now and then, differently per instance.
fn value(instance: usize, tick: i64) -> Option<f64> {
    let phase = (instance as i64 * 7 + tick) % 40;
    match phase {
        0 => None,
        1..=10 => Some(600.0),
        11..=14 => Some(450.0),
        _ => Some(100.0 + phase as f64),
    }
}

fn bench(c: &mut Criterion) {
    let t = trigger();
    let mut group = c.benchmark_group("alerts");
    group.throughput(Throughput::Elements(INSTANCES as u64));
    group.bench_function("step_5000_instances", |b| {
        let mut machines = vec![AlertInstance::new(); INSTANCES];
        let mut tick = 0i64;
        b.iter(|| {
            tick += 1;
            let now = T0 + tick * 10_000;
            let mut changes = 0usize;
            for (i, m) in machines.iter_mut().enumerate() {
                let obs = Observation {
                    now_ms: now,
                    value: value(i, tick),
                    anomaly_score: None,
                };
                changes += usize::from(m.step(&t, &obs).is_some());
            }
            changes
        })
    });

    group.throughput(Throughput::Elements(500));
    group.bench_function("dispatch_500_transitions", |b| {
        let mut tick = 0i64;
        let mut d = Dispatcher::new(NoiseConfig::default());
        b.iter(|| {
            tick += 1;
            let now = T0 + tick * 10_000;
            let to = if tick % 2 == 0 {
                AlertState::Normal
            } else {
                AlertState::Firing
            };
            let events: Vec<AlertEvent> = (0..500)
                .map(|i| AlertEvent {
                    rule_id: format!("rule-{}", i % 20),
                    labels: [
                        ("service".to_string(), format!("svc-{}", i % 50)),
                        ("route".to_string(), format!("/r{i}")),
                    ]
                    .into_iter()
                    .collect(),
                    severity: Severity::Warning,
                    channels: vec!["ops".into()],
                    transition: Transition {
                        from: AlertState::Pending,
                        to,
                        at_ms: now,
                        value: Some(1.0),
                        reason: String::new(),
                        episode_ms: now,
                    },
                })
                .collect();
            d.tick(now, &events, &[]).len()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
