//! SVG plots of a run (`--plot`): send→receive latency per second for the chat scenario, the
//! server's RSS over time for the idle one. The SVG backend writes text as SVG text, so no
//! system fonts are needed.

use super::stats::SecondLatency;
use crate::watch::procfs::ServerSample;
use anyhow::Context;
use plotters::prelude::*;
use std::path::Path;

const SIZE: (u32, u32) = (1000, 600);
/// One line of the latency plot: its label, colour and value per second.
type Line = (&'static str, RGBColor, fn(&SecondLatency) -> f64);
/// The lowest latency the log axis shows; lower values are drawn at it.
const FLOOR_MS: f64 = 0.01;

/// Latency per second of the run: p50, p99 and max, log-scaled milliseconds.
pub fn latency(path: &Path, series: &[SecondLatency], title: &str) -> anyhow::Result<()> {
    let last_second = series.iter().map(|s| s.second).max().unwrap_or(0) as f64 + 1.0;
    let lowest = series
        .iter()
        .map(|s| s.p50_ms)
        .fold(f64::INFINITY, f64::min);
    let highest = series.iter().map(|s| s.max_ms).fold(0.0, f64::max);
    let (y_min, y_max) = log_range(lowest, highest);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..last_second, (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("second of the run (send time)")
        .y_desc("send→receive latency (ms)")
        .y_label_formatter(&|ms| format!("{ms}"))
        .draw()?;
    let lines: [Line; 3] = [
        ("p50", BLUE, |s| s.p50_ms),
        ("p99", RGBColor(230, 140, 0), |s| s.p99_ms),
        ("max", RED, |s| s.max_ms),
    ];
    for (label, color, value) in lines {
        let points = series
            .iter()
            .map(|s| (s.second as f64 + 0.5, value(s).max(FLOOR_MS)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The server's RSS over the run, in MiB.
pub fn rss(path: &Path, samples: &[ServerSample], title: &str) -> anyhow::Result<()> {
    let mib = |s: &ServerSample| s.rss_bytes as f64 / 1024.0 / 1024.0;
    let last = samples.iter().map(|s| s.t_s).fold(0.0, f64::max).max(1.0);
    let highest = samples.iter().map(mib).fold(0.0, f64::max);
    let root = SVGBackend::new(path, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(20)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..last, 0f64..(highest * 1.1).max(1.0))?;
    chart
        .configure_mesh()
        .x_desc("seconds since the run started")
        .y_desc("server RSS (MiB)")
        .draw()?;
    chart.draw_series(LineSeries::new(
        samples.iter().map(|s| (s.t_s, mib(s))),
        BLUE.stroke_width(2),
    ))?;
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// A log axis range around [lowest, highest]: whole decades, at least one.
fn log_range(lowest: f64, highest: f64) -> (f64, f64) {
    let low = 10f64.powf(lowest.max(FLOOR_MS).log10().floor());
    let high = 10f64.powf(highest.max(FLOOR_MS).log10().ceil());
    (low, if high > low { high } else { low * 10.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    #[test]
    fn log_ranges_span_whole_decades() {
        let cases: &[(f64, f64, (f64, f64))] = &[
            (0.3,   45.0,   (0.1, 100.0)),
            (2.0,   2.0,    (1.0, 10.0)),
            (10.0,  10.0,   (10.0, 100.0)),
            (0.0,   0.0,    (0.01, 0.1)),
            (0.5,   1500.0, (0.1, 10_000.0)),
        ];
        for &(lowest, highest, expected) in cases {
            let (low, high) = log_range(lowest, highest);
            let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b;
            assert!(close(low, expected.0) && close(high, expected.1), "{lowest}..{highest}: {low}..{high}");
        }
    }

    #[test]
    fn writes_svg_files() {
        let dir = std::env::temp_dir().join(format!("parley-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let series: Vec<SecondLatency> = (0..5)
            .map(|second| SecondLatency {
                second,
                count: 10,
                p50_ms: 1.0 + second as f64,
                p99_ms: 5.0,
                max_ms: 20.0,
            })
            .collect();
        latency(&dir.join("latency.svg"), &series, "test").unwrap();
        let samples: Vec<ServerSample> = (0..5)
            .map(|t| ServerSample {
                t_s: t as f64,
                cpu_s: 0.0,
                rss_bytes: 50 << 20,
            })
            .collect();
        rss(&dir.join("rss.svg"), &samples, "test").unwrap();
        for file in ["latency.svg", "rss.svg"] {
            let svg = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(
                svg.starts_with("<svg") && svg.contains("<polyline"),
                "{file}"
            );
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
