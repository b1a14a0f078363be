//! Shapes shared by the API, the server-rendered pages and the browser islands.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Labels of a series or a group, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// One series of a query answer: `points` are `[unix_ms, value]`, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoints {
    pub metric: String,
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// The body of `query_range` answers and of live `update` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct QueryResponse {
    pub series: Vec<SeriesPoints>,
}

/// How a panel draws its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Viz {
    /// Lines over time (a single series is filled below).
    #[default]
    Line,
    /// Every series filled below its line.
    Area,
    /// A bar per time step, series side by side.
    Bar,
    /// One row per series, a cell per time step coloured by its value.
    Heatmap,
    /// The latest value, large, over a sparkline.
    Stat,
    /// Each series' latest, minimum, mean and maximum.
    Table,
    /// The series over time as a lit 3-D surface (time × series × value) to orbit and zoom;
    /// the server's picture, and a panel rendered in the browser, show the grid from above.
    Surface,
}

impl Viz {
    pub const ALL: [Viz; 7] = [
        Viz::Line,
        Viz::Area,
        Viz::Bar,
        Viz::Heatmap,
        Viz::Stat,
        Viz::Table,
        Viz::Surface,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Viz::Line => "line",
            Viz::Area => "area",
            Viz::Bar => "bar",
            Viz::Heatmap => "heatmap",
            Viz::Stat => "stat",
            Viz::Table => "table",
            Viz::Surface => "surface",
        }
    }

    pub fn parse(text: &str) -> Option<Viz> {
        Viz::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

/// What a dashboard panel shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelSpec {
    pub id: String,
    pub title: String,
    pub unit: String,
    pub metric: String,
    pub agg: String,
    pub group_by: Vec<String>,
    pub filter: Vec<(String, String)>,
    /// Multiplies every value (for example 60 turns a per-second rate into per minute).
    pub scale: f64,
    #[serde(default)]
    pub viz: Viz,
}

/// A panel's data over one time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelData {
    pub spec: PanelSpec,
    pub from: i64,
    pub to: i64,
    pub step: i64,
    pub series: Vec<SeriesPoints>,
    /// The expected range of each series' line, as the anomaly detector sees it.
    #[serde(default)]
    pub bands: Vec<Band>,
    /// Stored anomalies of the panel's series, placed on the line of their group.
    #[serde(default)]
    pub anomalies: Vec<Marker>,
}

/// The expected range of one drawn series over time: `(unix_ms, lower, upper)`. Values are
/// `f32`: a band is a visual guide and half the bytes on the page is worth more than precision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Band {
    pub labels: Labels,
    pub points: Vec<(i64, f32, f32)>,
}

/// One anomaly drawn on a chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Marker {
    pub ts: i64,
    /// The group (the panel series' labels) the anomalous series belongs to.
    pub labels: Labels,
    pub score: f32,
    pub explanation: String,
}

/// One recorded anomaly: what the store keeps, `/api/v1/anomalies` returns and the Anomalies
/// page lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    pub series_id: i64,
    pub metric: String,
    pub labels: Labels,
    pub timestamp: i64,
    pub value: f64,
    pub score: f64,
    pub expected: f64,
    pub lower: f64,
    pub upper: f64,
    pub explanation: String,
    /// Someone marked it "not an anomaly" (ignored when recording).
    pub dismissed: bool,
}

/// A panel's series on a grid, for its 3-D view: one row per series (the panel's order), one
/// column per query step, each cell the series' value in that step. A step without a point
/// repeats the value before it (the first value seen, before the first point), so a gap is not
/// drawn as a fall to zero; a series without points is all zero.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesGrid {
    pub from: i64,
    pub to: i64,
    pub cols: usize,
    pub names: Vec<String>,
    pub unit: String,
    /// Row-major from the first series.
    pub values: Vec<f64>,
}

impl SeriesGrid {
    pub fn rows(&self) -> usize {
        self.names.len()
    }

    /// The smallest and largest value, or `None` without values.
    pub fn extent(&self) -> Option<(f64, f64)> {
        extent(self.values.iter().copied())
    }
}

