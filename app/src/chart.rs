//! Time-series charts drawn with plotters: the same code draws the server's SVG (so a page is
//! readable before any wasm arrives) and the island's canvas.

use crate::downsample::lttb;
use crate::model::{format_time, format_value, PanelData, Viz};
use plotters::coord::types::{RangedCoordf64, RangedCoordi64};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Colours of one chart.
#[derive(Debug, Clone, Copy)]
pub struct ChartColors {
    pub background: RGBColor,
    pub grid: RGBColor,
    pub axis: RGBColor,
    pub text: RGBColor,
}

/// Series colours, readable on both the dark and the light theme.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0x4c, 0x9a, 0xff),
    RGBColor(0xf5, 0x9e, 0x0b),
    RGBColor(0x10, 0xb9, 0x81),
    RGBColor(0xef, 0x44, 0x44),
    RGBColor(0xa8, 0x55, 0xf7),
    RGBColor(0x06, 0xb6, 0xd4),
    RGBColor(0xec, 0x48, 0x99),
    RGBColor(0x84, 0xcc, 0x16),
];

/// Stand-in colours for the server's SVG, replaced by CSS variables afterwards so one SVG
/// follows whichever theme the page shows.
pub const SVG_COLORS: ChartColors = ChartColors {
    background: RGBColor(0x01, 0x01, 0x01),
    grid: RGBColor(0x02, 0x02, 0x02),
    axis: RGBColor(0x03, 0x03, 0x03),
    text: RGBColor(0x04, 0x04, 0x04),
};

/// Where the plot landed on the drawing, to map pointer positions back to data.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Geometry {
    pub left: i32,
    pub right: i32,
    pub top: i32,
    pub bottom: i32,
    pub from: i64,
    pub to: i64,
}

impl Geometry {
    /// The time under pixel column `x`, if it is inside the plot.
    pub fn time_at(&self, x: f64) -> Option<i64> {
        if x < self.left as f64 || x > self.right as f64 || self.right <= self.left {
            return None;
        }
        let frac = (x - self.left as f64) / (self.right - self.left) as f64;
        Some(self.from + (frac * (self.to - self.from) as f64) as i64)
    }
}

/// A round time step (1 min … 1 day) giving about five labels over `span` ms.
pub fn time_tick(span: i64) -> i64 {
    const STEPS: [i64; 12] = [
        60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000,
        21_600_000, 43_200_000, 86_400_000,
    ];
    let days = (span + 6 * 86_400_000 - 1) / (6 * 86_400_000);
    STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 6)
        .unwrap_or(86_400_000 * days.max(1))
}

/// The value axis: from zero when every value is positive, padded so lines don't touch edges.
fn value_range(data: &PanelData) -> (f64, f64) {
    let values = data
        .series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let lo = if lo >= 0.0 { 0.0 } else { lo };
    let span = (hi - lo).max(f64::EPSILON.max(hi.abs() * 0.1)).max(1e-9);
    (lo, hi + span * 0.1)
}

/// The colour of anomaly markers.
pub const ANOMALY: RGBColor = RGBColor(0xef, 0x44, 0x44);

/// The outline of a band (upper edge forward, lower edge back), kept inside the value axis.
fn band_polygon(points: &[(i64, f32, f32)], lo: f64, hi: f64) -> Option<Vec<(i64, f64)>> {
    if points.len() < 2 {
        return None;
    }
    let clamp = |v: f32| (v as f64).clamp(lo, hi);
    let upper = points.iter().map(|&(t, _, u)| (t, clamp(u)));
    let lower = points.iter().rev().map(|&(t, l, _)| (t, clamp(l)));
    Some(upper.chain(lower).collect())
}

/// Where each anomaly marker sits: on its group's line at the nearest drawn point.
pub fn marker_positions(data: &PanelData) -> Vec<(i64, f64)> {
    data.anomalies
        .iter()
        .filter(|m| m.ts >= data.from && m.ts <= data.to)
        .filter_map(|m| {
            let series = data
                .series
                .iter()
                .find(|s| s.labels == m.labels)
                .or_else(|| (data.series.len() == 1).then(|| &data.series[0]))?;
            nearest(&series.points, m.ts, data.step).map(|p| (m.ts, p.1))
        })
        .collect()
}

