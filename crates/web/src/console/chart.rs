//! A report's rows drawn as server-side SVG: a bar per row or a line through them, in the
//! answer's order, on one scale that holds zero (credits draw below it).
//!
//! Amounts stay exact everywhere else; here they become `f64` only to place pixels.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// Drawing area, in pixels.
pub(super) const WIDTH: f64 = 720.0;
pub(super) const HEIGHT: f64 = 200.0;
const PAD: f64 = 10.0;

/// One bar: its box and its hover text.
pub(super) struct BarShape {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub title: String,
}

/// One point of the line, with its hover text.
pub(super) struct Dot {
    pub cx: String,
    pub cy: String,
    pub title: String,
}

/// What the template draws.
pub(super) struct Chart {
    /// `bar` or `line`.
    pub kind: &'static str,
    pub bars: Vec<BarShape>,
    /// `x,y x,y …` for a `<polyline>`.
    pub points: String,
    pub dots: Vec<Dot>,
    /// The y of zero.
    pub zero_y: String,
}

fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// Draws `rows` (label, amount); `line` joins them instead of drawing bars.
pub(super) fn draw(rows: &[(String, Decimal)], line: bool) -> Chart {
    let amounts: Vec<f64> = rows
        .iter()
        .map(|(_, a)| a.to_f64().unwrap_or(0.0))
        .collect();
    let bottom = amounts.iter().copied().fold(0.0_f64, f64::min);
    // All zero: zero at the bottom, as for any chart without credits.
    let top = amounts.iter().copied().fold(0.0_f64, f64::max);
    let top = if top > bottom { top } else { bottom + 1.0 };
    let span = top - bottom;
    let y = |v: f64| PAD + (top - v) / span * (HEIGHT - 2.0 * PAD);
    let step = WIDTH / rows.len().max(1) as f64;
    let title = |(label, amount): &(String, Decimal)| format!("{label}: {}", amount.round_dp(2));
    let mut chart = Chart {
        kind: if line { "line" } else { "bar" },
        bars: Vec::new(),
        points: String::new(),
        dots: Vec::new(),
        zero_y: px(y(0.0)),
    };
    for (i, (row, &v)) in rows.iter().zip(&amounts).enumerate() {
        let x = i as f64 * step;
        if line {
            let (cx, cy) = (x + step / 2.0, y(v));
            if !chart.points.is_empty() {
                chart.points.push(' ');
            }
            chart.points.push_str(&format!("{},{}", px(cx), px(cy)));
            chart.dots.push(Dot {
                cx: px(cx),
                cy: px(cy),
                title: title(row),
            });
        } else {
            let (from, to) = (y(v.max(0.0)), y(v.min(0.0)));
            chart.bars.push(BarShape {
                x: px(x + step * 0.1),
                y: px(from),
                width: px((step * 0.8).max(1.0)),
                height: px((to - from).max(0.5)),
                title: title(row),
            });
        }
    }
    chart
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(amounts: &[&str]) -> Vec<(String, Decimal)> {
        amounts
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("r{i}"), a.parse().unwrap()))
            .collect()
    }

    #[test]
    fn bars_share_one_scale_with_zero_at_the_bottom_when_nothing_is_negative() {
        let c = draw(&rows(&["10", "5", "0"]), false);
        assert_eq!(c.kind, "bar");
        assert_eq!(c.bars.len(), 3);
        assert_eq!(c.zero_y, "190.0");
        // The tallest reaches the top; half the amount, half the height.
        assert_eq!(
            (c.bars[0].y.as_str(), c.bars[0].height.as_str()),
            ("10.0", "180.0")
        );
        assert_eq!(
            (c.bars[1].y.as_str(), c.bars[1].height.as_str()),
            ("100.0", "90.0")
        );
        assert_eq!(c.bars[0].width, "192.0");
        assert_eq!(c.bars[1].x, "264.0");
        assert_eq!(c.bars[1].title, "r1: 5");
    }

    #[test]
    fn credits_draw_below_zero() {
        let c = draw(&rows(&["30", "-10"]), false);
        assert_eq!(c.zero_y, "145.0");
        assert_eq!(
            (c.bars[1].y.as_str(), c.bars[1].height.as_str()),
            ("145.0", "45.0")
        );
    }

    #[test]
    fn a_line_goes_through_the_middle_of_each_step() {
        let c = draw(&rows(&["1", "3"]), true);
        assert_eq!(c.kind, "line");
        assert!(c.bars.is_empty());
        assert_eq!(c.points, "180.0,130.0 540.0,10.0");
        assert_eq!(c.dots.len(), 2);
        assert_eq!(c.dots[0].title, "r0: 1");
    }

    #[test]
    fn nothing_to_draw_is_an_empty_chart() {
        let c = draw(&[], false);
        assert!(c.bars.is_empty() && c.points.is_empty());
        let c = draw(&rows(&["0"]), true);
        assert_eq!(c.points, "360.0,190.0");
    }
}
