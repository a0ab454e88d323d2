//! A [`DailyReport`] as a document: one self-contained HTML file (inline SVG charts, inline
//! style, no script, nothing fetched), or Markdown with its charts as SVG files beside it.
//! Labels and numbers follow the language (`vi`: `1.234.567` and `12,5 %`; `en`: `1,234,567`
//! and `12.5%`). Charts are drawn with plotters' SVG backend; their text is laid out by the
//! browser, so no font is needed here.

use std::fmt::Write as _;

use plotters::prelude::*;

use super::{DailyReport, GroupRow, Note};
use crate::error::{Error, Result};

/// The language of labels and numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Vietnamese.
    Vi,
    /// English.
    #[default]
    En,
}

impl Lang {
    /// `vi` or `en`.
    pub fn parse(s: &str) -> Result<Lang> {
        match s {
            "vi" => Ok(Lang::Vi),
            "en" => Ok(Lang::En),
            _ => Err(Error::InvalidArgument { what: "language", value: s.to_string(), hint: "use vi or en".into() }),
        }
    }

    /// The label in this language.
    fn t<'a>(self, vi: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// `n` with thousands grouped.
    pub fn int(self, n: u64) -> String {
        let digits = n.to_string();
        let sep = self.t(".", ",");
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push_str(sep);
            }
            out.push(c);
        }
        out
    }

    /// `x` with one decimal and grouped thousands.
    pub fn dec(self, x: f64) -> String {
        let tenths = (x * 10.0).round().max(0.0) as u64;
        format!("{}{}{}", self.int(tenths / 10), self.t(",", "."), tenths % 10)
    }

    /// A share `0..=1` as a percentage with one decimal.
    pub fn pct(self, share: f64) -> String {
        format!("{}{}", self.dec(share * 100.0), self.t(" %", "%"))
    }
}

/// One chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// File stem (`checkins-by-day`).
    pub name: &'static str,
    /// The SVG document.
    pub svg: String,
}

fn chart_error(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("drawing a report chart: {e}"))
}

/// Vertical bars, one per label; `highlight` bars in the accent colour.
fn bars(title: &str, labels: &[String], values: &[(f64, bool)], lang: Lang, percent: bool) -> Result<String> {
    let mut svg = String::new();
    {
        let n = labels.len().max(1) as u32;
        let top = values.iter().map(|v| v.0).fold(0.0, f64::max);
        let top = if top <= 0.0 { 1.0 } else { top * 1.12 };
        let root = SVGBackend::with_string(&mut svg, (760, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 17))
            .margin(10)
            .x_label_area_size(if labels.len() > 8 { 70 } else { 32 })
            .y_label_area_size(70)
            .build_cartesian_2d((0..n).into_segmented(), 0.0..top)
            .map_err(chart_error)?;
        let label_of = |x: &SegmentValue<u32>| match x {
            SegmentValue::CenterOf(i) => labels.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        let y_of = |y: &f64| if percent { lang.pct(*y) } else { lang.int(y.round() as u64) };
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh().x_labels(labels.len().max(1)).x_label_formatter(&label_of).y_label_formatter(&y_of);
        if labels.len() > 8 {
            mesh.x_label_style(("sans-serif", 11).into_font().transform(FontTransform::Rotate90));
        }
        mesh.draw().map_err(chart_error)?;
        let (base, accent) = (RGBColor(160, 174, 192), RGBColor(197, 48, 48));
        chart
            .draw_series(values.iter().enumerate().map(|(i, &(v, hl))| {
                let i = i as u32;
                let mut bar = Rectangle::new(
                    [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), v)],
                    if hl { accent } else { base }.filled(),
                );
                bar.set_margin(0, 0, 6, 6);
                bar
            }))
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(svg)
}