/// The smallest and largest finite value, or `None` without one.
pub fn extent(values: impl IntoIterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold(None, |e, v| {
            Some(e.map_or((v, v), |(lo, hi)| (v.min(lo), v.max(hi))))
        })
}

impl PanelData {
    /// The series on a grid of at most `max_cols` columns and `max_rows` rows (the first
    /// series); a step finer than the columns allow is merged by the mean of its points.
    pub fn grid(&self, max_cols: usize, max_rows: usize) -> SeriesGrid {
        let span = (self.to - self.from).max(1);
        let steps = (span / self.step.max(1)).max(1) as usize;
        let cols = steps.clamp(2, max_cols.max(2));
        let col_of = |t: i64| {
            let c = ((t - self.from) as f64 / span as f64 * cols as f64).floor();
            (c.max(0.0) as usize).min(cols - 1)
        };
        let series: Vec<&SeriesPoints> = self.series.iter().take(max_rows).collect();
        let mut values = Vec::with_capacity(series.len() * cols);
        for s in &series {
            let mut sums = vec![(0.0f64, 0u32); cols];
            for &(t, v) in s.points.iter().filter(|(_, v)| v.is_finite()) {
                let cell = &mut sums[col_of(t)];
                cell.0 += v;
                cell.1 += 1;
            }
            let first = sums
                .iter()
                .find(|c| c.1 > 0)
                .map_or(0.0, |c| c.0 / f64::from(c.1));
            let mut last = first;
            for (sum, n) in sums {
                if n > 0 {
                    last = sum / f64::from(n);
                }
                values.push(last);
            }
        }
        SeriesGrid {
            from: self.from,
            to: self.to,
            cols,
            names: series.iter().map(|s| self.series_name(s)).collect(),
            unit: self.spec.unit.clone(),
            values,
        }
    }

    /// The legend name of a series: its group's label values, or the metric.
    pub fn series_name(&self, s: &SeriesPoints) -> String {
        if s.labels.is_empty() {
            self.spec.title.clone()
        } else {
            s.labels.values().cloned().collect::<Vec<_>>().join(" · ")
        }
    }

    /// The latest value of each of the first `n` series: palette index, name, value with unit.
    pub fn latest(&self, n: usize) -> Vec<(usize, String, String)> {
        self.series
            .iter()
            .take(n)
            .enumerate()
            .filter_map(|(i, s)| {
                s.points.last().map(|(_, v)| {
                    (
                        i,
                        self.series_name(s),
                        format!("{} {}", format_value(*v), self.spec.unit)
                            .trim_end()
                            .to_string(),
                    )
                })
            })
            .collect()
    }

    /// Merges live points into the panel: a point at an existing time replaces it, newer ones
    /// are appended, and the window slides so it keeps its width.
    pub fn merge_live(&mut self, update: &[SeriesPoints], now: i64) {
        let width = self.to - self.from;
        for incoming in update {
            let scaled: Vec<(i64, f64)> = incoming
                .points
                .iter()
                .map(|(t, v)| (*t, v * self.spec.scale))
                .collect();
            match self.series.iter_mut().find(|s| s.labels == incoming.labels) {
                Some(existing) => merge_points(&mut existing.points, &scaled),
                None => self.series.push(SeriesPoints {
                    metric: incoming.metric.clone(),
                    labels: incoming.labels.clone(),
                    points: scaled,
                }),
            }
        }
        if now > self.to {
            self.to = now;
            self.from = now - width;
        }
        let from = self.from;
        for s in &mut self.series {
            s.points.retain(|(t, _)| *t >= from - self.step);
        }
        for b in &mut self.bands {
            b.points.retain(|(t, _, _)| *t >= from - self.step);
        }
        self.anomalies.retain(|m| m.ts >= from);
    }
}

/// One query a live stream follows, as `/api/v1/live/panels?q=` takes them (a JSON array).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveStream {
    pub id: String,
    pub metric: String,
    pub agg: String,
    #[serde(default)]
    pub group_by: Vec<String>,
    #[serde(default)]
    pub filter: Vec<(String, String)>,
    /// Bucket width in ms.
    pub step: i64,
}

impl LiveStream {
    pub fn of(panel: &PanelData) -> LiveStream {
        LiveStream::for_spec(&panel.spec, panel.step)
    }

