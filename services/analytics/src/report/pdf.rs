//! The spending and income report as a PDF, in pure Rust.
//!
//! No browser, no system fonts: the text font (DejaVu Sans) is compiled into
//! the binary with `include_bytes!`, and the document is written with
//! [`pdf_writer`].
//!
//! # Layout
//!
//! Every page is A4 portrait (595 × 842 pt) with 50 pt margins and a footer
//! ("FREEDUMB · title" on the left, "Page N of M" on the right).
//!
//! 1. **Summary page**: the title, the period covered, the generation time,
//!    a box with the totals (income, spending, net, savings rate), and the
//!    *spending by category* chart: horizontal bars for the ten largest
//!    categories plus one "Other" bar for the rest.
//! 2. **Trends page**: the *cash flow* chart (an income bar and a spending bar
//!    per period) and the *net worth* line chart.
//! 3. **Category table**, on as many pages as needed: every category with its
//!    amount and its share of the total, the header repeated on each page, and
//!    a total row at the end.
//!
//! A chart without data is replaced by the text "No data for this chart".
//!
//! # How it is drawn
//!
//! * **Charts** are rasterised with `plotters`' bitmap backend into RGB
//!   buffers at `PX_PER_PT` pixels per point (216 dpi), then embedded as
//!   Flate-compressed image XObjects: one image per chart. The chart images
//!   hold only shapes (bars, grid lines, the line and its dots); every label,
//!   tick value and amount is ordinary PDF text placed over or beside the
//!   image, so it stays sharp, selectable and searchable. Plotters therefore
//!   never renders text (built without a font feature, as here, it would
//!   panic if asked to).
//! * **Text** uses one font, DejaVu Sans, written as a Type0 font with a
//!   CIDFontType2 descendant, Identity-H encoding and a ToUnicode map so text
//!   extraction (copy-paste, `pdftotext`) gives back the original characters.
//!   Only the glyphs the document uses are embedded (`subsetter`), typically
//!   a few tens of kilobytes. There is no shaping: one glyph per character
//!   from the font's cmap and its advance width, which is right for Latin,
//!   Greek and Cyrillic; characters the font lacks are drawn as the `.notdef`
//!   box (and extract as U+FFFD). Headings are set larger and "fake bold"
//!   (filled and thinly stroked), so no second font is needed.
//! * Positions are computed in points from the top-left corner of the page
//!   and turned into PDF coordinates (origin bottom-left) when written.
//!
//! [`render_pdf`] is synchronous and CPU-bound (a few tens of milliseconds
//! for a typical report, most of it compressing the chart images): call it
//! from async code through `tokio::task::spawn_blocking`.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use anyhow::{Context, Result, anyhow};
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use miniz_oxide::deflate::{CompressionLevel, compress_to_vec_zlib};
use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, TextRenderingMode, UnicodeCmap};
use pdf_writer::{Content, Date, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use plotters::backend::{BitMapBackend, RGBPixel};
use plotters::prelude::{
    Circle, Color, IntoDrawingArea, PathElement, RGBColor, Rectangle, ShapeStyle,
};

/// Everything a report shows, already aggregated (bounded in size: at most
/// a few hundred categories and a few thousand points).
pub struct ReportData {
    /// "Spending and income report"
    pub title: String,
    /// The first day covered (inclusive).
    pub start: NaiveDate,
    /// The last day covered (inclusive).
    pub end: NaiveDate,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// Minor-unit exponent of `currency` (2 for EUR, 0 for JPY).
    pub exponent: u32,
    /// When the report was generated.
    pub generated: DateTime<Utc>,
    /// Income over the range, in minor units (positive).
    pub income_minor: i64,
    /// Spending over the range, in minor units (positive: money out).
    pub spending_minor: i64,
    /// (income − spending) / income, None when there was no income.
    pub savings_rate: Option<f64>,
    /// Spending per category, largest first: (category name, minor units spent).
    pub by_category: Vec<(String, i64)>,
    /// Cash flow per period (month or year label like "2024-01"): (label, income minor, spending minor).
    pub cash_flow: Vec<(String, i64, i64)>,
    /// Net worth at the end of each period: (day, minor units; may be negative).
    pub net_worth: Vec<(NaiveDate, i64)>,
}

/// The report as a PDF: A4 pages; page 1 has the title, the range, the
/// generation time, the totals (income, spending, net, savings rate) and the
/// spending-by-category chart (horizontal bars, top 10 categories + "Other");
/// then a cash-flow chart (income and spending bars per period) and a
/// net-worth line chart; then a table of every category with its amount and
/// share (as many pages as needed). Amounts are written with thousands
/// separators and the currency code: "12,345.67 EUR" (exponent 0:
/// "12,346 JPY"; negative "-1,234.50 EUR"). Each chart is an embedded raster
/// image (so a PDF parser finds exactly 3 images when there is data for all
/// three charts; a chart with no data is replaced by the text "No data for
/// this chart").
pub fn render_pdf(data: &ReportData) -> Result<Vec<u8>> {
    let mut doc = Doc::new()?;
    summary_page(&mut doc, data)?;
    doc.new_page();
    trends_page(&mut doc, data)?;
    doc.new_page();
    category_table(&mut doc, data);
    doc.footers(&data.title);
    doc.finish(data)
}

/// `minor` units as text: "12,345.67 EUR".
///
/// The exponent is the number of minor-unit digits (2 for EUR, 0 for JPY);
/// exponents above 18 are treated as 18 (no currency uses more than 4).
/// An empty `currency` leaves the code (and its space) out.
pub fn format_money(minor: i64, exponent: u32, currency: &str) -> String {
    format_money_wide(i128::from(minor), exponent, currency)
}

// ---------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------

/// The embedded font (DejaVu Sans; licence in `assets/fonts/LICENSE-DejaVu.txt`).
const FONT_DATA: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
/// The PostScript name of [`FONT_DATA`], written (with a subset tag) into the PDF.
const FONT_PS_NAME: &str = "DejaVuSans";
/// The resource name of the font on every page.
const FONT_RESOURCE: Name<'static> = Name(b"F1");

/// A4 width in points.
const PAGE_W: f32 = 595.276;
/// A4 height in points.
const PAGE_H: f32 = 841.89;
/// Page margin in points.
const MARGIN: f32 = 50.0;
/// Width between the margins.
const CONTENT_W: f32 = PAGE_W - 2.0 * MARGIN;
/// Lowest baseline for body content (the footer lives below it).
const CONTENT_BOTTOM: f32 = PAGE_H - MARGIN - 10.0;
/// Chart raster resolution: pixels per point (3 px/pt = 216 dpi).
const PX_PER_PT: f32 = 3.0;
/// Largest minor-unit exponent honoured by [`format_money`].
const MAX_EXPONENT: u32 = 18;
/// Categories drawn individually in the bar chart; the rest become "Other".
const TOP_CATEGORIES: usize = 10;
/// Widest room for value-axis labels left of a chart.
const MAX_AXIS_W: f32 = 140.0;
/// What replaces a chart without data.
const NO_DATA: &str = "No data for this chart";

/// An sRGB colour.
type Rgb = (u8, u8, u8);

const TEXT: Rgb = (0x21, 0x21, 0x21);
const MUTED: Rgb = (0x61, 0x61, 0x61);
const PANEL: Rgb = (0xf3, 0xf4, 0xf6);
const HEADER_ROW: Rgb = (0xe3, 0xe6, 0xea);
const GRID: Rgb = (0xe0, 0xe0, 0xe0);
const AXIS: Rgb = (0x75, 0x75, 0x75);
const INCOME: Rgb = (0x2e, 0x7d, 0x32);
const SPENDING: Rgb = (0xc6, 0x28, 0x28);
const NET_WORTH: Rgb = (0x15, 0x65, 0xc0);
const OTHER: Rgb = (0x9e, 0x9e, 0x9e);
/// Bar colours of the category chart, in rank order.
const PALETTE: [Rgb; TOP_CATEGORIES] = [
    (0x1f, 0x77, 0xb4),
    (0xff, 0x7f, 0x0e),
    (0x2c, 0xa0, 0x2c),
    (0xd6, 0x27, 0x28),
    (0x94, 0x67, 0xbd),
    (0x8c, 0x56, 0x4b),
    (0xe3, 0x77, 0xc2),
    (0x7f, 0x7f, 0x7f),
    (0xbc, 0xbd, 0x22),
    (0x17, 0xbe, 0xcf),
];

// ---------------------------------------------------------------------------
// Pages
// ---------------------------------------------------------------------------

/// Page 1: title, period, totals and the category chart.
fn summary_page(doc: &mut Doc, data: &ReportData) -> Result<()> {
    let cur = data.currency.as_str();
    let exp = data.exponent;
    let mut y = MARGIN + 20.0;
    let title = doc.fit(&data.title, 22.0, CONTENT_W);
    doc.heading(MARGIN, y, 22.0, TEXT, &title);
    y += 24.0;
    let period = format!(
        "Period: {} \u{2013} {}",
        data.start.format("%Y-%m-%d"),
        data.end.format("%Y-%m-%d")
    );
    doc.text(MARGIN, y, 11.0, MUTED, &period);
    y += 15.0;
    let generated = format!(
        "Generated: {}   \u{00b7}   Amounts in {}",
        data.generated.format("%Y-%m-%d %H:%M UTC"),
        cur
    );
    let generated = doc.fit(&generated, 11.0, CONTENT_W);
    doc.text(MARGIN, y, 11.0, MUTED, &generated);
    y += 22.0;

    // Totals box.
    let net = i128::from(data.income_minor) - i128::from(data.spending_minor);
    let rows: [(&str, String, Rgb); 4] = [
        ("Income", format_money(data.income_minor, exp, cur), INCOME),
        (
            "Spending",
            format_money(data.spending_minor, exp, cur),
            SPENDING,
        ),
        (
            "Net (income \u{2212} spending)",
            format_money_wide(net, exp, cur),
            if net < 0 { SPENDING } else { TEXT },
        ),
        ("Savings rate", format_rate(data.savings_rate), TEXT),
    ];
    let row_h = 20.0;
    let box_h = row_h * rows.len() as f32 + 12.0;
    doc.rect(MARGIN, y, CONTENT_W, box_h, PANEL);
    let mut row_y = y + 6.0 + row_h / 2.0 + 4.0;
    for (label, value, colour) in &rows {
        doc.text(MARGIN + 14.0, row_y, 12.0, TEXT, label);
        let value = doc.fit(value, 12.0, CONTENT_W / 2.0);
        doc.text_right(MARGIN + CONTENT_W - 14.0, row_y, 12.0, *colour, &value);
        row_y += row_h;
    }
    y += box_h + 34.0;

    let heading = format!("Spending by category (top {TOP_CATEGORIES})");
    doc.heading(MARGIN, y, 15.0, TEXT, &heading);
    y += 14.0;
    category_chart(doc, data, y)?;
    Ok(())
}

/// Page 2: cash flow and net worth.
fn trends_page(doc: &mut Doc, data: &ReportData) -> Result<()> {
    let mut y = MARGIN + 16.0;
    let heading = doc.fit(
        &format!("Cash flow ({})", data.currency),
        15.0,
        CONTENT_W - 160.0,
    );
    doc.heading(MARGIN, y, 15.0, TEXT, &heading);
    if !data.cash_flow.is_empty() {
        // Legend, right-aligned on the heading line.
        let right = MARGIN + CONTENT_W;
        let spending_w = doc.width("Spending", 9.0);
        let income_w = doc.width("Income", 9.0);
        let x_spending = right - spending_w;
        doc.rect(x_spending - 12.0, y - 8.0, 8.0, 8.0, SPENDING);
        doc.text(x_spending, y, 9.0, TEXT, "Spending");
        let x_income = x_spending - 24.0 - income_w;
        doc.rect(x_income - 12.0, y - 8.0, 8.0, 8.0, INCOME);
        doc.text(x_income, y, 9.0, TEXT, "Income");
    }
    y += 14.0;
    y = cash_flow_chart(doc, data, y)?;

    y += 36.0;
    let heading = doc.fit(&format!("Net worth ({})", data.currency), 15.0, CONTENT_W);
    doc.heading(MARGIN, y, 15.0, TEXT, &heading);
    y += 14.0;
    net_worth_chart(doc, data, y)?;
    Ok(())
}

/// The table of every category, from a fresh page on, as many pages as needed.
fn category_table(doc: &mut Doc, data: &ReportData) {
    const SIZE: f32 = 9.5;
    const ROW_H: f32 = 16.0;
    const SHARE_W: f32 = 64.0;
    let cur = data.currency.as_str();
    let exp = data.exponent;
    let rows = sorted_categories(&data.by_category);
    let total: i128 = rows.iter().map(|(_, v)| i128::from(*v)).sum();

    let amounts: Vec<String> = rows
        .iter()
        .map(|(_, v)| format_money(*v, exp, cur))
        .collect();
    let total_text = format_money_wide(total, exp, cur);
    let amount_w = amounts
        .iter()
        .chain(std::iter::once(&total_text))
        .map(|a| doc.width(a, SIZE))
        .fold(doc.width("Amount", SIZE), f32::max);
    let share_right = MARGIN + CONTENT_W - 6.0;
    let amount_right = share_right - SHARE_W;
    let name_x = MARGIN + 6.0;
    let name_w = (amount_right - amount_w - 16.0 - name_x).max(40.0);

    let title = format!("All categories ({})", rows.len());
    let mut y = MARGIN + 16.0;
    doc.heading(MARGIN, y, 15.0, TEXT, &title);
    y += 14.0;
    let header = |doc: &mut Doc, y: f32| -> f32 {
        doc.rect(MARGIN, y, CONTENT_W, ROW_H, HEADER_ROW);
        let base = y + ROW_H - 4.5;
        doc.text(name_x, base, SIZE, TEXT, "Category");
        doc.text_right(amount_right, base, SIZE, TEXT, "Amount");
        doc.text_right(share_right, base, SIZE, TEXT, "Share");
        y + ROW_H
    };
    y = header(doc, y);

    if rows.is_empty() {
        doc.text(
            name_x,
            y + ROW_H - 4.5,
            SIZE,
            MUTED,
            "No spending recorded in this period.",
        );
        return;
    }
    for (i, ((name, value), amount)) in rows.iter().zip(&amounts).enumerate() {
        if y + ROW_H > CONTENT_BOTTOM {
            doc.new_page();
            y = MARGIN + 16.0;
            doc.heading(MARGIN, y, 15.0, TEXT, &format!("{title}, continued"));
            y = header(doc, y + 14.0);
        }
        if i % 2 == 1 {
            doc.rect(MARGIN, y, CONTENT_W, ROW_H, PANEL);
        }
        let base = y + ROW_H - 4.5;
        let name = doc.fit(name, SIZE, name_w);
        doc.text(name_x, base, SIZE, TEXT, &name);
        doc.text_right(amount_right, base, SIZE, TEXT, amount);
        doc.text_right(
            share_right,
            base,
            SIZE,
            MUTED,
            &format_share(i128::from(*value), total),
        );
        y += ROW_H;
    }
    if y + ROW_H > CONTENT_BOTTOM {
        doc.new_page();
        y = MARGIN;
    }
    doc.rect(MARGIN, y, CONTENT_W, 0.8, AXIS);
    let base = y + ROW_H - 4.0;
    doc.text(name_x, base, SIZE, TEXT, "Total");
    doc.text_right(amount_right, base, SIZE, TEXT, &total_text);
    let all = if total > 0 { "100.0%" } else { "\u{2013}" };
    doc.text_right(share_right, base, SIZE, MUTED, all);
}

// ---------------------------------------------------------------------------
// Charts
// ---------------------------------------------------------------------------

/// Horizontal bars: the ten largest categories and "Other". Returns the y
/// below the chart.
fn category_chart(doc: &mut Doc, data: &ReportData, top: f32) -> Result<f32> {
    const SIZE: f32 = 9.0;
    const ROW_H: f32 = 22.0;
    const LABEL_W: f32 = 150.0;
    let sorted = sorted_categories(&data.by_category);
    let mut rows: Vec<(String, i128, Rgb)> = sorted
        .iter()
        .take(TOP_CATEGORIES)
        .enumerate()
        .map(|(i, (name, v))| (name.clone(), i128::from(*v), PALETTE[i % PALETTE.len()]))
        .collect();
    if sorted.len() > TOP_CATEGORIES {
        let rest: i128 = sorted[TOP_CATEGORIES..]
            .iter()
            .map(|(_, v)| i128::from(*v))
            .sum();
        let label = format!("Other ({} categories)", sorted.len() - TOP_CATEGORIES);
        rows.push((label, rest, OTHER));
    }
    let max = rows.iter().map(|(_, v, _)| *v).max().unwrap_or(0);
    if max <= 0 {
        doc.text(MARGIN, top + 14.0, 11.0, MUTED, NO_DATA);
        return Ok(top + 24.0);
    }

    let amounts: Vec<String> = rows
        .iter()
        .map(|(_, v, _)| format_money_wide(*v, data.exponent, &data.currency))
        .collect();
    let amount_w = amounts
        .iter()
        .map(|a| doc.width(a, SIZE))
        .fold(0.0, f32::max);
    let img_x = MARGIN + LABEL_W + 8.0;
    let img_w = CONTENT_W - LABEL_W - 8.0;
    let img_h = ROW_H * rows.len() as f32;
    let bar_max = (img_w - amount_w - 12.0).max(20.0);

    let mut shapes = vec![Shape::Rect {
        x0: 0.0,
        y0: 0.0,
        x1: 0.8,
        y1: img_h,
        colour: AXIS,
    }];
    let mut lengths = Vec::with_capacity(rows.len());
    for (i, (_, value, colour)) in rows.iter().enumerate() {
        let length = if *value > 0 {
            (*value as f64 / max as f64) as f32 * bar_max
        } else {
            0.0
        };
        let y0 = i as f32 * ROW_H + 4.0;
        shapes.push(Shape::Rect {
            x0: 0.0,
            y0,
            x1: length,
            y1: y0 + ROW_H - 8.0,
            colour: *colour,
        });
        lengths.push(length);
    }
    let image = rasterize(img_w, img_h, &shapes)?;
    doc.image(image, img_x, top, img_w, img_h);

    for (i, ((name, _, _), amount)) in rows.iter().zip(&amounts).enumerate() {
        let base = top + i as f32 * ROW_H + ROW_H / 2.0 + 3.2;
        let label = doc.fit(name, SIZE, LABEL_W);
        doc.text_right(MARGIN + LABEL_W, base, SIZE, TEXT, &label);
        doc.text(img_x + lengths[i] + 5.0, base, SIZE, TEXT, amount);
    }
    Ok(top + img_h)
}

/// Income and spending bars per period. Returns the y below the chart.
fn cash_flow_chart(doc: &mut Doc, data: &ReportData, top: f32) -> Result<f32> {
    const IMG_H: f32 = 220.0;
    let flows = &data.cash_flow;
    if flows.is_empty() {
        doc.text(MARGIN, top + 14.0, 11.0, MUTED, NO_DATA);
        return Ok(top + 24.0);
    }
    let scale = minor_scale(data.exponent);
    let values = flows
        .iter()
        .flat_map(|(_, i, s)| [*i as f64 * scale, *s as f64 * scale]);
    let (lo, hi) = values.fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let ticks = Ticks::new(lo, hi);
    let axis_w = (ticks.label_width(doc, 8.0) + 8.0).min(MAX_AXIS_W);
    let img_x = MARGIN + axis_w;
    let img_w = CONTENT_W - axis_w;
    let y_of = |v: f64| ticks.position(v, IMG_H);

    let mut shapes = ticks.grid(img_w, IMG_H);
    let slot = img_w / flows.len() as f32;
    let zero = y_of(0.0);
    for (i, (_, income, spending)) in flows.iter().enumerate() {
        let left = i as f32 * slot;
        for (v, x0, x1, colour) in [
            (*income, 0.14, 0.49, INCOME),
            (*spending, 0.51, 0.86, SPENDING),
        ] {
            let y = y_of(v as f64 * scale);
            shapes.push(Shape::Rect {
                x0: left + slot * x0,
                y0: y.min(zero),
                x1: left + slot * x1,
                y1: y.max(zero),
                colour,
            });
        }
    }
    shapes.push(Shape::Rect {
        x0: 0.0,
        y0: zero - 0.4,
        x1: img_w,
        y1: zero + 0.4,
        colour: AXIS,
    });
    let image = rasterize(img_w, IMG_H, &shapes)?;
    doc.image(image, img_x, top, img_w, IMG_H);

    ticks.labels(doc, img_x - 5.0, top, IMG_H, 8.0);
    let labels = flows
        .iter()
        .enumerate()
        .map(|(i, (label, _, _))| (img_x + (i as f32 + 0.5) * slot, label.clone()));
    x_labels(doc, labels, top + IMG_H + 11.0, 8.0);
    Ok(top + IMG_H + 14.0)
}

/// Net worth as a line through one dot per point. Returns the y below the chart.
fn net_worth_chart(doc: &mut Doc, data: &ReportData, top: f32) -> Result<f32> {
    const IMG_H: f32 = 220.0;
    const PAD: f32 = 8.0;
    if data.net_worth.is_empty() {
        doc.text(MARGIN, top + 14.0, 11.0, MUTED, NO_DATA);
        return Ok(top + 24.0);
    }
    let mut points = data.net_worth.clone();
    points.sort_by_key(|(day, _)| *day);
    let scale = minor_scale(data.exponent);
    let values = points.iter().map(|(_, v)| *v as f64 * scale);
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let ticks = Ticks::new(lo, hi);
    let axis_w = (ticks.label_width(doc, 8.0) + 8.0).min(MAX_AXIS_W);
    let img_x = MARGIN + axis_w;
    let img_w = CONTENT_W - axis_w;

    let first = points.first().map_or(0, |(d, _)| d.num_days_from_ce());
    let last = points.last().map_or(0, |(d, _)| d.num_days_from_ce());
    let (d0, d1) = if last > first {
        (f64::from(first), f64::from(last))
    } else {
        (f64::from(first) - 1.0, f64::from(first) + 1.0)
    };
    let x_of = |day: NaiveDate| {
        PAD + ((f64::from(day.num_days_from_ce()) - d0) / (d1 - d0)) as f32 * (img_w - 2.0 * PAD)
    };
    let y_of = |v: i64| ticks.position(v as f64 * scale, IMG_H);

    let mut shapes = ticks.grid(img_w, IMG_H);
    if ticks.lo < 0.0 && ticks.hi > 0.0 {
        let zero = ticks.position(0.0, IMG_H);
        shapes.push(Shape::Rect {
            x0: 0.0,
            y0: zero - 0.4,
            x1: img_w,
            y1: zero + 0.4,
            colour: AXIS,
        });
    }
    let coords: Vec<(f32, f32)> = points.iter().map(|(d, v)| (x_of(*d), y_of(*v))).collect();
    if coords.len() > 1 {
        shapes.push(Shape::Line {
            points: coords.clone(),
            width: 1.6,
            colour: NET_WORTH,
        });
    }
    if coords.len() <= 120 {
        for (x, y) in &coords {
            shapes.push(Shape::Dot {
                x: *x,
                y: *y,
                radius: 2.4,
                colour: NET_WORTH,
            });
        }
    }
    let image = rasterize(img_w, IMG_H, &shapes)?;
    doc.image(image, img_x, top, img_w, IMG_H);

    ticks.labels(doc, img_x - 5.0, top, IMG_H, 8.0);
    let labels = points
        .iter()
        .map(|(d, _)| (img_x + x_of(*d), d.format("%Y-%m-%d").to_string()));
    x_labels(doc, labels, top + IMG_H + 11.0, 8.0);
    Ok(top + IMG_H + 14.0)
}

/// Writes centred x-axis labels at baseline `y`, skipping any that would
/// overlap the previous one or leave the content area.
fn x_labels(doc: &mut Doc, labels: impl Iterator<Item = (f32, String)>, y: f32, size: f32) {
    let mut right_edge = f32::NEG_INFINITY;
    for (centre, label) in labels {
        let label = doc.fit(&label, size, 90.0);
        let w = doc.width(&label, size);
        let left = centre - w / 2.0;
        if left < right_edge + 6.0 || left < MARGIN || left + w > MARGIN + CONTENT_W {
            continue;
        }
        doc.text(left, y, size, MUTED, &label);
        right_edge = left + w;
    }
}

/// "Nice" value-axis ticks (steps of 1, 2, 2.5 or 5 × 10ⁿ) covering a range.
struct Ticks {
    lo: f64,
    hi: f64,
    step: f64,
    values: Vec<f64>,
    decimals: usize,
}

impl Ticks {
    /// Ticks for data between `min` and `max` (about five intervals).
    fn new(min: f64, max: f64) -> Self {
        let (mut min, mut max) = if min.is_finite() && max.is_finite() && min <= max {
            (min, max)
        } else {
            (0.0, 1.0)
        };
        if max - min <= f64::EPSILON * max.abs().max(1.0) {
            let pad = if min == 0.0 { 1.0 } else { min.abs() * 0.1 };
            min -= pad;
            max += pad;
        }
        let raw = (max - min) / 5.0;
        let magnitude = 10_f64.powf(raw.log10().floor());
        let step = magnitude
            * match raw / magnitude {
                n if n <= 1.0 => 1.0,
                n if n <= 2.0 => 2.0,
                n if n <= 2.5 => 2.5,
                n if n <= 5.0 => 5.0,
                _ => 10.0,
            };
        let lo = (min / step).floor() * step;
        let hi = (max / step).ceil() * step;
        let values: Vec<f64> = (0..=50)
            .map(|k| lo + f64::from(k) * step)
            .take_while(|v| *v <= hi + step * 1e-6)
            .collect();
        let decimals = (0..=6)
            .find(|d| {
                let scaled = step * 10_f64.powi(*d);
                (scaled - scaled.round()).abs() < 1e-6 * scaled.abs().max(1.0)
            })
            .unwrap_or(6) as usize;
        Self {
            lo,
            hi,
            step,
            values,
            decimals,
        }
    }

    /// The y of `v` in an image `height` points tall (0 at the top).
    fn position(&self, v: f64, height: f32) -> f32 {
        ((self.hi - v) / (self.hi - self.lo)) as f32 * height
    }

    /// The text of a tick value.
    fn label(&self, v: f64) -> String {
        // Snap to the step grid so accumulated float error never shows.
        let v = (v / self.step).round() * self.step;
        format_number(v, self.decimals)
    }

    /// The widest tick label at `size`.
    fn label_width(&self, doc: &Doc, size: f32) -> f32 {
        self.values
            .iter()
            .map(|v| doc.width(&self.label(*v), size))
            .fold(0.0, f32::max)
    }

    /// Horizontal grid lines, one per tick.
    fn grid(&self, width: f32, height: f32) -> Vec<Shape> {
        self.values
            .iter()
            .map(|v| {
                let y = self.position(*v, height);
                Shape::Rect {
                    x0: 0.0,
                    y0: y - 0.35,
                    x1: width,
                    y1: y + 0.35,
                    colour: GRID,
                }
            })
            .collect()
    }

    /// Tick labels right-aligned at `right`, beside an image at `top`.
    fn labels(&self, doc: &mut Doc, right: f32, top: f32, height: f32, size: f32) {
        for v in &self.values {
            let y = top + self.position(*v, height) + size * 0.35;
            doc.text_right(right, y, size, MUTED, &self.label(*v));
        }
    }
}

/// A shape to rasterise, in points from the image's top-left corner.
enum Shape {
    /// A filled axis-aligned rectangle.
    Rect {
        x0: f32,
        y0: f32,
        x1: f32,
        y1: f32,
        colour: Rgb,
    },
    /// A polyline `width` points wide.
    Line {
        points: Vec<(f32, f32)>,
        width: f32,
        colour: Rgb,
    },
    /// A filled circle.
    Dot {
        x: f32,
        y: f32,
        radius: f32,
        colour: Rgb,
    },
}

/// An RGB raster, 8 bits per channel, row-major from the top-left.
struct Raster {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

/// Draws `shapes` on a white `width` × `height` point canvas with plotters.
fn rasterize(width: f32, height: f32, shapes: &[Shape]) -> Result<Raster> {
    let px = |v: f32| (v * PX_PER_PT).round() as i32;
    let w = px(width).max(1) as u32;
    let h = px(height).max(1) as u32;
    let len = (w as usize)
        .checked_mul(h as usize)
        .and_then(|n| n.checked_mul(3))
        .context("chart image too large")?;
    let mut rgb = vec![255_u8; len];
    {
        let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut rgb, (w, h))
            .map_err(|e| anyhow!("chart canvas: {e}"))?;
        let area = backend.into_drawing_area();
        let draw_err = |e| anyhow!("drawing chart: {e:?}");
        let colour = |(r, g, b): Rgb| RGBColor(r, g, b);
        for shape in shapes {
            match shape {
                Shape::Rect {
                    x0,
                    y0,
                    x1,
                    y1,
                    colour: c,
                } => {
                    // Skip degenerate bars (zero values) instead of drawing a 1 px sliver.
                    if (x1 - x0).abs() * PX_PER_PT < 0.5 || (y1 - y0).abs() * PX_PER_PT < 0.5 {
                        continue;
                    }
                    let rect = Rectangle::new(
                        [(px(*x0), px(*y0)), (px(*x1) - 1, px(*y1) - 1)],
                        colour(*c).filled(),
                    );
                    area.draw(&rect).map_err(draw_err)?;
                }
                Shape::Line {
                    points,
                    width,
                    colour: c,
                } => {
                    let style = ShapeStyle {
                        color: colour(*c).to_rgba(),
                        filled: false,
                        stroke_width: px(*width).max(1) as u32,
                    };
                    let path: Vec<(i32, i32)> =
                        points.iter().map(|(x, y)| (px(*x), px(*y))).collect();
                    area.draw(&PathElement::new(path, style))
                        .map_err(draw_err)?;
                }
                Shape::Dot {
                    x,
                    y,
                    radius,
                    colour: c,
                } => {
                    let dot = Circle::new(
                        (px(*x), px(*y)),
                        px(*radius).max(1) as u32,
                        colour(*c).filled(),
                    );
                    area.draw(&dot).map_err(draw_err)?;
                }
            }
        }
        area.present().map_err(draw_err)?;
    }
    Ok(Raster {
        width: w,
        height: h,
        rgb,
    })
}

// ---------------------------------------------------------------------------
// Numbers
// ---------------------------------------------------------------------------

/// [`format_money`] for sums that may not fit an `i64`.
fn format_money_wide(minor: i128, exponent: u32, currency: &str) -> String {
    let exp = exponent.min(MAX_EXPONENT) as usize;
    let mut digits = minor.unsigned_abs().to_string();
    if digits.len() <= exp {
        digits.insert_str(0, &"0".repeat(exp + 1 - digits.len()));
    }
    let (int_part, frac_part) = digits.split_at(digits.len() - exp);
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + currency.len() + 3);
    if minor < 0 {
        out.push('-');
    }
    push_grouped(&mut out, int_part);
    if exp > 0 {
        out.push('.');
        out.push_str(frac_part);
    }
    if !currency.is_empty() {
        out.push(' ');
        out.push_str(currency);
    }
    out
}

