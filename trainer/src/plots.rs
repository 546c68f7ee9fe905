//! PNG figures with `plotters`: training curves, confusion matrix, reliability diagram, and the
//! pet/no-pet trade-off. Text uses the bundled DejaVu Sans (no system fonts needed).

use crate::train::EpochLog;
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: Once = Once::new();

fn init_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../assets/DejaVuSans.ttf");
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

fn e<E: std::fmt::Debug>(err: E) -> anyhow::Error {
    anyhow!("plotting: {err:?}")
}

/// One series per run: (name, epoch logs). Draws validation accuracy and loss side by side, with
/// training curves dashed-light when `with_train`.
pub fn curves(path: &Path, title: &str, runs: &[(String, Vec<EpochLog>)], with_train: bool) -> Result<()> {
    init_font();
    let root = BitMapBackend::new(path, (1200, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(e)?;
    let (left, right) = root.split_horizontally(600);
    let max_epoch = runs.iter().flat_map(|r| r.1.iter().map(|l| l.epoch)).max().unwrap_or(1) as f32;
    let max_loss = runs.iter().flat_map(|r| r.1.iter().flat_map(|l| [l.train_loss, l.val_loss])).filter(|v| v.is_finite()).fold(0.5f32, f32::max);
    for (area, is_acc) in [(left, true), (right, false)] {
        let (ymax, label) = if is_acc { (1.0, "accuracy") } else { (max_loss * 1.05, "loss") };
        let mut chart = ChartBuilder::on(&area).margin(15).x_label_area_size(35).y_label_area_size(50).build_cartesian_2d(0.5f32..max_epoch + 0.5, 0f32..ymax).map_err(e)?;
        chart.configure_mesh().x_desc("epoch").y_desc(label).label_style(("sans-serif", 14)).draw().map_err(e)?;
        for (i, (name, logs)) in runs.iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            let val: Vec<(f32, f32)> = logs.iter().map(|l| (l.epoch as f32, if is_acc { l.val_acc } else { l.val_loss })).collect();
            chart
                .draw_series(LineSeries::new(val.clone(), colour.stroke_width(2)).point_size(3))
                .map_err(e)?
                .label(format!("{name} val"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
            if with_train {
                let tr: Vec<(f32, f32)> = logs.iter().map(|l| (l.epoch as f32, if is_acc { l.train_acc } else { l.train_loss })).collect();
                let light = colour.mix(0.45);
                chart
                    .draw_series(LineSeries::new(tr, light.stroke_width(1)))
                    .map_err(e)?
                    .label(format!("{name} train"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], light.stroke_width(1)));
            }
        }
        chart
            .configure_series_labels()
            .position(if is_acc { SeriesLabelPosition::LowerRight } else { SeriesLabelPosition::UpperRight })
            .label_font(("sans-serif", 13))
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
    }
    root.present().map_err(e)?;
    Ok(())
}

/// Row-normalised confusion matrix with breed names.
pub fn confusion(path: &Path, title: &str, m: &[Vec<usize>], labels: &[String]) -> Result<()> {
    init_font();
    let n = m.len();
    let cell = 20;
    let margin = 190;
    let root = BitMapBackend::new(path, ((n * cell + margin + 20) as u32, (n * cell + margin + 40) as u32)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    root.draw(&Text::new(title.to_string(), (10, 8), ("sans-serif", 18))).map_err(e)?;
    let top = margin + 30;
    for (r, row) in m.iter().enumerate() {
        let total: usize = row.iter().sum::<usize>().max(1);
        for (c, &v) in row.iter().enumerate() {
            let f = v as f64 / total as f64;
            let shade = (255.0 * (1.0 - f)) as u8;
            let colour = if r == c { RGBColor(shade, 255 - (255 - shade) / 3, shade) } else { RGBColor(255, shade, shade) };
            let (x, y) = ((margin + c * cell) as i32, (top + r * cell - margin) as i32 + 10);
            root.draw(&Rectangle::new([(x, y), (x + cell as i32, y + cell as i32)], colour.filled())).map_err(e)?;
        }
        let y = (top + r * cell - margin) as i32 + 13;
        root.draw(&Text::new(petcam::labels::display_name(&labels[r]), (5, y), ("sans-serif", 12))).map_err(e)?;
    }
    for (c, l) in labels.iter().enumerate().take(n) {
        let x = (margin + c * cell) as i32 + 4;
        let style = TextStyle::from(("sans-serif", 12).into_font()).transform(FontTransform::Rotate270);
        root.draw(&Text::new(petcam::labels::display_name(l), (x, (top + n * cell - margin) as i32 + 185), style)).map_err(e)?;
    }
    root.present().map_err(e)?;
    Ok(())
}

/// Reliability diagram: accuracy vs confidence per bin, before and after temperature scaling.
/// One bin of a reliability diagram: (mean confidence, accuracy, photos in the bin).
pub type ReliabilityBin = (f32, f32, usize);

pub fn reliability(path: &Path, title: &str, series: &[(String, Vec<ReliabilityBin>)]) -> Result<()> {
    init_font();
    let root = BitMapBackend::new(path, (600, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root).caption(title, ("sans-serif", 20)).margin(15).x_label_area_size(35).y_label_area_size(45).build_cartesian_2d(0f32..1f32, 0f32..1f32).map_err(e)?;
    chart.configure_mesh().x_desc("confidence").y_desc("accuracy").label_style(("sans-serif", 14)).draw().map_err(e)?;
    chart.draw_series(LineSeries::new(vec![(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4))).map_err(e)?.label("perfect").legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
    for (i, (name, bins)) in series.iter().enumerate() {
        let colour = Palette99::pick(i + 1).to_rgba();
        let pts: Vec<(f32, f32)> = bins.iter().filter(|b| b.2 > 0).map(|b| (b.0, b.1)).collect();
        chart
            .draw_series(LineSeries::new(pts, colour.stroke_width(2)).point_size(4))
            .map_err(e)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart.configure_series_labels().position(SeriesLabelPosition::UpperLeft).label_font(("sans-serif", 13)).background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// False-breed rate and pet recall against the pet-score threshold; marks the chosen threshold.
pub fn pet_threshold(path: &Path, title: &str, curve: &[(f32, f32, f32)], chosen: f32) -> Result<()> {
    init_font();
    let root = BitMapBackend::new(path, (700, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root).caption(title, ("sans-serif", 20)).margin(15).x_label_area_size(35).y_label_area_size(45).build_cartesian_2d(0f32..1f32, 0f32..1.02f32).map_err(e)?;
    chart.configure_mesh().x_desc("pet-score threshold").y_desc("rate").label_style(("sans-serif", 14)).draw().map_err(e)?;
    let fb: Vec<(f32, f32)> = curve.iter().map(|c| (c.0, c.1)).collect();
    let rec: Vec<(f32, f32)> = curve.iter().map(|c| (c.0, c.2)).collect();
    chart.draw_series(LineSeries::new(fb, RED.stroke_width(2))).map_err(e)?.label("false-breed rate (no-pet photos)").legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart.draw_series(LineSeries::new(rec, BLUE.stroke_width(2))).map_err(e)?.label("pet recall (pet photos)").legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(vec![(chosen, 0.0), (chosen, 1.0)], BLACK.mix(0.5)))
        .map_err(e)?
        .label(format!("chosen {chosen:.3}"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.5)));
    chart.configure_series_labels().position(SeriesLabelPosition::MiddleRight).label_font(("sans-serif", 13)).background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}

/// Pet recall against false-breed rate, one curve per approach; a dashed line at the target rate.
pub fn pet_roc(path: &Path, title: &str, series: &[(String, Vec<(f32, f32)>)], target: f32) -> Result<()> {
    init_font();
    let root = BitMapBackend::new(path, (760, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(e)?;
    let mut chart = ChartBuilder::on(&root).caption(title, ("sans-serif", 20)).margin(15).x_label_area_size(40).y_label_area_size(50).build_cartesian_2d(0f32..0.2f32, 0.5f32..1.005f32).map_err(e)?;
    chart.configure_mesh().x_desc("false-breed rate on no-pet test photos").y_desc("pet recall on Oxford test pets").label_style(("sans-serif", 14)).draw().map_err(e)?;
    for (i, (name, pts)) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        let mut pts: Vec<(f32, f32)> = pts.iter().filter(|p| p.0 <= 0.2).cloned().collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
        chart.draw_series(LineSeries::new(pts, colour.stroke_width(2))).map_err(e)?.label(name.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart
        .draw_series(LineSeries::new(vec![(target, 0.5), (target, 1.0)], BLACK.mix(0.4)))
        .map_err(e)?
        .label(format!("target {:.0}%", target * 100.0))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
    chart.configure_series_labels().position(SeriesLabelPosition::LowerRight).label_font(("sans-serif", 13)).background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(e)?;
    root.present().map_err(e)?;
    Ok(())
}
