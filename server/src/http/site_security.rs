//! The Security page's view of the store.

use crate::app_state::AppState;
use crate::security::FAILURE_KINDS;
use crate::store::{SecurityField, SecurityQuery, StoreError};
use app::model::TimeRange;
use app::panels::source::Load;
use app::security::source::SecuritySource;
use app::security::{FindingView, SecurityOverview};

pub(super) struct ServerSecurity {
    pub state: AppState,
}

/// Bars of the failed sign-ins chart.
const BUCKETS: i64 = 60;
/// Rows of each list on the page.
const ROWS: u32 = 50;
const TOP: u32 = 10;

fn text(e: StoreError) -> String {
    tracing::error!(error = %e, "reading security events failed");
    "storage error; see the server log".into()
}

impl SecuritySource for ServerSecurity {
    fn overview(&self, range: TimeRange) -> Load<'_, SecurityOverview> {
        Box::pin(async move {
            let store = &self.state.store;
            let (from, to) = range.bounds(chrono::Utc::now().timestamp_millis());
            let to = to + 1;
            let step = ((to - from) / BUCKETS).max(1);
            let failures: Vec<String> = FAILURE_KINDS.iter().map(|k| k.to_string()).collect();
            let mut bars = vec![0; ((to - from + step - 1) / step) as usize];
            for (bucket, n) in store
                .security_counts(&failures, from, to, step)
                .await
                .map_err(text)?
            {
                if let Some(slot) = usize::try_from(bucket).ok().and_then(|b| bars.get_mut(b)) {
                    *slot += n;
                }
            }
            let listing = |kinds: Vec<String>, kind_prefix: Option<String>| SecurityQuery {
                kinds,
                kind_prefix,
                from,
                to,
                limit: ROWS,
            };
            let findings = store
                .security_events(&listing(Vec::new(), Some("finding.".into())))
                .await
                .map_err(text)?
                .iter()
                .filter_map(FindingView::from_event)
                .collect();
            let top = |field| store.security_top(field, &failures, from, to, TOP);
            Ok(SecurityOverview {
                from,
                to,
                step,
                failures: bars,
                findings,
                top_addresses: top(SecurityField::Ip).await.map_err(text)?,
                top_accounts: top(SecurityField::Actor).await.map_err(text)?,
                csp_violations: store
                    .security_events(&listing(vec!["csp_violation".into()], None))
                    .await
                    .map_err(text)?,
            })
        })
    }
}
