//! The Errors, Traces and Logs pages' view of the store.

use crate::app_state::AppState;
use crate::store::{ErrorGroupQuery, LogQuery, StoreError, TraceQuery};
use app::model::{
    ErrorGroupDetail, ErrorGroupView, LatencySurface, LogView, ServiceStats, TimeRange,
    TraceSummary,
};
use app::panels::source::Load;
use app::signals::source::SignalSource;
use app::signals::{ErrorFilter, LogFilter, SurfaceQuery, TraceDetail, TraceFilter};

pub(super) struct ServerSignals {
    pub state: AppState,
}

fn text(e: StoreError) -> String {
    tracing::error!(error = %e, "reading errors, traces or logs failed");
    "storage error; see the server log".into()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// An optional filter field: blank is absent; bounded like the HTTP API's parameters.
fn given(value: String) -> Option<String> {
    let v = value.trim();
    (!v.is_empty() && v.len() <= 256).then(|| v.to_string())
}

impl SignalSource for ServerSignals {
    fn error_groups(&self, f: ErrorFilter) -> Load<'_, Vec<ErrorGroupView>> {
        Box::pin(async move {
            let (from, to) = f.range.bounds(now());
            let query = ErrorGroupQuery {
                status: Some(f.status).filter(|s| crate::signals::valid_status(s)),
                service: None,
                text: given(f.q),
                from,
                to: to + 1,
                limit: 200,
            };
            crate::signals::error_groups(&*self.state.store, &query)
                .await
                .map_err(text)
        })
    }

    fn error_group(&self, id: String) -> Load<'_, Option<ErrorGroupDetail>> {
        Box::pin(async move {
            let Some(mut detail) = crate::signals::error_detail(&*self.state.store, &id)
                .await
                .map_err(text)?
            else {
                return Ok(None);
            };
            // The issue page's trend: the last 24 hours.
            let to = now() + 1;
            let from = to - 86_400_000;
            let query = ErrorGroupQuery {
                from,
                to,
                ..Default::default()
            };
            let step = (to - from) / crate::signals::SPARK_BUCKETS;
            let counts = self
                .state
                .store
                .error_counts(std::slice::from_ref(&id), query.from, query.to, step)
                .await
                .map_err(text)?;
            detail.group.sparkline =
                crate::signals::sparkline(counts.into_iter().map(|(_, bucket, n)| (bucket, n)));
            Ok(Some(detail))
        })
    }

    fn set_error_status(&self, id: String, status: String, actor: String) -> Load<'_, ()> {
        let ip = super::site_admin::requester_ip();
        Box::pin(async move {
            if !crate::signals::valid_status(&status) {
                return Err(format!(
                    "unknown status {status:?}; use unresolved, resolved or ignored"
                ));
            }
            let found = self
                .state
                .store
                .set_error_status(&id, &status, now())
                .await
                .map_err(text)?;
            if !found {
                return Err(format!("no issue {id}"));
            }
            self.state
                .accounts
                .record(&actor, &format!("issue.{status}"), &id, ip.as_deref(), "")
                .await;
            Ok(())
        })
    }

    fn traces(&self, f: TraceFilter) -> Load<'_, Vec<TraceSummary>> {
        Box::pin(async move {
            let (from, to) = f.range.bounds(now());
            let min_duration_ms = match given(f.min_duration_ms) {
                None => None,
                Some(v) => Some(
                    v.parse::<f64>()
                        .ok()
                        .filter(|d| d.is_finite() && *d >= 0.0)
                        .ok_or_else(|| format!("min duration: {v:?} is not a number ≥ 0"))?,
                ),
            };
            let attribute = match given(f.attr) {
                None => None,
                Some(a) => match a.split_once(':') {
                    Some((k, v)) if !k.is_empty() => Some((k.to_string(), v.to_string())),
                    _ => return Err("attribute: write it as key:value".into()),
                },
            };
            let query = TraceQuery {
                service: given(f.service),
                operation: given(f.operation),
                min_duration_ms,
                status: given(f.status).filter(|s| matches!(s.as_str(), "ok" | "error" | "unset")),
                attribute,
                from,
                to: to + 1,
                limit: 100,
            };
            self.state.store.traces(&query).await.map_err(text)
        })
    }

    fn trace(&self, id: String) -> Load<'_, Option<TraceDetail>> {
        Box::pin(async move {
            let id = id.to_ascii_lowercase();
            if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(None);
            }
            let store = &self.state.store;
            let limit = super::signals::MAX_TRACE_SPANS;
            let spans = store.trace(&id, limit).await.map_err(text)?;
            if spans.is_empty() {
                return Ok(None);
            }
            let errors = store.trace_errors(&id).await.map_err(text)?;
            let logs = store
                .logs(&LogQuery {
                    trace_id: Some(id.clone()),
                    from: i64::MIN,
                    to: i64::MAX,
                    limit: 500,
                    ..Default::default()
                })
                .await
                .map_err(text)?;
            Ok(Some(TraceDetail {
                trace_id: id,
                truncated: spans.len() as u32 >= limit,
                spans,
                errors,
                logs,
            }))
        })
    }

    fn services(&self, range: TimeRange) -> Load<'_, Vec<ServiceStats>> {
        Box::pin(async move {
            let (from, to) = range.bounds(now());
            crate::signals::service_stats(&*self.state.store, from, to + 1)
                .await
                .map_err(text)
        })
    }

    fn latency_surface(&self, q: SurfaceQuery) -> Load<'_, LatencySurface> {
        Box::pin(async move {
            let (from, to) = q.range.bounds(now());
            let (cols, rows) = (q.cols.clamp(8, 400), q.rows.clamp(8, 400));
            let service = given(q.service);
            crate::signals::latency_surface(
                &*self.state.store,
                from,
                to + 1,
                service.as_deref(),
                cols,
                rows,
            )
            .await
            .map_err(text)
        })
    }

    fn logs(&self, f: LogFilter) -> Load<'_, Vec<LogView>> {
        Box::pin(async move {
            let (from, to) = f.range.bounds(now());
            let min_severity = match given(f.severity) {
                None => None,
                Some(s) => Some(
                    crate::ingest::model::parse_severity(&s)
                        .ok_or_else(|| format!("unknown level {s:?}"))?
                        .1,
                ),
            };
            let query = LogQuery {
                service: given(f.service),
                text: given(f.q),
                trace_id: given(f.trace_id).map(|t| t.to_ascii_lowercase()),
                min_severity,
                from,
                to: to + 1,
                limit: 500,
            };
            self.state.store.logs(&query).await.map_err(text)
        })
    }
}