/// Appends ASCII `digits` with a comma between groups of three.
fn push_grouped(out: &mut String, digits: &str) {
    let n = digits.len();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (n - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
}

/// `v` with `decimals` decimals and thousands separators: "-12,500.5".
fn format_number(v: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, v.abs());
    let (int_part, frac_part) = text.split_once('.').unwrap_or((&text, ""));
    let mut out = String::new();
    if v < 0.0 && text.bytes().any(|b| (b'1'..=b'9').contains(&b)) {
        out.push('-');
    }
    push_grouped(&mut out, int_part);
    if !frac_part.is_empty() {
        out.push('.');
        out.push_str(frac_part);
    }
    out
}

/// The savings rate as a percentage with one decimal: "23.4%".
fn format_rate(rate: Option<f64>) -> String {
    match rate {
        Some(r) if r.is_finite() => format!("{:.1}%", r * 100.0),
        _ => "n/a (no income)".to_owned(),
    }
}

/// `part` as a percentage of `total`, or a dash when the total is not positive.
fn format_share(part: i128, total: i128) -> String {
    if total > 0 {
        format!("{:.1}%", part as f64 * 100.0 / total as f64)
    } else {
        "\u{2013}".to_owned()
    }
}

/// The factor from minor units to major units (0.01 for exponent 2).
fn minor_scale(exponent: u32) -> f64 {
    10_f64.powi(-(exponent.min(MAX_EXPONENT) as i32))
}