/// The point of `points` (sorted by time) closest to `t`, if within two steps of it.
pub fn nearest(points: &[(i64, f64)], t: i64, step: i64) -> Option<(i64, f64)> {
    let idx = points.partition_point(|p| p.0 < t);
    [idx.checked_sub(1), Some(idx)]
        .into_iter()
        .flatten()
        .filter_map(|j| points.get(j).copied())
        .min_by_key(|p| (p.0 - t).abs())
        .filter(|p| (p.0 - t).abs() <= step.max(1) * 2)
}

/// Draws a panel's series onto any plotters backend, as its visualisation asks (a table has no
/// chart; it is drawn as lines if asked).
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &PanelData,
    colors: &ChartColors,
) -> Result<Geometry, String> {
    match data.spec.viz {
        Viz::Stat => draw_sparkline(root, data, colors),
        Viz::Heatmap | Viz::Surface => draw_heatmap(root, data, colors),
        Viz::Line | Viz::Area | Viz::Bar | Viz::Table => draw_xy(root, data, colors),
    }
}

/// Colours from low to high values of a heatmap, readable on both themes.
const RAMP: [RGBColor; 5] = [
    RGBColor(0x1e, 0x3a, 0x8a),
    RGBColor(0x06, 0xb6, 0xd4),
    RGBColor(0x84, 0xcc, 0x16),
    RGBColor(0xfa, 0xcc, 0x15),
    RGBColor(0xef, 0x44, 0x44),
];

/// The ramp's colour at `f` in [0, 1].
pub fn ramp(f: f64) -> RGBColor {
    let f = if f.is_finite() {
        f.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let x = f * (RAMP.len() - 1) as f64;
    let i = (x.floor() as usize).min(RAMP.len() - 2);
    let t = x - i as f64;
    let (a, b) = (RAMP[i], RAMP[i + 1]);
    let mix = |p: u8, q: u8| (p as f64 + (q as f64 - p as f64) * t).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The smallest and largest value of every series, if there is any.
fn extent(data: &PanelData) -> Option<(f64, f64)> {
    crate::model::extent(
        data.series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1)),
    )
}

/// A heatmap: one row per series (named on the left), a cell per time step coloured by value.
fn draw_heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &PanelData,
    colors: &ChartColors,
) -> Result<Geometry, String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&colors.background).map_err(err)?;
    let rows = data.series.len().max(1);
    let mut chart = ChartBuilder::on(root)
        .margin_top(10)
        .margin_right(14)
        .margin_left(4)
        .x_label_area_size(24)
        .y_label_area_size(90)
        .build_cartesian_2d(data.from..data.to, 0f64..rows as f64)
        .map_err(err)?;
    let text = ("sans-serif", 11).into_font().color(&colors.text);
    time_axis(root, &chart, data, colors, 0.0)?;
    let (lo, hi) = extent(data).unwrap_or((0.0, 1.0));
    let span = (hi - lo).max(f64::EPSILON);
    let step = data.step.max(1);
    for (i, series) in data.series.iter().enumerate() {
        // The first series on top.
        let row = (rows - 1 - i) as f64;
        chart
            .draw_series(series.points.iter().map(|&(t, v)| {
                Rectangle::new(
                    [(t, row + 0.04), ((t + step).min(data.to), row + 0.96)],
                    ramp((v - lo) / span).filled(),
                )
            }))
            .map_err(err)?;
        let (x, y) = chart.backend_coord(&(data.from, row + 0.5));
        let mut name = data.series_name(series);
        if name.chars().count() > 14 {
            name = name.chars().take(13).chain(['…']).collect();
        }
        root.draw(&Text::new(
            name,
            (x - 6, y),
            text.pos(Pos::new(HPos::Right, VPos::Center)),
        ))
        .map_err(err)?;
    }
    finish(root, &chart, data)
}