    /// The stream of a panel not loaded yet, in buckets of `step` ms.
    pub fn for_spec(spec: &PanelSpec, step: i64) -> LiveStream {
        LiveStream {
            id: spec.id.clone(),
            metric: spec.metric.clone(),
            agg: spec.agg.clone(),
            group_by: spec.group_by.clone(),
            filter: spec.filter.clone(),
            step,
        }
    }
}

/// One `update` event of a multi-panel live stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PanelUpdate {
    pub panel: String,
    pub series: Vec<SeriesPoints>,
}

/// Inserts or replaces points by time, keeping `points` sorted.
pub fn merge_points(points: &mut Vec<(i64, f64)>, incoming: &[(i64, f64)]) {
    for &(t, v) in incoming {
        match points.binary_search_by_key(&t, |p| p.0) {
            Ok(i) => points[i].1 = v,
            Err(i) => points.insert(i, (t, v)),
        }
    }
}

/// What the Forecast page shows: the history and forecast drawn as one panel (the forecast as
/// a series labelled `forecast`, its 95 % and 80 % intervals as bands) and what it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastView {
    pub panel: PanelData,
    /// One line per series: the model, and when it reaches the threshold.
    pub notes: Vec<String>,
}

/// Horizons offered on the Forecast page: key, label, milliseconds.
pub const FORECAST_HORIZONS: [(&str, &str, i64); 5] = [
    ("1h", "1 hour", 3_600_000),
    ("6h", "6 hours", 21_600_000),
    ("1d", "1 day", 86_400_000),
    ("3d", "3 days", 3 * 86_400_000),
    ("7d", "7 days", 7 * 86_400_000),
];

/// Time ranges offered by the picker.
pub const RANGES: [(&str, &str, i64); 5] = [
    ("15m", "Last 15 minutes", 900_000),
    ("1h", "Last hour", 3_600_000),
    ("6h", "Last 6 hours", 21_600_000),
    ("24h", "Last 24 hours", 86_400_000),
    ("7d", "Last 7 days", 604_800_000),
];

/// The time range a page shows: a preset relative to now, or fixed bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TimeRange {
    Last(String),
    Fixed { from: i64, to: i64 },
}

impl Default for TimeRange {
    fn default() -> Self {
        TimeRange::Last("1h".into())
    }
}

impl TimeRange {
    /// Reads `range=6h` or `from=…&to=…` (unix ms or `YYYY-MM-DDTHH:MM` in UTC) from a URL query.
    pub fn from_query(range: Option<&str>, from: Option<&str>, to: Option<&str>) -> TimeRange {
        if let (Some(f), Some(t)) = (from.and_then(parse_instant), to.and_then(parse_instant)) {
            if t > f {
                return TimeRange::Fixed { from: f, to: t };
            }
        }
        match range {
            Some(r) if RANGES.iter().any(|(k, _, _)| *k == r) => TimeRange::Last(r.to_string()),
            _ => TimeRange::default(),
        }
    }

    /// Bounds in unix ms.
    pub fn bounds(&self, now: i64) -> (i64, i64) {
        match self {
            TimeRange::Last(key) => {
                let width = RANGES
                    .iter()
                    .find(|(k, _, _)| k == key)
                    .map(|r| r.2)
                    .unwrap_or(3_600_000);
                (now - width, now)
            }
            TimeRange::Fixed { from, to } => (*from, *to),
        }
    }

    pub fn label(&self) -> String {
        match self {
            TimeRange::Last(key) => RANGES
                .iter()
                .find(|(k, _, _)| k == key)
                .map(|r| r.1.to_string())
                .unwrap_or_default(),
            TimeRange::Fixed { from, to } => {
                format!("{} → {} UTC", format_datetime(*from), format_datetime(*to))
            }
        }
    }

    /// Live updates only make sense while the range ends now.
    pub fn is_live_capable(&self) -> bool {
        matches!(self, TimeRange::Last(_))
    }
}

/// The instants a URL may name: years 0 to 9999, so that date arithmetic on them cannot overflow.
pub const INSTANTS: std::ops::RangeInclusive<i64> = -62_167_219_200_000..=253_402_300_799_999;