/// Categories sorted by amount, largest first (ties keep their order).
fn sorted_categories(categories: &[(String, i64)]) -> Vec<(String, i64)> {
    let mut sorted = categories.to_vec();
    sorted.sort_by_key(|c| std::cmp::Reverse(c.1));
    sorted
}

// ---------------------------------------------------------------------------
// Document model: pages of content, images, and one subset font
// ---------------------------------------------------------------------------

/// One finished page: its content stream and the images it shows.
struct Page {
    content: Content,
    images: Vec<usize>,
}

/// The document under construction.
struct Doc {
    font: Font,
    glyphs: GlyphSet,
    /// Pages before the current one.
    done: Vec<Page>,
    /// The page being drawn.
    page: Page,
    /// Every chart image, referenced from pages by index.
    images: Vec<Raster>,
}

impl Doc {
    fn new() -> Result<Self> {
        let font = Font::load()?;
        let glyphs = GlyphSet::new(&font);
        Ok(Self {
            font,
            glyphs,
            done: Vec::new(),
            page: Page {
                content: Content::new(),
                images: Vec::new(),
            },
            images: Vec::new(),
        })
    }

    /// Starts a new page.
    fn new_page(&mut self) {
        let page = std::mem::replace(
            &mut self.page,
            Page {
                content: Content::new(),
                images: Vec::new(),
            },
        );
        self.done.push(page);
    }

