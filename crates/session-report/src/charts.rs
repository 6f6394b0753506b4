//! SVG charts of an [`Analysis`], drawn with plotters into strings (no files, no system fonts:
//! text is written as SVG `<text>` and laid out by the viewer). Money and durations become
//! `f64` here only as plotting coordinates.

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use trading_core::Timestamp;

use crate::analysis::{money, Analysis, FunnelSource};
use crate::ReportError;

/// One rendered chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    /// File name inside `charts/`.
    pub file_name: &'static str,
    /// What it shows (also its Markdown alt text).
    pub title: &'static str,
    /// The SVG document.
    pub svg: String,
}

const SIZE: (u32, u32) = (900, 480);
const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(230, 120, 20);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const GREY: RGBColor = RGBColor(120, 120, 120);

type Draw = Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Renders every chart of the report, in report order.
pub fn render_charts(a: &Analysis) -> Result<Vec<Chart>, ReportError> {
    type Painter = fn(&Analysis, &mut String) -> Draw;
    let list: [(&'static str, &'static str, Painter); 5] = [
        ("cycle_time.svg", "Market-data cycle time over the session", cycle_time),
        ("cycle_histogram.svg", "Distribution of overrun cycle times", cycle_histogram),
        ("equity.svg", "Equity curve (cumulative realized PnL)", equity),
        ("funnel.svg", "Decision funnel", funnel),
        ("drop_depth.svg", "Deepest drop per symbol against the trigger", drop_depth),
    ];
    list.into_iter()
        .map(|(file_name, title, paint)| {
            let mut svg = String::new();
            paint(a, &mut svg).map_err(|message| ReportError::Chart { chart: file_name, message })?;
            Ok(Chart { file_name, title, svg })
        })
        .collect()
}

fn minutes_since(start: Option<Timestamp>, at: Timestamp) -> f64 {
    start.map_or(0.0, |s| at.millis_since(s) as f64 / 60_000.0)
}

fn session_minutes(a: &Analysis) -> f64 {
    (a.session.duration_ms as f64 / 60_000.0).max(1.0)
}

fn to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

fn caption_style() -> TextStyle<'static> {
    ("sans-serif", 22).into_font().into()
}