/// A sparkline under a single stat: no axes, the series filled below their lines.
fn draw_sparkline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &PanelData,
    colors: &ChartColors,
) -> Result<Geometry, String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&colors.background).map_err(err)?;
    let (width, _) = root.dim_in_pixel();
    let (lo, hi) = value_range(data);
    let mut chart = ChartBuilder::on(root)
        .margin(4)
        .build_cartesian_2d(data.from..data.to, lo..hi)
        .map_err(err)?;
    for (i, series) in data.series.iter().take(4).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let points = lttb(&series.points, width as usize);
        chart
            .draw_series(AreaSeries::new(points.iter().copied(), lo, color.mix(0.2)))
            .map_err(err)?;
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?;
    }
    finish(root, &chart, data)
}

/// Shows what was drawn and says where the plot landed.
fn finish<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordi64, RangedCoordf64>>,
    data: &PanelData,
) -> Result<Geometry, String> {
    let (x, y) = chart.plotting_area().get_pixel_range();
    root.present().map_err(|e| e.to_string())?;
    Ok(Geometry {
        left: x.start,
        right: x.end,
        top: y.start,
        bottom: y.end,
        from: data.from,
        to: data.to,
    })
}

/// The time axis along the bottom of `chart`, labelled at round times.
fn time_axis<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &ChartContext<'_, DB, Cartesian2d<RangedCoordi64, RangedCoordf64>>,
    data: &PanelData,
    colors: &ChartColors,
    lo: f64,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let text = ("sans-serif", 11).into_font().color(&colors.text);
    let step = time_tick(data.to - data.from);
    let long_range = data.to - data.from > 2 * 86_400_000;
    let centred = text.pos(Pos::new(HPos::Center, VPos::Top));
    let (left, bottom) = chart.backend_coord(&(data.from, lo));
    let (right, _) = chart.backend_coord(&(data.to, lo));
    root.draw(&PathElement::new(
        vec![(left, bottom), (right, bottom)],
        colors.axis,
    ))
    .map_err(err)?;
    let mut t = (data.from + step - 1).div_euclid(step) * step;
    while t <= data.to {
        let (x, y) = chart.backend_coord(&(t, lo));
        let label = if long_range {
            let (_, m, d) = crate::model::civil_from_days(t.div_euclid(86_400_000));
            if step >= 86_400_000 {
                format!("{m:02}-{d:02}")
            } else {
                format!("{m:02}-{d:02} {}", format_time(t))
            }
        } else {
            format_time(t)
        };
        root.draw(&PathElement::new(vec![(x, y), (x, y + 4)], colors.axis))
            .map_err(err)?;
        root.draw(&Text::new(label, (x, y + 6), centred.clone()))
            .map_err(err)?;
        t += step;
    }
    Ok(())
}

/// Lines, areas or bars over time, with the value axis, bands and anomaly markers.
fn draw_xy<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &PanelData,
    colors: &ChartColors,
) -> Result<Geometry, String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&colors.background).map_err(err)?;
    let (width, _) = root.dim_in_pixel();
    let (lo, hi) = value_range(data);
    let mut chart = ChartBuilder::on(root)
        .margin_top(10)
        .margin_right(14)
        .margin_left(4)
        .x_label_area_size(24)
        .y_label_area_size(46)
        .build_cartesian_2d(data.from..data.to, lo..hi)
        .map_err(err)?;
    let text = ("sans-serif", 11).into_font().color(&colors.text);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(colors.grid)
        .light_line_style(colors.grid.mix(0.0))
        .axis_style(colors.axis)
        // The time axis is drawn below, labelled at round times (plotters picks round milliseconds).
        .disable_x_axis()
        .y_labels(5)
        .y_label_formatter(&|v| format_value(*v))
        .label_style(text.clone())
        .draw()
        .map_err(err)?;
    time_axis(root, &chart, data, colors, lo)?;
    let columns = width as usize;
    let single = data.series.len() == 1;
    let viz = data.spec.viz;
    let slots = data.series.len().max(1) as i64;
    // Bars of one step share its width, series side by side with a gap between steps.
    let slot = (data.step.max(1) * 8 / 10 / slots).max(1);
    for (i, series) in data.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        for band in data.bands.iter().filter(|b| b.labels == series.labels) {
            if let Some(polygon) = band_polygon(&band.points, lo, hi) {
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        polygon,
                        color.mix(if single { 0.18 } else { 0.10 }).filled(),
                    )))
                    .map_err(err)?;
            }
        }
        if viz == Viz::Bar {
            let base = 0f64.clamp(lo, hi);
            let offset = data.step.max(1) / 10 + slot * i as i64;
            chart
                .draw_series(series.points.iter().map(|&(t, v)| {
                    let x = t + offset;
                    Rectangle::new([(x, base), (x + slot, v.clamp(lo, hi))], color.filled())
                }))
                .map_err(err)?;
            continue;
        }
        let points = lttb(&series.points, columns);
        if single || viz == Viz::Area {
            let fill = if viz == Viz::Area { 0.25 } else { 0.15 };
            chart
                .draw_series(AreaSeries::new(points.iter().copied(), lo, color.mix(fill)))
                .map_err(err)?;
        }
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(err)?;
    }
    for (ts, value) in marker_positions(data) {
        chart
            .draw_series([
                Circle::new((ts, value), 5, ANOMALY.filled()),
                Circle::new((ts, value), 5, colors.background.stroke_width(2)),
            ])
            .map_err(err)?;
    }
    finish(root, &chart, data)
}