    /// The width of `text` at `size` points.
    fn width(&self, text: &str, size: f32) -> f32 {
        self.font.width(text, size)
    }

    /// `text`, shortened with "…" to fit `max_width` points at `size`.
    fn fit(&self, text: &str, size: f32, max_width: f32) -> String {
        self.font.fit(text, size, max_width)
    }

    /// Writes `text` with its baseline starting at (`x`, `y`) from the top-left.
    fn text(&mut self, x: f32, y: f32, size: f32, colour: Rgb, text: &str) {
        self.show(x, y, size, colour, text, false);
    }

    /// Writes `text` so that it ends at `right`.
    fn text_right(&mut self, right: f32, y: f32, size: f32, colour: Rgb, text: &str) {
        let w = self.width(text, size);
        self.show(right - w, y, size, colour, text, false);
    }

    /// Writes a heading: like [`Doc::text`], drawn fake-bold.
    fn heading(&mut self, x: f32, y: f32, size: f32, colour: Rgb, text: &str) {
        self.show(x, y, size, colour, text, true);
    }

    fn show(&mut self, x: f32, y: f32, size: f32, colour: Rgb, text: &str, bold: bool) {
        let encoded = self.glyphs.encode(&self.font, text);
        let (r, g, b) = unit_rgb(colour);
        let c = &mut self.page.content;
        c.save_state();
        c.set_fill_rgb(r, g, b);
        if bold {
            c.set_stroke_rgb(r, g, b);
            c.set_line_width(size * 0.035);
        }
        c.begin_text();
        if bold {
            c.set_text_rendering_mode(TextRenderingMode::FillStroke);
        }
        c.set_font(FONT_RESOURCE, size);
        c.next_line(x, PAGE_H - y);
        c.show(Str(&encoded));
        c.end_text();
        c.restore_state();
    }