fn cycle_time(a: &Analysis, out: &mut String) -> Draw {
    let md = &a.market_data;
    let target_s = md.target_ms.map(|t| t as f64 / 1000.0);
    let x_max = session_minutes(a);
    let points: Vec<(f64, f64)> = md
        .overruns
        .iter()
        .map(|o| (minutes_since(a.session.start, o.at), o.cycle_ms as f64 / 1000.0))
        .collect();
    let thinned = points.len() > MAX_POINTS;
    let points = if thinned { worst_per_bucket(&points, x_max, MAX_POINTS / 2) } else { points };
    let y_max = points.iter().map(|p| p.1).fold(target_s.unwrap_or(1.0), f64::max) * 1.2;
    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let caption = if points.is_empty() {
        "Market-data cycle time: no overrun cycle (all within target)"
    } else if thinned {
        "Market-data cycle time (worst overrun cycle per time slot)"
    } else {
        "Market-data cycle time (overrun cycles; cycles within target emit no event)"
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, caption_style())
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("session time (minutes)")
        .y_desc("cycle duration (s)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    if !points.is_empty() {
        chart
            .draw_series(points.iter().map(|&(x, y)| Circle::new((x, y), 3, ORANGE.filled())))
            .map_err(err)?
            .label("overrun cycle")
            .legend(|(x, y)| Circle::new((x + 10, y), 4, ORANGE.filled()));
    }
    if let Some(t) = target_s {
        chart
            .draw_series(LineSeries::new([(0.0, t), (x_max, t)], BLUE.stroke_width(2)))
            .map_err(err)?
            .label(format!("target MD_POLL_MS = {t} s"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

/// Above this many overrun points the scatter keeps the worst cycle per time slot, so the SVG
/// stays small (a 24-hour session can overrun tens of thousands of times).
const MAX_POINTS: usize = 4000;

/// The slowest point in each of `slots` equal slices of `0..x_max`, in time order.
fn worst_per_bucket(points: &[(f64, f64)], x_max: f64, slots: usize) -> Vec<(f64, f64)> {
    let mut worst: Vec<Option<(f64, f64)>> = vec![None; slots];
    for &(x, y) in points {
        let i = ((x / x_max * slots as f64).floor().max(0.0) as usize).min(slots - 1);
        if worst[i].is_none_or(|w| y > w.1) {
            worst[i] = Some((x, y));
        }
    }
    worst.into_iter().flatten().collect()
}

/// Histogram of `values` over `0..upper` in `n` equal bins: `(bin width, counts)`; values at or
/// above `upper` land in the last bin.
fn bins(values: &[f64], upper: f64, n: usize) -> (f64, Vec<u64>) {
    let width = (upper / n as f64).max(f64::MIN_POSITIVE);
    let mut counts = vec![0u64; n];
    for &v in values {
        let i = ((v / width).floor().max(0.0) as usize).min(n - 1);
        counts[i] += 1;
    }
    (width, counts)
}

fn cycle_histogram(a: &Analysis, out: &mut String) -> Draw {
    let md = &a.market_data;
    let values: Vec<f64> = md.overruns.iter().map(|o| o.cycle_ms as f64 / 1000.0).collect();
    let target_s = md.target_ms.map(|t| t as f64 / 1000.0);
    let upper = values.iter().copied().fold(target_s.unwrap_or(1.0), f64::max) * 1.1;
    let (width, counts) = bins(&values, upper, 24);
    let y_max = (counts.iter().copied().max().unwrap_or(0).max(4) * 23).div_ceil(20);
    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let caption = if values.is_empty() {
        "Overrun cycle durations: none (every cycle within target)"
    } else {
        "Overrun cycle durations"
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, caption_style())
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(0.0..upper, 0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("cycle duration (s)")
        .y_desc("overrun cycles (count)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    let series = chart
        .draw_series(counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, &c)| {
            let x0 = i as f64 * width;
            Rectangle::new([(x0, 0), (x0 + width * 0.92, c)], ORANGE.filled())
        }))
        .map_err(err)?;
    if counts.iter().any(|c| *c > 0) {
        series
            .label("overrun cycles")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], ORANGE.filled()));
    }
    if let Some(t) = target_s {
        chart
            .draw_series(LineSeries::new([(t, 0), (t, y_max)], BLUE.stroke_width(2)))
            .map_err(err)?
            .label(format!("target {t} s"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

fn equity(a: &Analysis, out: &mut String) -> Draw {
    let mut points = vec![(0.0, 0.0)];
    let mut last = 0.0;
    for (at, cum) in &a.trading.equity {
        let x = minutes_since(a.session.start, *at);
        points.push((x, last));
        last = to_f64(*cum);
        points.push((x, last));
    }
    let x_max = session_minutes(a);
    points.push((x_max, last));
    let lo = points.iter().map(|p| p.1).fold(0.0, f64::min);
    let hi = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let pad = ((hi - lo) * 0.1).max(1.0);
    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let caption = if a.trading.trades.is_empty() {
        "Equity curve: no closed trade".to_owned()
    } else {
        format!("Equity curve: {} trades, realized PnL {} USDT", a.trading.trades.len(), money(a.trading.pnl))
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, caption_style())
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(75)
        .build_cartesian_2d(0.0..x_max, (lo - pad)..(hi + pad))
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("session time (minutes)")
        .y_desc("cumulative realized PnL (USDT)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    chart.draw_series(LineSeries::new([(0.0, 0.0), (x_max, 0.0)], GREY.stroke_width(1))).map_err(err)?;
    chart.draw_series(LineSeries::new(points, GREEN.stroke_width(2))).map_err(err)?;
    root.present().map_err(err)
}

/// The funnel's stages as (label, count), top to bottom.
/// `None` is a count the events do not carry (ticks evaluated without a `FUNNEL_SNAPSHOT`).
pub(crate) fn funnel_stages(a: &Analysis) -> Vec<(&'static str, Option<u64>)> {
    let f = &a.funnel;
    let blocked: u64 = f.blocked_by_guard.values().sum::<u64>().max(f.guard_events.values().sum());
    let evaluated = (f.source != FunnelSource::None).then_some(f.evaluated);
    vec![
        ("ticks evaluated", evaluated),
        ("drops (below trigger)", Some(f.drops)),
        ("blocked by guards", Some(blocked)),
        ("passed guards (fired)", Some(f.fired)),
        ("budget blocks", Some(f.budget_blocks)),
        ("buy intents", Some(f.buy_intents)),
        ("buy orders", Some(f.buy_orders)),
        ("buy fills", Some(f.buy_fills)),
        ("exits (positions closed)", Some(f.exits)),
    ]
}

fn funnel(a: &Analysis, out: &mut String) -> Draw {
    let stages = funnel_stages(a);
    let n = stages.len() as i32;
    let max = stages.iter().filter_map(|s| s.1).max().unwrap_or(1).max(10) as f64;
    let root = SVGBackend::with_string(out, (900, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Decision funnel (log scale)", caption_style())
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(190)
        .build_cartesian_2d((1.0..max * 8.0).log_scale(), (0..n - 1).into_segmented())
        .map_err(err)?;
    let names: Vec<&str> = stages.iter().map(|s| s.0).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("count (events or ticks, log scale)")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_labels(stages.len())
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => usize::try_from(n - 1 - *i)
                .ok()
                .and_then(|k| names.get(k))
                .map_or_else(String::new, |s| (*s).to_owned()),
            _ => String::new(),
        })
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    let bars =
        stages.iter().enumerate().filter_map(|(k, s)| Some((k, s.1.filter(|v| *v > 0)?))).map(|(k, v)| {
            let row = n - 1 - k as i32;
            let color = if k == 2 || k == 4 { ORANGE } else { BLUE };
            Rectangle::new(
                [(1.0, SegmentValue::Exact(row)), (v as f64, SegmentValue::Exact(row + 1))],
                color.mix(0.8).filled(),
            )
        });
    chart.draw_series(bars).map_err(err)?;
    let labels = stages.iter().enumerate().map(|(k, s)| {
        let row = n - 1 - k as i32;
        let (text, x) = match s.1 {
            Some(v) => (format!(" {v}"), (v as f64).max(1.0) * 1.1),
            None => (" unknown (no FUNNEL_SNAPSHOT)".to_owned(), 1.1),
        };
        Text::new(text, (x, SegmentValue::CenterOf(row)), ("sans-serif", 14).into_font())
    });
    chart.draw_series(labels).map_err(err)?;
    root.present().map_err(err)
}

fn drop_depth(a: &Analysis, out: &mut String) -> Draw {
    let f = &a.funnel;
    let depths: Vec<f64> =
        f.deepest.iter().map(|d| to_f64((Decimal::ONE - d.ratio) * Decimal::ONE_HUNDRED)).collect();
    let threshold = f.trigger.map(|t| to_f64((Decimal::ONE - t) * Decimal::ONE_HUNDRED));
    let upper = depths.iter().copied().fold(threshold.unwrap_or(1.0), f64::max) * 1.15;
    let (width, counts) = bins(&depths, upper, 24);
    let y_max = (counts.iter().copied().max().unwrap_or(0).max(4) * 23).div_ceil(20);
    let root = SVGBackend::with_string(out, SIZE).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let caption = if depths.is_empty() {
        "Deepest drop per symbol: no FUNNEL_SNAPSHOT data".to_owned()
    } else {
        format!("Deepest drop per symbol ({} symbols)", depths.len())
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, caption_style())
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(65)
        .build_cartesian_2d(0.0..upper, 0..y_max)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("deepest drop below the reference (%)")
        .y_desc("symbols (count)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .draw()
        .map_err(err)?;
    let series = chart
        .draw_series(counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, &c)| {
            let x0 = i as f64 * width;
            Rectangle::new([(x0, 0), (x0 + width * 0.92, c)], BLUE.mix(0.8).filled())
        }))
        .map_err(err)?;
    if counts.iter().any(|c| *c > 0) {
        series.label("symbols").legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], BLUE.filled()));
    }
    if let Some(t) = threshold {
        chart
            .draw_series(LineSeries::new([(t, 0), (t, y_max)], RED.stroke_width(2)))
            .map_err(err)?
            .label(format!("trigger: {t:.2} % drop"))
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_worst_point_of_each_slot_in_time_order() {
        let points = [(0.1, 2.0), (0.4, 9.0), (0.6, 3.0), (5.5, 1.0), (9.99, 4.0), (9.0, 7.0)];
        assert_eq!(worst_per_bucket(&points, 10.0, 10), vec![(0.4, 9.0), (5.5, 1.0), (9.0, 7.0)]);
    }

    #[test]
    fn bins_clamp_the_maximum_into_the_last_bin() {
        let (width, counts) = bins(&[0.0, 0.5, 0.99, 1.0], 1.0, 2);
        assert_eq!((width, counts), (0.5, vec![1, 3]));
    }
}