/// Parses unix ms or `YYYY-MM-DDTHH:MM[:SS]` (as `<input type=datetime-local>` sends it) as UTC,
/// within [`INSTANTS`].
pub fn parse_instant(text: &str) -> Option<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return INSTANTS.contains(&ms).then_some(ms);
    }
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hh, mm) = (t.next()??, t.next()??);
    let ss = t.next().flatten().unwrap_or(0);
    if !(0..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || !(0..=23).contains(&hh)
        || !(0..=59).contains(&mm)
        || !(0..=59).contains(&ss)
    {
        return None;
    }
    Some(days_from_civil(y, m, day) * 86_400_000 + (hh * 3600 + mm * 60 + ss) * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `HH:MM` in UTC.
pub fn format_time(ms: i64) -> String {
    let mins = ms.div_euclid(60_000).rem_euclid(1440);
    format!("{:02}:{:02}", mins / 60, mins % 60)
}

/// Percent-encodes text for a URL's query string: everything but the unreserved characters.
pub fn query_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn format_datetime(ms: i64) -> String {
    let (y, m, d) = civil_from_days(ms.div_euclid(86_400_000));
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A short number for axes and legends: `950`, `1.2k`, `3.4M`, `0.012`.
pub fn format_value(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panel(step: i64, series: Vec<(&str, Vec<(i64, f64)>)>) -> PanelData {
        PanelData {
            spec: PanelSpec {
                id: "p".into(),
                title: "Latency".into(),
                unit: "ms".into(),
                metric: "latency".into(),
                agg: "avg".into(),
                group_by: vec!["service".into()],
                filter: vec![],
                scale: 1.0,
                viz: Viz::Surface,
            },
            from: 0,
            to: 600,
            step,
            series: series
                .into_iter()
                .map(|(name, points)| SeriesPoints {
                    metric: "latency".into(),
                    labels: [("service".to_string(), name.to_string())].into(),
                    points,
                })
                .collect(),
            bands: vec![],
            anomalies: vec![],
        }
    }

    #[test]
    fn a_grid_has_a_row_per_series_and_fills_gaps_with_the_value_before() {
        let data = panel(
            100,
            vec![
                ("web", vec![(100, 2.0), (150, 4.0), (400, 7.0)]),
                ("api", vec![]),
            ],
        );
        let grid = data.grid(100, 10);
        assert_eq!((grid.cols, grid.rows()), (6, 2));
        assert_eq!(grid.names, vec!["web", "api"]);
        assert_eq!(
            grid.values,
            vec![3.0, 3.0, 3.0, 3.0, 7.0, 7.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
        );
        assert_eq!(grid.extent(), Some((0.0, 7.0)));
    }

    #[test]
    fn a_grid_merges_steps_finer_than_its_columns_and_keeps_the_first_rows() {
        let points = (0..600).map(|t| (t, t as f64)).collect();
        let data = panel(1, vec![("web", points), ("api", vec![]), ("db", vec![])]);
        let grid = data.grid(3, 2);
        assert_eq!((grid.cols, grid.rows()), (3, 2));
        assert_eq!(&grid.values[..3], &[99.5, 299.5, 499.5]);
    }

    #[test]
    fn civil_dates_round_trip() {
        for day in [-1000, 0, 19_000, 20_419, 60_000] {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m as i64, d as i64), day);
        }
        assert_eq!(format_datetime(1_795_780_800_000), "2026-11-27 12:00:00");
        assert_eq!(parse_instant("2026-11-27T12:00"), Some(1_795_780_800_000));
        assert_eq!(parse_instant("2026-13-27T12:00"), None);
        // Far-off instants from a URL are refused, so no date arithmetic on them overflows.
        assert_eq!(parse_instant("-1000000000000000000"), None);
        assert_eq!(parse_instant("9223372036854775807"), None);
        assert_eq!(parse_instant("99999-01-01T00:00"), None);
        assert_eq!(parse_instant("-9223372036854775808-01-01T00:00"), None);
        assert_eq!(
            parse_instant("9999-12-31T23:59:59"),
            Some(*INSTANTS.end() - 999)
        );
    }

    #[test]
    fn ranges_from_query() {
        assert_eq!(
            TimeRange::from_query(Some("6h"), None, None),
            TimeRange::Last("6h".into())
        );
        assert_eq!(
            TimeRange::from_query(Some("bogus"), None, None),
            TimeRange::default()
        );
        assert_eq!(
            TimeRange::from_query(None, Some("1000"), Some("2000")),
            TimeRange::Fixed {
                from: 1000,
                to: 2000
            }
        );
        assert_eq!(
            TimeRange::Last("15m".into()).bounds(1_000_000),
            (100_000, 1_000_000)
        );
    }

    #[test]
    fn live_points_merge_by_time() {
        let mut p = vec![(1, 1.0), (3, 3.0)];
        merge_points(&mut p, &[(3, 4.0), (2, 2.0), (5, 5.0)]);
        assert_eq!(p, vec![(1, 1.0), (2, 2.0), (3, 4.0), (5, 5.0)]);
    }

    #[test]
    fn values_format_compactly() {
        assert_eq!(format_value(1234.0), "1234");
        assert_eq!(format_value(12_345.0), "12.3k");
        assert_eq!(format_value(0.5), "0.500");
        assert_eq!(format_value(42.25), "42.2");
    }
}

/// One alert rule's state, as `GET /api/v1/alerts` and the Alerts page show it: the most
/// urgent state of its instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertView {
    pub rule_id: String,
    pub name: String,
    pub severity: String,
    /// `normal`, `pending`, `firing`, `recovering` or `nodata`.
    pub state: String,
    /// The rule's condition in words: `avg http.latency_ms > 500`.
    #[serde(default)]
    pub condition: String,
    pub instances: Vec<InstanceView>,
}

/// One alert instance (rule × label set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceView {
    pub labels: Labels,
    pub state: String,
    pub since: Option<i64>,
    pub value: Option<f64>,
    pub flapping: bool,
}