    /// Fills a rectangle whose top-left corner is (`x`, `y`).
    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, colour: Rgb) {
        let (r, g, b) = unit_rgb(colour);
        let c = &mut self.page.content;
        c.set_fill_rgb(r, g, b);
        c.rect(x, PAGE_H - y - h, w, h);
        c.fill_nonzero();
    }

    /// Places `image` with its top-left corner at (`x`, `y`), `w` × `h` points.
    fn image(&mut self, image: Raster, x: f32, y: f32, w: f32, h: f32) {
        let index = self.images.len();
        self.images.push(image);
        self.page.images.push(index);
        let c = &mut self.page.content;
        c.save_state();
        c.transform([w, 0.0, 0.0, h, x, PAGE_H - y - h]);
        c.x_object(Name(image_name(index).as_bytes()));
        c.restore_state();
    }

    /// Adds the footer to every page.
    fn footers(&mut self, title: &str) {
        self.new_page();
        let pages = std::mem::take(&mut self.done);
        let count = pages.len();
        for (i, page) in pages.into_iter().enumerate() {
            self.page = page;
            let y = PAGE_H - MARGIN + 20.0;
            let right = format!("Page {} of {count}", i + 1);
            let left = self.fit(&format!("FREEDUMB \u{00b7} {title}"), 8.0, CONTENT_W - 80.0);
            self.text(MARGIN, y, 8.0, MUTED, &left);
            self.text_right(MARGIN + CONTENT_W, y, 8.0, MUTED, &right);
            self.new_page();
        }
    }

    /// Serialises the pages, images and font subset.
    fn finish(mut self, data: &ReportData) -> Result<Vec<u8>> {
        if !self.page.content.as_bytes().is_empty() || self.done.is_empty() {
            self.new_page();
        }
        let Doc {
            font,
            glyphs,
            done: pages,
            images,
            ..
        } = self;
        let mut next_id = 1;
        let mut alloc = || {
            let r = Ref::new(next_id);
            next_id += 1;
            r
        };
        let catalog_id = alloc();
        let tree_id = alloc();
        let info_id = alloc();
        let type0_id = alloc();
        let cid_id = alloc();
        let descriptor_id = alloc();
        let font_file_id = alloc();
        let to_unicode_id = alloc();
        let image_ids: Vec<Ref> = images.iter().map(|_| alloc()).collect();
        let page_ids: Vec<(Ref, Ref)> = pages.iter().map(|_| (alloc(), alloc())).collect();

        let mut pdf = Pdf::new();
        pdf.catalog(catalog_id).pages(tree_id);
        let count = i32::try_from(pages.len()).context("too many pages")?;
        pdf.pages(tree_id)
            .kids(page_ids.iter().map(|(p, _)| *p))
            .count(count);

        for (page, (page_id, content_id)) in pages.into_iter().zip(&page_ids) {
            let mut p = pdf.page(*page_id);
            p.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
            p.parent(tree_id);
            p.contents(*content_id);
            let mut resources = p.resources();
            resources.fonts().pair(FONT_RESOURCE, type0_id);
            if !page.images.is_empty() {
                let mut x_objects = resources.x_objects();
                for index in &page.images {
                    let id = *image_ids.get(*index).context("image index out of range")?;
                    x_objects.pair(Name(image_name(*index).as_bytes()), id);
                }
            }
            resources.finish();
            p.finish();
            let content = page.content.finish();
            pdf.stream(*content_id, &deflate(&content))
                .filter(Filter::FlateDecode);
        }

        for (image, id) in images.iter().zip(&image_ids) {
            let encoded = deflate(&image.rgb);
            let mut xobject = pdf.image_xobject(*id, &encoded);
            xobject.filter(Filter::FlateDecode);
            xobject.width(i32::try_from(image.width).context("image too wide")?);
            xobject.height(i32::try_from(image.height).context("image too tall")?);
            xobject.color_space().device_rgb();
            xobject.bits_per_component(8);
        }

        glyphs.write(
            &mut pdf,
            &font,
            FontRefs {
                type0_id,
                cid_id,
                descriptor_id,
                font_file_id,
                to_unicode_id,
            },
        )?;

        let mut info = pdf.document_info(info_id);
        info.title(TextStr(&data.title));
        info.producer(TextStr("FREEDUMB analytics"));
        if let Some(date) = pdf_date(data.generated) {
            info.creation_date(date);
        }
        info.finish();
        Ok(pdf.finish())
    }
}