/// Renders a panel as a responsive SVG whose colours follow the page's theme.
#[cfg(feature = "ssr")]
pub fn svg(data: &PanelData, size: (u32, u32)) -> String {
    let mut out = String::new();
    {
        let backend = plotters::backend::SVGBackend::with_string(&mut out, size);
        let root = backend.into_drawing_area();
        if let Err(e) = draw(&root, data, &SVG_COLORS) {
            return format!(
                "<p class=\"chart-error\">cannot draw chart: {}</p>",
                crate::escape(&e)
            );
        }
    }
    themed(&out, size)
}

#[cfg(feature = "ssr")]
fn themed(svg: &str, (w, h): (u32, u32)) -> String {
    let mut s = svg.replacen(
        &format!("width=\"{w}\" height=\"{h}\""),
        "width=\"100%\" height=\"100%\" preserveAspectRatio=\"none\" role=\"img\"",
        1,
    );
    for (color, var) in [
        ("#010101", "--chart-bg"),
        ("#020202", "--chart-grid"),
        ("#030303", "--chart-axis"),
        ("#040404", "--chart-text"),
    ] {
        s = s.replace(
            &format!("fill=\"{color}\""),
            &format!("style=\"fill:var({var})\""),
        );
        s = s.replace(
            &format!("stroke=\"{color}\""),
            &format!("style=\"stroke:var({var})\""),
        );
    }
    s
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;
    use crate::model::{PanelSpec, SeriesPoints};

    fn panel(points: Vec<(i64, f64)>) -> PanelData {
        PanelData {
            spec: PanelSpec {
                id: "p".into(),
                title: "t".into(),
                unit: "ms".into(),
                metric: "m".into(),
                agg: "avg".into(),
                group_by: vec![],
                filter: vec![],
                scale: 1.0,
                viz: Default::default(),
            },
            from: 0,
            to: 60_000,
            step: 1_000,
            series: vec![SeriesPoints {
                metric: "m".into(),
                labels: Default::default(),
                points,
            }],
            bands: vec![],
            anomalies: vec![],
        }
    }

    #[test]
    fn svg_has_a_line_and_themed_colours() {
        let svg = svg(
            &panel((0..60).map(|i| (i * 1000, i as f64)).collect()),
            (600, 200),
        );
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(
            svg.contains("<polyline") || svg.contains("<path"),
            "no line drawn"
        );
        assert!(svg.contains("var(--chart-grid)"));
        assert!(!svg.contains("#020202"));
        assert!(svg.contains("width=\"100%\""));
    }

    #[test]
    fn time_labels_fall_on_round_times() {
        assert_eq!(time_tick(3_600_000), 600_000);
        assert_eq!(time_tick(900_000), 300_000);
        assert_eq!(time_tick(86_400_000), 21_600_000);
        assert_eq!(time_tick(21_600_000), 3_600_000);
        assert_eq!(time_tick(7 * 86_400_000), 86_400_000 * 2);
        let svg = svg(
            &panel((0..60).map(|i| (i * 1000, i as f64)).collect()),
            (600, 200),
        );
        assert!(svg.contains("00:00") && svg.contains("00:01"), "{svg}");
    }

    #[test]
    fn bands_and_anomaly_markers_are_drawn() {
        use crate::model::{Band, Marker};
        let mut data = panel((0..60).map(|i| (i * 1000, 10.0)).collect());
        let plain = svg(&data, (600, 200));
        data.bands = vec![Band {
            labels: Default::default(),
            points: (0..60).map(|i| (i * 1000, 8.0, 12.0)).collect(),
        }];
        data.anomalies = vec![Marker {
            ts: 30_400,
            labels: Default::default(),
            score: 0.9,
            explanation: "m 10 is above".into(),
        }];
        assert_eq!(marker_positions(&data), vec![(30_400, 10.0)]);
        let drawn = svg(&data, (600, 200));
        assert!(drawn.contains("<polygon"), "band expected");
        assert!(!plain.contains("<circle") && drawn.contains("<circle"));
        assert!(drawn.contains("#EF4444") || drawn.contains("#ef4444"));
        // A marker far from any point of its line is not drawn.
        data.anomalies[0].ts = 500_000;
        assert!(marker_positions(&data).is_empty());
    }

    fn grouped(viz: Viz, groups: &[&str]) -> PanelData {
        let mut data = panel(vec![]);
        data.spec.viz = viz;
        data.series = groups
            .iter()
            .enumerate()
            .map(|(g, name)| SeriesPoints {
                metric: "m".into(),
                labels: [("service".to_string(), name.to_string())].into(),
                points: (0..60)
                    .map(|i| (i * 1000, (i + g as i64 * 10) as f64))
                    .collect(),
            })
            .collect();
        data
    }

    #[test]
    fn bars_are_one_rectangle_per_point_side_by_side() {
        let lines = svg(&grouped(Viz::Line, &["a", "b"]), (600, 200));
        let bars = svg(&grouped(Viz::Bar, &["a", "b"]), (600, 200));
        let rects = |s: &str| s.matches("<rect").count();
        // Two series of 60 points, beside the background.
        assert!(rects(&bars) >= rects(&lines) + 120, "{}", rects(&bars));
        let lines_drawn = |s: &str| s.matches("<polyline").count();
        assert!(
            lines_drawn(&bars) < lines_drawn(&lines),
            "bars draw no lines"
        );
    }

    #[test]
    fn areas_fill_every_series() {
        let lines = svg(&grouped(Viz::Line, &["a", "b"]), (600, 200));
        let areas = svg(&grouped(Viz::Area, &["a", "b"]), (600, 200));
        let fills = |s: &str| s.matches("<polygon").count();
        assert_eq!(fills(&lines), 0, "several lines are not filled");
        assert_eq!(fills(&areas), 2);
    }

    #[test]
    fn a_heatmap_has_a_named_row_per_series_coloured_by_value() {
        let heat = svg(
            &grouped(Viz::Heatmap, &["api", "checkout", "web"]),
            (600, 200),
        );
        assert!(heat.matches("<rect").count() >= 180, "a cell per point");
        for name in ["api", "checkout", "web"] {
            assert!(heat.contains(name), "row {name} named");
        }
        // The lowest value gets the ramp's first colour, the highest its last.
        assert!(heat.to_uppercase().contains("#1E3A8A") && heat.to_uppercase().contains("#EF4444"));
        assert_eq!(ramp(0.0), RAMP[0]);
        assert_eq!(ramp(1.0), RAMP[4]);
        assert_eq!(ramp(f64::NAN), RAMP[0]);
        assert_eq!(ramp(0.5), RAMP[2]);
    }

    #[test]
    fn a_stat_sparkline_has_no_axes() {
        let spark = svg(&grouped(Viz::Stat, &["a"]), (300, 80));
        assert!(!spark.contains("<text"), "no labels");
        assert!(spark.contains("<polyline") || spark.contains("<path"));
    }

    #[test]
    fn empty_panels_still_draw_axes() {
        let svg = svg(&panel(vec![]), (600, 200));
        assert!(svg.contains("<text"), "axis labels expected");
    }
}