/// The report's charts: check-ins per day, check-ins per district (period against the
/// baseline's mean), and the share of stays without a check-out by category.
pub fn charts(r: &DailyReport, lang: Lang) -> Result<Vec<Chart>> {
    let days: Vec<String> = r.by_day.iter().map(|d| d.day.get(5..).unwrap_or(&d.day).to_string()).collect();
    let by_day: Vec<(f64, bool)> = r.by_day.iter().map(|d| (d.checkins as f64, d.in_period)).collect();
    let per_day = r.period.days.max(1) as f64;
    let top: Vec<&GroupRow> = r.districts.iter().take(12).collect();
    let mut district_labels = Vec::new();
    let mut district_values = Vec::new();
    for d in &top {
        district_labels.push(String::new());
        district_values.push((d.baseline_mean, false));
        district_labels.push(d.name.clone());
        district_values.push((d.checkins as f64 / per_day, true));
    }
    let cats: Vec<&GroupRow> = r.categories.iter().filter(|c| c.checkins > 0).take(16).collect();
    Ok(vec![
        Chart {
            name: "checkins-by-day",
            svg: bars(lang.t("Lượt quét mỗi ngày", "Check-ins per day"), &days, &by_day, lang, false)?,
        },
        Chart {
            name: "checkins-by-district",
            svg: bars(
                lang.t(
                    "Lượt quét mỗi ngày theo quận/huyện (xám: trung bình 7 ngày trước, đỏ: kỳ báo cáo)",
                    "Check-ins per day by district (grey: previous days' mean, red: this period)",
                ),
                &district_labels,
                &district_values,
                lang,
                false,
            )?,
        },
        Chart {
            name: "missing-checkout-by-category",
            svg: bars(
                lang.t("Tỷ lệ lượt không quét ra, theo loại địa điểm", "Share of stays without check-out, by category"),
                &cats.iter().map(|c| c.name.clone()).collect::<Vec<_>>(),
                &cats.iter().map(|c| (c.missing_share, false)).collect::<Vec<_>>(),
                lang,
                true,
            )?,
        },
    ])
}