/// The XObject resource name of image `index`.
fn image_name(index: usize) -> String {
    format!("Im{index}")
}

/// A colour as PDF fill components in 0..=1.
fn unit_rgb((r, g, b): Rgb) -> (f32, f32, f32) {
    (
        f32::from(r) / 255.0,
        f32::from(g) / 255.0,
        f32::from(b) / 255.0,
    )
}

/// zlib-compressed `data` for a `/FlateDecode` stream.
fn deflate(data: &[u8]) -> Vec<u8> {
    compress_to_vec_zlib(data, CompressionLevel::DefaultLevel as u8)
}

/// A PDF date for `t` (None for years PDF cannot express).
fn pdf_date(t: DateTime<Utc>) -> Option<Date> {
    let year = u16::try_from(t.year()).ok()?;
    let two = |v: u32| u8::try_from(v).ok();
    Some(
        Date::new(year)
            .month(two(t.month())?)
            .day(two(t.day())?)
            .hour(two(t.hour())?)
            .minute(two(t.minute())?)
            .second(two(t.second())?)
            .utc_offset_hour(0)
            .utc_offset_minute(0),
    )
}

// ---------------------------------------------------------------------------
// Font
// ---------------------------------------------------------------------------

/// The embedded font, parsed.
struct Font {
    face: ttf_parser::Face<'static>,
    /// Font units to PDF glyph-space units (1/1000 em).
    to_milli_em: f32,
}

impl Font {
    fn load() -> Result<Self> {
        let face = ttf_parser::Face::parse(FONT_DATA, 0)
            .map_err(|e| anyhow!("embedded font is unreadable: {e}"))?;
        let units = face.units_per_em();
        if units == 0 {
            return Err(anyhow!("embedded font has no units per em"));
        }
        Ok(Self {
            face,
            to_milli_em: 1000.0 / f32::from(units),
        })
    }

    /// The glyph for `c` (0, `.notdef`, when the font lacks it) and its
    /// advance in 1/1000 em.
    fn glyph(&self, c: char) -> (u16, f32) {
        let id = self.face.glyph_index(c).map_or(0, |g| g.0);
        (id, self.advance(id))
    }

    /// The advance of glyph `id` in 1/1000 em.
    fn advance(&self, id: u16) -> f32 {
        let units = self
            .face
            .glyph_hor_advance(ttf_parser::GlyphId(id))
            .unwrap_or(0);
        f32::from(units) * self.to_milli_em
    }

    fn width(&self, text: &str, size: f32) -> f32 {
        text.chars()
            .map(|c| self.glyph(printable(c)).1)
            .sum::<f32>()
            * size
            / 1000.0
    }

    fn fit(&self, text: &str, size: f32, max_width: f32) -> String {
        if self.width(text, size) <= max_width {
            return text.to_owned();
        }
        let budget = max_width - self.width("\u{2026}", size);
        let mut used = 0.0;
        let mut out = String::new();
        for c in text.chars() {
            let w = self.glyph(printable(c)).1 * size / 1000.0;
            if used + w > budget {
                break;
            }
            used += w;
            out.push(c);
        }
        let kept = out.trim_end().len();
        out.truncate(kept);
        out.push('\u{2026}');
        out
    }
}

/// Control characters (tabs, newlines in user input) are drawn as spaces.
fn printable(c: char) -> char {
    if c.is_control() { ' ' } else { c }
}