/// An incident; `timeline` is filled when one incident is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentView {
    pub id: String,
    pub title: String,
    /// `SEV1` … `SEV5`.
    pub severity: String,
    /// `triggered`, `acknowledged` or `resolved`.
    pub status: String,
    pub assignee: Option<String>,
    pub rule_id: Option<String>,
    pub dedup_key: String,
    pub opened_at: i64,
    pub acknowledged_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub escalation_level: i64,
    pub postmortem: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
}

/// One entry of an incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    pub ts: i64,
    /// `opened`, `alert`, `acknowledged`, `resolved`, `note`, `notified`, `delivered`,
    /// `delivery_failed`, `escalated`, `assigned`, `severity`, `postmortem`.
    pub kind: String,
    pub message: String,
    pub actor: Option<String>,
}

/// A rule's backtest: how it would have fired over stored history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    pub from: i64,
    pub to: i64,
    pub step_ms: i64,
    /// Evaluations simulated, over all groups.
    pub evaluations: usize,
    /// Times an instance started firing.
    pub firings: usize,
    pub episodes: Vec<Episode>,
}

/// One firing episode of a backtest; `end` is `None` when still firing at the range's end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Episode {
    pub labels: Labels,
    pub start: i64,
    pub end: Option<i64>,
    /// The most extreme value seen while firing.
    pub peak: Option<f64>,
}

/// A notification channel as listed (secrets redacted).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelView {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub config: serde_json::Value,
    pub created_at: i64,
}

/// A notification in the outbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryView {
    pub id: i64,
    pub channel_id: String,
    pub incident_id: Option<String>,
    pub title: String,
    /// `pending`, `delivered` or `dead`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// A silence as listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceView {
    pub id: String,
    /// Each matcher as text: `service="api"`, `alertname=~"latency.*"`.
    pub matchers: Vec<String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub comment: String,
    pub created_by: String,
}

/// One recorded change of an alert instance's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransitionView {
    pub labels: Labels,
    pub ts: i64,
    pub from: String,
    pub to: String,
    pub value: Option<f64>,
}

