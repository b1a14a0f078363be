//! A trace's spans laid out as a waterfall: parents before children (depth-first, siblings by
//! start), each with its depth, and the critical path marked: from the root, the child that
//! finishes last, then its child that finishes last, and so on — the chain of work that
//! decided when the trace ended.

use crate::model::SpanView;
use std::collections::HashMap;

/// One row of the waterfall.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Index into the spans given to [`layout`].
    pub span: usize,
    pub depth: usize,
    pub critical: bool,
}

/// The rows in display order. Spans whose parent is not in the trace (lost or not yet
/// arrived) are shown as roots.
pub fn layout(spans: &[SpanView]) -> Vec<Row> {
    let index: HashMap<&str, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id.as_str(), i))
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s.parent_span_id.as_deref().and_then(|p| index.get(p)) {
            Some(&parent) if parent != i => children[parent].push(i),
            _ => roots.push(i),
        }
    }
    let by_start = |a: &usize, b: &usize| {
        spans[*a]
            .start
            .cmp(&spans[*b].start)
            .then_with(|| spans[*a].span_id.cmp(&spans[*b].span_id))
    };
    roots.sort_by(by_start);
    for c in &mut children {
        c.sort_by(by_start);
    }
    let critical = critical_path(spans, &roots, &children);
    let mut rows = Vec::with_capacity(spans.len());
    let mut seen = vec![false; spans.len()];
    // Spans caught in a parent cycle (bad data) have no root: they follow as roots themselves.
    let mut rest: Vec<usize> = (0..spans.len()).collect();
    rest.sort_by(by_start);
    for start in roots.iter().chain(&rest) {
        // Depth-first with an explicit stack: traces can be deeper than the call stack allows.
        let mut stack = vec![(*start, 0)];
        while let Some((i, depth)) = stack.pop() {
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            rows.push(Row {
                span: i,
                depth,
                critical: critical[i],
            });
            stack.extend(children[i].iter().rev().map(|&c| (c, depth + 1)));
        }
    }
    rows
}

fn end(s: &SpanView) -> f64 {
    s.start as f64 + s.duration_ms
}

/// Marks the chain from the longest-running root through the last-finishing child at each
/// level.
fn critical_path(spans: &[SpanView], roots: &[usize], children: &[Vec<usize>]) -> Vec<bool> {
    let mut marked = vec![false; spans.len()];
    let last = |candidates: &[usize]| {
        candidates
            .iter()
            .copied()
            .max_by(|a, b| end(&spans[*a]).total_cmp(&end(&spans[*b])))
    };
    let mut at = last(roots);
    while let Some(i) = at {
        if std::mem::replace(&mut marked[i], true) {
            break;
        }
        at = last(&children[i]);
    }
    marked
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: Option<&str>, start: i64, ms: f64) -> SpanView {
        SpanView {
            span_id: id.into(),
            parent_span_id: parent.map(Into::into),
            name: id.into(),
            service: "s".into(),
            start,
            duration_ms: ms,
            status: "ok".into(),
            attributes: serde_json::json!({}),
        }
    }

    #[test]
    fn children_follow_parents_and_the_last_to_finish_is_critical() {
        let spans = vec![
            span("db2", Some("api"), 60, 30.0),
            span("root", None, 0, 100.0),
            span("api", Some("root"), 10, 85.0),
            span("cache", Some("root"), 5, 3.0),
            span("db1", Some("api"), 15, 40.0),
            span("orphan", Some("gone"), 50, 1.0),
        ];
        let rows: Vec<(&str, usize, bool)> = layout(&spans)
            .iter()
            .map(|r| (spans[r.span].span_id.as_str(), r.depth, r.critical))
            .collect();
        assert_eq!(
            rows,
            vec![
                ("root", 0, true),
                ("cache", 1, false),
                ("api", 1, true),
                ("db1", 2, false),
                ("db2", 2, true),
                ("orphan", 0, false),
            ]
        );
    }

    #[test]
    fn deep_and_cyclic_traces_do_not_overflow() {
        let mut spans: Vec<SpanView> = (0..50_000)
            .map(|i| {
                let parent = (i > 0).then(|| format!("{:016x}", i - 1));
                span(&format!("{i:016x}"), parent.as_deref(), i, 1.0)
            })
            .collect();
        assert_eq!(layout(&spans).len(), 50_000);
        assert_eq!(layout(&spans)[49_999].depth, 49_999);
        spans[0].parent_span_id = Some(format!("{:016x}", 49_999));
        // Every span is someone's child: no root, yet each is shown once, without looping.
        assert_eq!(layout(&spans).len(), 50_000);
    }
}