/// The glyphs used so far, renumbered densely for the subset (new id = CID).
struct GlyphSet {
    remapper: subsetter::GlyphRemapper,
    /// Advance per new glyph id, in 1/1000 em.
    widths: Vec<f32>,
    /// The character each new glyph id stands for, for the ToUnicode map.
    chars: Vec<Option<char>>,
}

/// Object ids of the parts of the embedded font.
struct FontRefs {
    type0_id: Ref,
    cid_id: Ref,
    descriptor_id: Ref,
    font_file_id: Ref,
    to_unicode_id: Ref,
}

impl GlyphSet {
    fn new(font: &Font) -> Self {
        // The remapper always maps .notdef (0) to 0.
        Self {
            remapper: subsetter::GlyphRemapper::new(),
            widths: vec![font.advance(0)],
            chars: vec![None],
        }
    }

    /// `text` as big-endian 2-byte CIDs (Identity-H), recording each glyph.
    fn encode(&mut self, font: &Font, text: &str) -> Vec<u8> {
        let mut out = Vec::with_capacity(text.len() * 2);
        for c in text.chars().map(printable) {
            let (old, width) = font.glyph(c);
            let new = self.remapper.remap(old);
            let index = usize::from(new);
            if index >= self.widths.len() {
                self.widths.resize(index + 1, 0.0);
                self.chars.resize(index + 1, None);
            }
            self.widths[index] = width;
            if self.chars[index].is_none() {
                self.chars[index] = Some(if old == 0 { '\u{fffd}' } else { c });
            }
            out.extend_from_slice(&new.to_be_bytes());
        }
        out
    }

    /// Writes the Type0 font, its CIDFontType2 descendant, the descriptor,
    /// the subset font program and the ToUnicode map.
    fn write(&self, pdf: &mut Pdf, font: &Font, refs: FontRefs) -> Result<()> {
        let program = subsetter::subset(FONT_DATA, 0, &self.remapper)
            .map_err(|e| anyhow!("subsetting the font: {e}"))?;
        let mut hasher = DefaultHasher::new();
        self.remapper
            .remapped_gids()
            .collect::<Vec<_>>()
            .hash(&mut hasher);
        let mut tag_seed = Hasher::finish(&hasher);
        let tag: String = (0..6)
            .map(|_| {
                let letter = char::from(b'A' + (tag_seed % 26) as u8);
                tag_seed /= 26;
                letter
            })
            .collect();
        let base_font = format!("{tag}+{FONT_PS_NAME}");
        let base_font = Name(base_font.as_bytes());
        let system_info = SystemInfo {
            registry: Str(b"Adobe"),
            ordering: Str(b"Identity"),
            supplement: 0,
        };

        pdf.type0_font(refs.type0_id)
            .base_font(base_font)
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(refs.cid_id)
            .to_unicode(refs.to_unicode_id);

        let mut cid = pdf.cid_font(refs.cid_id);
        cid.subtype(CidFontType::Type2)
            .base_font(base_font)
            .system_info(system_info)
            .font_descriptor(refs.descriptor_id)
            .default_width(0.0)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        cid.widths()
            .consecutive(0, self.widths.iter().map(|w| w.round()));
        cid.finish();

        let face = &font.face;
        let scale = |v: i16| f32::from(v) * font.to_milli_em;
        let bbox = face.global_bounding_box();
        pdf.font_descriptor(refs.descriptor_id)
            .name(base_font)
            .flags(FontFlags::SYMBOLIC)
            .bbox(Rect::new(
                scale(bbox.x_min),
                scale(bbox.y_min),
                scale(bbox.x_max),
                scale(bbox.y_max),
            ))
            .italic_angle(0.0)
            .ascent(scale(face.ascender()))
            .descent(scale(face.descender()))
            .cap_height(scale(
                face.capital_height().unwrap_or_else(|| face.ascender()),
            ))
            .stem_v(80.0)
            .font_file2(refs.font_file_id);

        let length = i32::try_from(program.len()).context("font subset too large")?;
        pdf.stream(refs.font_file_id, &deflate(&program))
            .filter(Filter::FlateDecode)
            .pair(Name(b"Length1"), length);

        let mut cmap = UnicodeCmap::new(Name(b"Custom"), system_info);
        for (id, c) in self.chars.iter().enumerate() {
            if let (Some(c), Ok(id)) = (c, u16::try_from(id)) {
                cmap.pair(id, *c);
            }
        }
        pdf.stream(refs.to_unicode_id, &deflate(&cmap.finish()))
            .filter(Filter::FlateDecode);
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::Instant;

    const ODD_NAME: &str = "Caf\u{e9} (Paris) \\ \"\u{d1}and\u{fa}\"";

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn realistic() -> ReportData {
        let names = [
            "Rent",
            "Groceries",
            ODD_NAME,
            "Transport",
            "Utilities",
            "Insurance",
            "Restaurants",
            "Health",
            "Clothing",
            "Subscriptions",
            "Gifts",
            "Travel \u{2013} \u{0391}\u{03b8}\u{03ae}\u{03bd}\u{03b1} / \u{041c}\u{043e}\u{0441}\u{043a}\u{0432}\u{0430}",
            "Education",
            "Household supplies and a very long category name that must be truncated somewhere",
            "Pets \u{1f436} \u{98df}\u{8cbb}",
        ];
        let by_category: Vec<(String, i64)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| ((*n).to_owned(), 1_234_567 / (i as i64 + 1) + 99))
            .collect();
        let spending: i64 = by_category.iter().map(|(_, v)| v).sum();
        let income: i64 = 4_567_890;
        let cash_flow = (1..=12)
            .map(|m| {
                let inc = 350_000 + m * 2_345;
                let out = 250_000 + (m * 7_919) % 90_000;
                (format!("2024-{m:02}"), inc, out)
            })
            .collect();
        let net_worth = (1..=12)
            .map(|m| (day(2024, m, 28), -150_000 + i64::from(m) * 95_123))
            .collect();
        ReportData {
            title: "Spending and income report".to_owned(),
            start: day(2024, 1, 1),
            end: day(2024, 12, 31),
            currency: "EUR".to_owned(),
            exponent: 2,
            generated: DateTime::<Utc>::from_timestamp(1_736_071_200, 0).unwrap(),
            income_minor: income,
            spending_minor: spending,
            savings_rate: Some((income - spending) as f64 / income as f64),
            by_category,
            cash_flow,
            net_worth,
        }
    }

    fn empty() -> ReportData {
        ReportData {
            title: "Spending and income report".to_owned(),
            start: day(2024, 1, 1),
            end: day(2024, 1, 31),
            currency: "JPY".to_owned(),
            exponent: 0,
            generated: DateTime::<Utc>::from_timestamp(1_736_071_200, 0).unwrap(),
            income_minor: 0,
            spending_minor: 0,
            savings_rate: None,
            by_category: Vec::new(),
            cash_flow: Vec::new(),
            net_worth: Vec::new(),
        }
    }