/// Who is looking at a page, as the server established it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Who {
    /// A username, or `anonymous`.
    pub name: String,
    /// `viewer`, `editor` or `admin`; empty when nobody may read.
    pub role: String,
    pub signed_in: bool,
}

impl Who {
    /// Whether this person may change things (rules, channels, incidents…).
    pub fn can_edit(&self) -> bool {
        matches!(self.role.as_str(), "editor" | "admin")
    }
}

/// A user as listed: never the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserView {
    pub id: String,
    pub username: String,
    pub role: String,
    pub disabled: bool,
    pub created_at: i64,
}

/// A key as listed: a short id and the prefix, never the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    /// `ingest`, `read` or `admin`.
    pub scope: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// One line of the Dashboards list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardItem {
    pub id: String,
    pub title: String,
    pub panels: usize,
    pub updated_at: i64,
}

/// A dashboard variable with the values it may take and the one chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariableChoice {
    pub name: String,
    /// The label whose values fill it.
    pub label: String,
    pub values: Vec<String>,
    /// Empty: any value (the filter that names it is left out).
    pub current: String,
}

/// A panel of a dashboard: its query (variables already filled in), how it is drawn, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardPanelLayout {
    pub spec: PanelSpec,
    pub viz: String,
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// A dashboard ready to load its panels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardLayout {
    pub id: String,
    pub title: String,
    pub description: String,
    /// The range the dashboard opens on when the URL names none.
    pub default_range: TimeRange,
    pub variables: Vec<VariableChoice>,
    pub panels: Vec<DashboardPanelLayout>,
}

/// What an embed page shows: one panel, or some panels of one dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EmbedTarget {
    Panel(String),
    /// The dashboard and the panels asked for (all the token allows when empty).
    Dashboard {
        id: String,
        panels: Vec<String>,
    },
}

impl EmbedTarget {
    /// Dashboard `id`'s panels named in a `panels=a,b` parameter (all the token allows when none).
    pub fn dashboard(id: String, panels: Option<&str>) -> EmbedTarget {
        let panels = panels
            .map(|p| {
                p.split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        EmbedTarget::Dashboard { id, panels }
    }
}

/// An embed page: the `frame-ancestors` it is served with, and its panels (or why not).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedPage {
    pub frame_ancestors: String,
    pub content: Result<EmbedView, String>,
    /// The HTTP status of the page: a refused embed says why, and frames, caches and monitors
    /// see that it failed.
    pub status: u16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedView {
    pub title: String,
    pub range: TimeRange,
    pub panels: Vec<(DashboardPanelLayout, PanelData)>,
}

/// An embed of a dashboard as its editors see it: the grant and its iframe address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbedLink {
    pub id: String,
    /// Titles of the panels it shows.
    pub panels: Vec<String>,
    /// Variables it locks.
    pub vars: Vec<(String, String)>,
    pub origins: Vec<String>,
    pub created_by: String,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
    /// Path and query of the embed (`/embed/…?token=…`).
    pub url: String,
}

/// A key just created or rotated: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKey {
    pub key: KeyView,
    pub secret: String,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditView {
    pub time: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: Option<String>,
    pub detail: String,
}

// ---- errors, traces and logs --------------------------------------------------------------------

/// One issue: the occurrences of an error that share a fingerprint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroupView {
    /// The fingerprint (16 hex digits).
    pub group_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The latest occurrence's message.
    pub message: String,
    /// The top in-app frame of the latest occurrence.
    pub culprit: String,
    pub service: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub count: i64,
    /// Distinct `user_id`s of its occurrences.
    pub users: i64,
    /// `unresolved`, `resolved` or `ignored`.
    pub status: String,
    pub first_release: Option<String>,
    pub last_release: Option<String>,
    /// The release it was resolved in, when it was resolved with releases known.
    pub resolved_release: Option<String>,
    /// When it last came back after being resolved.
    pub regressed_at: Option<i64>,
    /// Occurrences per bucket over the listing's window (24 buckets), oldest first.
    #[serde(default)]
    pub sparkline: Vec<i64>,
}

/// One occurrence of an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorOccurrence {
    pub timestamp: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    pub stacktrace: Vec<FrameView>,
    pub tags: Labels,
    /// The batch's context: service, environment, release, host, session_id, user_id.
    pub labels: Labels,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
}