/// HTML-escape text (for attribute values too).
pub fn escape_html(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A table: header cells and rows of cells; cells are given escaped, numbers right-aligned.
struct Table {
    head: Vec<String>,
    rows: Vec<Vec<(String, bool)>>,
}

impl Table {
    fn new(head: &[&str]) -> Table {
        Table { head: head.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    fn row(&mut self, cells: Vec<(String, bool)>) {
        self.rows.push(cells);
    }

    fn html(&self, out: &mut String) {
        out.push_str("<table><thead><tr>");
        for h in &self.head {
            let _ = write!(out, "<th>{}</th>", escape_html(h));
        }
        out.push_str("</tr></thead><tbody>");
        for r in &self.rows {
            out.push_str("<tr>");
            for (c, num) in r {
                let _ = write!(out, "<td{}>{}</td>", if *num { " class=n" } else { "" }, escape_html(c));
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>\n");
    }

    fn markdown(&self, out: &mut String) {
        let cell = |s: &str| s.replace('|', "\\|");
        let _ = writeln!(out, "| {} |", self.head.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | "));
        let _ = writeln!(
            out,
            "|{}",
            self.rows.first().map_or(self.head.iter().map(|_| "---|").collect::<String>(), |r| {
                r.iter().map(|(_, num)| if *num { "---:|" } else { "---|" }).collect()
            })
        );
        for r in &self.rows {
            let _ = writeln!(out, "| {} |", r.iter().map(|(c, _)| cell(c)).collect::<Vec<_>>().join(" | "));
        }
        out.push('\n');
    }
}

/// The document as sections, each a heading, paragraphs and tables, rendered to HTML or
/// Markdown by the same code.
enum Block {
    H2(String),
    H3(String),
    P(String),
    Table(Table),
    Chart(usize),
}

fn blocks(r: &DailyReport, lang: Lang) -> Vec<Block> {
    let (int, dec, pct) = (|n: u64| lang.int(n), |x: f64| lang.dec(x), |x: f64| lang.pct(x));
    let t = &r.totals;
    let mut b = Vec::new();
    let period = if r.period.from == r.period.to {
        r.period.from.clone()
    } else {
        format!("{} – {}", r.period.from, r.period.to)
    };
    b.push(Block::P(format!(
        "{} {period} ({} {}) · {} {} · {} {}",
        lang.t("Kỳ báo cáo", "Period"),
        lang.t("múi giờ", "time zone"),
        r.period.tz,
        lang.t("so với", "compared with"),
        match lang {
            Lang::Vi => format!(
                "{} ngày trước từ {} ({} ngày có dữ liệu)",
                r.period.baseline_days, r.period.baseline_from, r.period.baseline_days_with_data
            ),
            Lang::En => format!(
                "the {} days before, from {} ({} with data)",
                r.period.baseline_days, r.period.baseline_from, r.period.baseline_days_with_data
            ),
        },
        lang.t("phiên bản kho", "store version"),
        r.store_version
    )));
    for n in &r.notes {
        b.push(Block::P(format!("{} {}", lang.t("Lưu ý:", "Note:"), note(n, lang))));
    }

    // Summary.
    b.push(Block::H2(lang.t("Tóm tắt", "Summary").into()));
    let mut s = Table::new(&[lang.t("Chỉ số", "Figure"), lang.t("Giá trị", "Value")]);
    let change = if t.baseline_mean > 0.0 {
        let per_day = t.checkins as f64 / r.period.days.max(1) as f64;
        format!(
            " ({}{})",
            if per_day >= t.baseline_mean { "+" } else { "−" },
            pct((per_day / t.baseline_mean - 1.0).abs())
        )
    } else {
        String::new()
    };
    for (k, v) in [
        (lang.t("Lượt quét QR", "QR check-ins"), format!("{}{change}", int(t.checkins))),
        (lang.t("Trung bình/ngày, kỳ trước", "Mean per day before"), dec(t.baseline_mean)),
        (lang.t("Người quét", "Persons"), int(t.persons)),
        (lang.t("Người quét lần đầu", "Persons seen for the first time"), int(t.first_seen)),
        (
            lang.t("Lượt không quét ra", "Stays without check-out"),
            format!("{} ({})", int(t.missing_checkout), pct(share(t.missing_checkout, t.checkins))),
        ),
        (lang.t("Địa điểm có lượt quét", "Venues with a check-in"), int(t.venues_scanned)),
        (lang.t("Địa điểm đã đăng ký", "Registered venues"), int(t.venues_registered)),
        (lang.t("Địa điểm không ai quét (kỳ này)", "Registered venues nobody scanned (period)"), int(t.venues_silent)),
        (lang.t("... và cả 7 ngày trước", "... nor in the days before"), int(t.venues_silent_baseline)),
        (lang.t("Ca bệnh mới (F0)", "New cases (F0)"), int(r.cases.new_cases.len() as u64)),
        (lang.t("F1 của ca mới", "F1 of the new cases"), int(r.cases.f1)),
        (lang.t("F2 của ca mới", "F2 of the new cases"), int(r.cases.f2)),
        (lang.t("Điểm nóng", "Hotspots"), int(r.cases.hotspots.len() as u64)),
        (lang.t("Dòng bị loại", "Rejected rows"), int(r.quality.rejected)),
    ] {
        s.row(vec![(k.to_string(), false), (v, true)]);
    }
    b.push(Block::Table(s));

    // Adoption.
    b.push(Block::H2(lang.t("1. Sử dụng mã QR", "1. Use of QR check-in").into()));
    b.push(Block::Chart(0));
    b.push(Block::H3(lang.t("Theo quận/huyện", "By district").into()));
    b.push(Block::Chart(1));
    let mut d = Table::new(&[
        lang.t("Quận/huyện", "District"),
        lang.t("Lượt quét", "Check-ins"),
        lang.t("TB/ngày trước", "Mean/day before"),
        lang.t("Không quét ra", "No check-out"),
        lang.t("Địa điểm", "Venues"),
        lang.t("Không ai quét", "Silent"),
        lang.t("Im lặng 8 ngày", "Silent 8 days"),
        lang.t("Ca mới đã đến", "New cases visited"),
        lang.t("Điểm nóng", "Hotspots"),
    ]);
    for row in &r.districts {
        d.row(vec![
            (row.name.clone(), false),
            (int(row.checkins), true),
            (dec(row.baseline_mean), true),
            (pct(row.missing_share), true),
            (int(row.venues_registered), true),
            (int(row.venues_silent), true),
            (int(row.venues_silent_baseline), true),
            (int(row.new_cases_visited), true),
            (int(row.hotspots), true),
        ]);
    }
    b.push(Block::Table(d));
    b.push(Block::H3(lang.t("Theo loại địa điểm", "By venue category").into()));
    b.push(Block::Chart(2));
    let mut c = Table::new(&[
        lang.t("Loại", "Category"),
        lang.t("Lượt quét", "Check-ins"),
        lang.t("TB/ngày trước", "Mean/day before"),
        lang.t("Không quét ra", "No check-out"),
        lang.t("Tỷ lệ", "Share"),
        lang.t("Không ai quét", "Silent"),
    ]);
    for row in &r.categories {
        c.row(vec![
            (row.name.clone(), false),
            (int(row.checkins), true),
            (dec(row.baseline_mean), true),
            (int(row.missing_checkout), true),
            (pct(row.missing_share), true),
            (int(row.venues_silent), true),
        ]);
    }
    b.push(Block::Table(c));
    b.push(Block::H3(lang.t("Có mã QR nhưng không ai quét", "QR posted, nobody scans").into()));
    if r.silent_venues.is_empty() {
        b.push(Block::P(lang.t("Không có.", "None.").into()));
    } else {
        const SHOWN: usize = 50;
        let mut sv = Table::new(&[
            lang.t("Quận/huyện", "District"),
            lang.t("Mã địa điểm", "Venue"),
            lang.t("Tên", "Name"),
            lang.t("Loại", "Category"),
            lang.t("Cả 7 ngày trước", "Nor the days before"),
        ]);
        let mut list: Vec<_> = r.silent_venues.iter().collect();
        list.sort_by_key(|v| !v.silent_baseline);
        for v in list.iter().take(SHOWN) {
            sv.row(vec![
                (v.district.clone(), false),
                (v.venue_id.clone(), false),
                (v.name.clone().unwrap_or_default(), false),
                (v.category.clone(), false),
                (if v.silent_baseline { lang.t("có", "yes") } else { lang.t("không", "no") }.into(), false),
            ]);
        }
        if r.silent_venues.len() > SHOWN {
            b.push(Block::P(match lang {
                Lang::Vi => format!(
                    "{} địa điểm đầu trong {} (danh sách đủ trong JSON).",
                    SHOWN,
                    int(r.silent_venues.len() as u64)
                ),
                Lang::En => format!("The first {SHOWN} of {} (the JSON lists all).", int(r.silent_venues.len() as u64)),
            }));
        }
        b.push(Block::Table(sv));
    }

    // Cases.
    b.push(Block::H2(lang.t("2. Ca bệnh và tiếp xúc", "2. Cases and contacts").into()));
    if r.cases.new_cases.is_empty() {
        b.push(Block::P(lang.t("Không có ca mới trong kỳ.", "No new case in the period.").into()));
    } else {
        let mut nc = Table::new(&[
            lang.t("Mã ca", "Case"),
            lang.t("Xác nhận lúc", "Confirmed"),
            "F1",
            "F2",
            lang.t("Quận/huyện đã đến", "Districts visited"),
        ]);
        for c in &r.cases.new_cases {
            nc.row(vec![
                (c.case_id.clone(), false),
                (c.confirmed_at.clone(), false),
                (int(c.f1), true),
                (int(c.f2), true),
                (c.districts.join(", "), false),
            ]);
        }
        b.push(Block::Table(nc));
        b.push(Block::P(match lang {
            Lang::Vi => format!(
                "Tổng cộng {} F1 và {} F2 khác nhau; {} người tiếp xúc với từ hai ca mới trở lên.",
                int(r.cases.f1),
                int(r.cases.f2),
                int(r.cases.reached_by_several)
            ),
            Lang::En => format!(
                "{} distinct F1s and {} distinct F2s in all; {} contacts were reached by two or more new cases.",
                int(r.cases.f1),
                int(r.cases.f2),
                int(r.cases.reached_by_several)
            ),
        }));
    }
    b.push(Block::H3(lang.t("Điểm nóng", "Hotspots").into()));
    if r.cases.hotspots.is_empty() {
        b.push(Block::P(lang.t("Không có.", "None.").into()));
    } else {
        let mut h = Table::new(&[
            "#",
            lang.t("Địa điểm", "Venue"),
            lang.t("Tên", "Name"),
            lang.t("Quận/huyện", "District"),
            lang.t("Số ca", "Cases"),
            lang.t("Ca mới", "New cases"),
            lang.t("Người phơi nhiễm", "Exposed"),
            lang.t("Lượt lưu trú cuối", "Last case stay"),
        ]);
        for x in r.cases.hotspots.iter().take(30) {
            h.row(vec![
                (x.rank.to_string(), true),
                (x.venue_id.clone(), false),
                (x.name.clone().unwrap_or_default(), false),
                (x.district.clone(), false),
                (int(x.cases), true),
                (int(x.new_cases), true),
                (int(x.exposed), true),
                (x.last_stay.clone(), false),
            ]);
        }
        b.push(Block::Table(h));
    }
    b.push(Block::H3(lang.t("Chùm ca có ca mới", "Clusters with a new case").into()));
    if r.cases.clusters.is_empty() {
        b.push(Block::P(lang.t("Không có.", "None.").into()));
    } else {
        let mut c = Table::new(&[
            lang.t("Chùm", "Cluster"),
            lang.t("Số ca", "Cases"),
            lang.t("Ca mới", "New cases"),
            lang.t("Địa điểm", "Venues"),
        ]);
        for x in &r.cases.clusters {
            c.row(vec![
                (x.id.to_string(), true),
                (int(x.cases), true),
                (int(x.new_cases), true),
                (x.venues.iter().take(8).cloned().collect::<Vec<_>>().join(", "), false),
            ]);
        }
        b.push(Block::Table(c));
    }

    // Quality.
    let q = &r.quality;
    b.push(Block::H2(lang.t("3. Chất lượng dữ liệu", "3. Data quality").into()));
    let mut qt = Table::new(&[lang.t("Chỉ số", "Figure"), lang.t("Giá trị", "Value")]);
    for (k, v) in [
        (lang.t("Dòng bị loại (lô của kỳ này)", "Rows rejected (batches of the period)"), q.rejected),
        (lang.t("Dòng đến muộn", "Rows arriving late"), q.late_rows),
        (lang.t("Lượt quét lặp lại", "Repeated scans"), q.repeated_scans),
        (
            lang.t("Giờ quét sau thời điểm nạp (lệch đồng hồ)", "Check-in after its batch's commit (clock ahead)"),
            q.dated_after_commit,
        ),
    ] {
        qt.row(vec![(k.to_string(), false), (int(v), true)]);
    }
    b.push(Block::Table(qt));
    if !q.rejected_by_reason.is_empty() {
        b.push(Block::H3(lang.t("Dòng bị loại theo lý do", "Rejected rows by reason").into()));
        let mut rr = Table::new(&[lang.t("Lý do", "Reason"), lang.t("Dòng", "Rows")]);
        for (reason, n) in &q.rejected_by_reason {
            rr.row(vec![(reason.clone(), false), (int(*n), true)]);
        }
        b.push(Block::Table(rr));
    }
    if !q.late.is_empty() {
        b.push(Block::H3(lang.t("Dữ liệu đến muộn", "Late-arriving rows").into()));
        let mut lt = Table::new(&[
            lang.t("Ngày (UTC)", "Day (UTC)"),
            lang.t("Lô", "Batch"),
            lang.t("Nạp lúc", "Committed"),
            lang.t("Dòng", "Rows"),
            lang.t("Kho đã có đến", "Store had reached"),
        ]);
        for x in &q.late {
            lt.row(vec![
                (x.day.clone(), false),
                (x.batch.to_string(), true),
                (x.committed_at.clone(), false),
                (int(x.rows), true),
                (x.store_reached.clone(), false),
            ]);
        }
        b.push(Block::Table(lt));
    }
    let mut bt = Table::new(&[
        lang.t("Lô", "Batch"),
        lang.t("Nạp lúc", "Committed"),
        lang.t("Nguồn", "Input"),
        lang.t("Dòng đọc", "Rows read"),
        lang.t("Dòng lưu", "Stored"),
        lang.t("Dòng loại", "Rejected"),
    ]);
    for x in &q.batches {
        bt.row(vec![
            (x.batch.to_string(), true),
            (x.committed_at.clone(), false),
            (
                match x.scans {
                    Some(_) => lang.t("lượt quét thô (ghép thành lượt ở)", "raw scans (paired into stays)"),
                    None => lang.t("lượt check-in", "check-ins"),
                }
                .to_string(),
                false,
            ),
            (int(x.rows_read), true),
            (int(x.rows_stored), true),
            (int(x.rows_rejected), true),
        ]);
    }
    if !q.batches.is_empty() {
        b.push(Block::H3(lang.t("Các lô dữ liệu của kỳ", "Batches behind the period").into()));
        b.push(Block::Table(bt));
    }
    b
}

/// A note in the report's language.
pub fn note(n: &Note, lang: Lang) -> String {
    match (lang, n) {
        (Lang::En, n) => n.to_string(),
        (Lang::Vi, Note::NoData) => "kho chưa có lượt quét nào".into(),
        (Lang::Vi, Note::BeforeData { day }) => format!("kỳ báo cáo trước mọi dữ liệu: ngày đầu (UTC) của kho là {day}"),
        (Lang::Vi, Note::AfterData { day }) => format!("kỳ báo cáo sau dữ liệu cuối: ngày cuối (UTC) của kho là {day}"),
        (Lang::Vi, Note::NoCheckins) => "không có lượt quét nào trong kỳ".into(),
        (Lang::Vi, Note::NoVenueRegister) => "kho chưa có danh mục địa điểm: mọi địa điểm tính vào (unknown), không thể nêu tên địa điểm không ai quét (nạp bằng `truyvet ingest --venues`)".into(),
        (Lang::Vi, Note::NoCaseRegister) => "danh sách ca bệnh trống: không có ca, tiếp xúc, điểm nóng hay chùm ca để báo cáo".into(),
        (Lang::Vi, Note::NoNewCase) => "không có ca bệnh nào được xác nhận trong kỳ".into(),
    }
}

fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

/// The report's title ("Daily report 2021-08-10").
pub fn title(r: &DailyReport, lang: Lang) -> String {
    if r.period.from == r.period.to {
        format!("{} {}", lang.t("Báo cáo ngày", "Daily report"), r.period.from)
    } else {
        format!("{} {} – {}", lang.t("Báo cáo", "Report"), r.period.from, r.period.to)
    }
}

/// Style of the report's tables, headings and charts (for a page that embeds
/// [`html_fragment`]).
pub const CONTENT_STYLE: &str = "h2{margin-top:1.6em;border-bottom:2px solid #c53030}h3{margin-top:1.2em}\
table{border-collapse:collapse;margin:.5em 0 1em}th,td{border:1px solid #cbd5e0;padding:3px 8px;text-align:left}\
th{background:#edf2f7}td.n{text-align:right;font-variant-numeric:tabular-nums}figure{margin:0}svg{max-width:100%;height:auto}";

const PAGE_STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;max-width:1000px;margin:1.5em auto;padding:0 1em;color:#1a202c}h1{font-size:1.6em}";

/// The report as one self-contained HTML document.
pub fn html(r: &DailyReport, lang: Lang) -> Result<String> {
    let title = escape_html(&title(r, lang));
    Ok(format!(
        "<!doctype html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{title}</title><style>{PAGE_STYLE}{CONTENT_STYLE}</style></head><body>\n<h1>{title}</h1>\n{}</body></html>\n",
        lang.t("vi", "en"),
        html_fragment(r, lang)?
    ))
}

/// The report's sections as HTML to put inside a page's body (headings from `h2`, charts as
/// inline SVG); style them with [`CONTENT_STYLE`].
pub fn html_fragment(r: &DailyReport, lang: Lang) -> Result<String> {
    let charts = charts(r, lang)?;
    let mut out = String::new();
    for block in blocks(r, lang) {
        match block {
            Block::H2(s) => {
                let _ = writeln!(out, "<h2>{}</h2>", escape_html(&s));
            }
            Block::H3(s) => {
                let _ = writeln!(out, "<h3>{}</h3>", escape_html(&s));
            }
            Block::P(s) => {
                let _ = writeln!(out, "<p>{}</p>", escape_html(&s));
            }
            Block::Table(t) => t.html(&mut out),
            Block::Chart(i) => {
                let svg = &charts[i].svg;
                // Drop the XML declaration, if any: the SVG is inline.
                let svg = svg.find("<svg").map_or(svg.as_str(), |at| &svg[at..]);
                let _ = writeln!(out, "<figure id=\"{}\">{svg}</figure>", charts[i].name);
            }
        }
    }
    Ok(out)
}

/// The report as Markdown, and its charts as `(file name, SVG)` to write beside it; images
/// are linked as `{prefix}{name}.svg`.
pub fn markdown(r: &DailyReport, lang: Lang, prefix: &str) -> Result<(String, Vec<(String, String)>)> {
    let charts = charts(r, lang)?;
    let mut out = format!("# {}\n\n", title(r, lang));
    for block in blocks(r, lang) {
        match block {
            Block::H2(s) => {
                let _ = write!(out, "## {s}\n\n");
            }
            Block::H3(s) => {
                let _ = write!(out, "### {s}\n\n");
            }
            Block::P(s) => {
                let _ = write!(out, "{s}\n\n");
            }
            Block::Table(t) => t.markdown(&mut out),
            Block::Chart(i) => {
                let _ = write!(out, "![{}]({prefix}{}.svg)\n\n", charts[i].name, charts[i].name);
            }
        }
    }
    let files = charts.into_iter().map(|c| (format!("{prefix}{}.svg", c.name), c.svg)).collect();
    Ok((out, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_by_language() {
        assert_eq!(Lang::En.int(1_234_567), "1,234,567");
        assert_eq!(Lang::Vi.int(1_234_567), "1.234.567");
        assert_eq!(Lang::En.int(999), "999");
        assert_eq!(Lang::Vi.dec(1234.56), "1.234,6");
        assert_eq!(Lang::En.pct(0.125), "12.5%");
        assert_eq!(Lang::Vi.pct(0.125), "12,5 %");
        assert!(Lang::parse("fr").is_err());
    }

    #[test]
    fn escapes() {
        assert_eq!(escape_html("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