    /// Whether an external checker can run; panics when CI is set and it can't.
    fn tool_ready(name: &str, probe: &mut Command) -> bool {
        let ok = probe.output().map(|o| o.status.success()).unwrap_or(false);
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "{name} is required when CI is set"
            );
            eprintln!("skipping the {name} check: {name} is not available");
        }
        ok
    }

    fn pdftotext_ready() -> bool {
        tool_ready("pdftotext", Command::new("pdftotext").arg("-v"))
    }

    fn pypdf_ready() -> bool {
        tool_ready(
            "pypdf",
            Command::new("python3").args(["-c", "import pypdf"]),
        )
    }

    fn write_temp(name: &str, bytes: &[u8]) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("freedumb-report-{}-{name}.pdf", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn pdftotext(path: &PathBuf) -> String {
        let out = Command::new("pdftotext")
            .arg("-layout")
            .arg(path)
            .arg("-")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pdftotext failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn count_images(path: &PathBuf) -> usize {
        let script = "import pypdf,sys; r=pypdf.PdfReader(sys.argv[1]); \
                      print(sum(len(p.images) for p in r.pages))";
        let out = Command::new("python3")
            .args(["-c", script])
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pypdf failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn realistic_report_extracts_with_pdftotext() {
        let data = realistic();
        let bytes = render_pdf(&data).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let path = write_temp("realistic", &bytes);
        if pdftotext_ready() {
            let text = pdftotext(&path);
            assert!(text.contains("Spending and income report"), "{text}");
            for minor in [
                data.income_minor,
                data.spending_minor,
                data.income_minor - data.spending_minor,
            ] {
                let money = format_money(minor, 2, "EUR");
                assert!(text.contains(&money), "missing {money} in:\n{text}");
            }
            let rate = format!("{:.1}%", data.savings_rate.unwrap() * 100.0);
            assert!(text.contains(&rate), "missing {rate} in:\n{text}");
            assert!(text.contains(ODD_NAME), "missing {ODD_NAME} in:\n{text}");
            assert!(text.contains("2024-01-01"), "{text}");
            assert!(text.contains("Other (5 categories)"), "{text}");
            assert!(text.contains("Net worth (EUR)"), "{text}");
            assert!(!text.contains(NO_DATA), "{text}");
        }
        if pypdf_ready() {
            assert_eq!(count_images(&path), 3);
        }
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn empty_report_says_no_data() {
        let bytes = render_pdf(&empty()).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let path = write_temp("empty", &bytes);
        if pdftotext_ready() {
            let text = pdftotext(&path);
            assert_eq!(text.matches(NO_DATA).count(), 3, "{text}");
            assert!(text.contains("0 JPY"), "{text}");
            assert!(text.contains("n/a (no income)"), "{text}");
        }
        if pypdf_ready() {
            assert_eq!(count_images(&path), 0);
        }
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn three_hundred_categories_span_pages() {
        let mut data = realistic();
        data.by_category = (1..=300)
            .map(|i| (format!("Category {i:03}"), 1_000_000 - i64::from(i) * 3_000))
            .collect();
        let bytes = render_pdf(&data).unwrap();
        let path = write_temp("many", &bytes);
        if pdftotext_ready() {
            let text = pdftotext(&path);
            let pages = text.matches('\u{c}').count();
            assert!(pages >= 8, "expected several table pages, got {pages}");
            assert!(text.contains("Category 300"), "{text}");
            assert!(text.contains("Category 001"), "{text}");
            assert!(text.contains(&format!("Page {pages} of {pages}")), "{text}");
        }
        std::fs::remove_file(&path).ok();
    }

    #[test]
    fn odd_inputs_render() {
        let mut data = realistic();
        data.title = "Report \u{2014} (x) \\ \u{0} \n\t \u{10ffff} ".repeat(20);
        data.currency = String::new();
        data.exponent = 40;
        data.savings_rate = Some(f64::NAN);
        data.by_category = vec![("Refunds".to_owned(), -500), ("Zero".to_owned(), 0)];
        data.cash_flow = vec![("only".to_owned(), 0, 0)];
        data.net_worth = vec![(day(2024, 5, 1), i64::MIN), (day(2024, 5, 1), i64::MAX)];
        data.income_minor = i64::MIN;
        data.spending_minor = i64::MAX;
        let bytes = render_pdf(&data).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        data.net_worth = vec![(day(2024, 5, 1), 42)];
        render_pdf(&data).unwrap();
        data.exponent = 0;
        data.cash_flow = (0..500)
            .map(|i| (format!("period {i}"), i64::MAX - i, i64::MIN + i))
            .collect();
        data.net_worth = (0..3000)
            .map(|i| (day(2000, 1, 1) + chrono::Days::new(i), i64::MAX - i as i64))
            .collect();
        data.by_category = (0..400)
            .map(|i| ("\u{202e}x".repeat(i), i64::MAX))
            .collect();
        render_pdf(&data).unwrap();
    }

    #[test]
    fn money_formats() {
        assert_eq!(format_money(0, 2, "EUR"), "0.00 EUR");
        assert_eq!(format_money(5, 2, "EUR"), "0.05 EUR");
        assert_eq!(format_money(-5, 2, "EUR"), "-0.05 EUR");
        assert_eq!(format_money(123_456_789, 2, "EUR"), "1,234,567.89 EUR");
        assert_eq!(format_money(1_234_567, 0, "JPY"), "1,234,567 JPY");
        assert_eq!(format_money(12_346, 0, "JPY"), "12,346 JPY");
        assert_eq!(format_money(-123_450, 2, "EUR"), "-1,234.50 EUR");
        assert_eq!(format_money(1_234_567, 2, "EUR"), "12,345.67 EUR");
        assert_eq!(format_money(999, 2, "EUR"), "9.99 EUR");
        assert_eq!(format_money(100_000, 2, "EUR"), "1,000.00 EUR");
        assert_eq!(format_money(1, 3, "BHD"), "0.001 BHD");
        assert_eq!(
            format_money(i64::MIN, 2, "EUR"),
            "-92,233,720,368,547,758.08 EUR"
        );
        assert_eq!(format_money(i64::MAX, 0, ""), "9,223,372,036,854,775,807");
        assert_eq!(format_money(7, u32::MAX, "X"), format_money(7, 18, "X"));
    }

    #[test]
    fn helpers() {
        assert_eq!(format_number(-12_500.5, 1), "-12,500.5");
        assert_eq!(format_number(-0.01, 0), "0");
        assert_eq!(format_rate(Some(0.234)), "23.4%");
        assert_eq!(format_share(1, 3), "33.3%");
        let ticks = Ticks::new(-1_500.0, 9_876.0);
        assert!(ticks.lo <= -1_500.0 && ticks.hi >= 9_876.0);
        assert!(ticks.values.contains(&0.0));
        assert_eq!(ticks.label(2_500.0), "2,500");
        let font = Font::load().unwrap();
        let fitted = font.fit(&"W".repeat(200), 10.0, 100.0);
        assert!(fitted.ends_with('\u{2026}') && font.width(&fitted, 10.0) <= 100.0);
    }

    /// Prints how long a full render takes (run with `--release --nocapture`
    /// for meaningful numbers); asserts nothing about time.
    #[test]
    fn render_time() {
        let mut many = realistic();
        many.by_category = (1..=300)
            .map(|i| (format!("Category {i:03}"), 1_000_000 - i64::from(i) * 3_000))
            .collect();
        for (name, data) in [("realistic", realistic()), ("300 categories", many)] {
            let runs = 5;
            let started = Instant::now();
            let mut size = 0;
            for _ in 0..runs {
                size = render_pdf(&data).unwrap().len();
            }
            let per_render = started.elapsed() / runs;
            eprintln!("render_pdf ({name}): {per_render:?} per report, {size} bytes");
        }
    }
}