/// One stack frame, innermost first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameView {
    #[serde(default)]
    pub function: Option<String>,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub line: Option<u32>,
    #[serde(default)]
    pub column: Option<u32>,
    #[serde(default)]
    pub in_app: Option<bool>,
}

/// An issue with its recent occurrences and how they spread over tag values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroupDetail {
    #[serde(flatten)]
    pub group: ErrorGroupView,
    pub occurrences: Vec<ErrorOccurrence>,
    /// Per tag or context label: its values among the recent occurrences, most common first.
    pub tags: BTreeMap<String, Vec<(String, i64)>>,
}

/// One span of a trace, as `GET /api/v1/traces/{trace_id}` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanView {
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    pub service: String,
    /// Unix milliseconds.
    pub start: i64,
    pub duration_ms: f64,
    /// `ok`, `error` or `unset`.
    pub status: String,
    pub attributes: serde_json::Value,
}

/// A trace as trace search lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    pub trace_id: String,
    /// The root span's name and service (the earliest span's when the root is missing).
    pub name: String,
    pub service: String,
    pub start: i64,
    pub duration_ms: f64,
    pub spans: i64,
    pub errors: i64,
}

/// A service's requests over a range, from its entry spans (spans without a parent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStats {
    pub service: String,
    pub requests: i64,
    pub errors: i64,
    /// `errors / requests`, 0 to 1.
    pub error_rate: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
}

/// Spans as the scatter draws them, decoded from `GET /api/v1/spans/points` (the server's
/// `pack_points` writes that format).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpanPoints {
    /// Unix ms that `starts` count from.
    pub origin: i64,
    pub starts: Vec<f32>,
    pub durations_ms: Vec<f32>,
    pub failed: Vec<bool>,
    pub truncated: bool,
}

impl SpanPoints {
    pub fn decode(bytes: &[u8]) -> Option<SpanPoints> {
        let origin = i64::from_le_bytes(bytes.get(0..8)?.try_into().ok()?);
        let count = u32::from_le_bytes(bytes.get(8..12)?.try_into().ok()?) as usize;
        let truncated = *bytes.get(12)? == 1;
        let body = bytes.get(16..)?;
        if body.len() != count.checked_mul(9)? {
            return None;
        }
        let floats = |at: usize| -> Vec<f32> {
            body[at..at + count * 4]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect()
        };
        Some(SpanPoints {
            origin,
            starts: floats(0),
            durations_ms: floats(count * 4),
            failed: body[count * 8..].iter().map(|&b| b == 1).collect(),
            truncated,
        })
    }

    pub fn len(&self) -> usize {
        self.starts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
}

/// One span found in a region of the span scatter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanHit {
    pub trace_id: String,
    pub span_id: String,
    pub name: String,
    pub service: String,
    pub start: i64,
    pub duration_ms: f64,
    pub status: String,
}

/// Requests over time by latency, counted from entry spans: what the latency surface and the
/// latency heatmap draw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySurface {
    pub from: i64,
    pub to: i64,
    /// Columns: equal slices of `[from, to)`, oldest first.
    pub cols: usize,
    /// Row `r` counts requests that took `bounds_ms[r]` up to `bounds_ms[r + 1]` (log-spaced).
    pub bounds_ms: Vec<f64>,
    /// Requests per cell, row-major from the fastest row.
    pub counts: Vec<u32>,
    pub requests: u64,
    /// More requests were in the range than were read.
    pub truncated: bool,
}

impl LatencySurface {
    pub fn rows(&self) -> usize {
        self.bounds_ms.len().saturating_sub(1)
    }
}

/// One log record, as `GET /api/v1/logs` returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogView {
    pub timestamp: i64,
    pub severity: String,
    pub body: String,
    pub service: String,
    pub attributes: serde_json::Value,
    pub trace_id: Option<String>,
    pub span_id: Option<String>,
}

/// One update of a live log tail (`GET /api/v1/logs/live`): the new matching records, newest
/// first, and how many more matched than an update carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogTailUpdate {
    pub logs: Vec<LogView>,
    pub skipped: usize,
}
