//! The tracers' web page: server-rendered HTML, no script, no external asset; labels in
//! Vietnamese (`?lang=vi`, the default) or English (`?lang=en`).

use std::fmt::Write;
use std::sync::Arc;

use arrow::array::RecordBatch;
use axum::Extension;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use truyvet::encode;
pub(crate) use truyvet::report::render::escape_html as esc;
use truyvet::report::render::{self, Lang};

use crate::api::{Params, blocking};
use crate::live::Live;
use crate::respond::ApiError;
use crate::signin::User;

/// A label in both languages.
fn t(vi: bool, vi_text: &'static str, en_text: &'static str) -> &'static str {
    if vi { vi_text } else { en_text }
}

fn page(vi: bool, user: &Option<Extension<User>>, title: &str, body: &str) -> Html<String> {
    let who = match user {
        Some(Extension(User(name, _))) if name != "local-owner" => format!(
            " · {} <form method=\"post\" action=\"/logout\" style=\"display:inline\"><button>{}</button></form>",
            esc(name),
            t(vi, "Đăng xuất", "Sign out")
        ),
        _ => String::new(),
    };
    Html(format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{} · truyvet</title>\
         <style>body{{font:15px system-ui,sans-serif;margin:1.5em;max-width:72em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2em .5em;text-align:left}}\
         th{{background:#f3f3f3}}nav a{{margin-right:1em}}.err{{color:#a00}}form label{{margin-right:1em}}</style></head><body>\
         <nav><a href=\"/?lang={l}\">{}</a><a href=\"/trace?lang={l}\">{}</a><a href=\"/report?lang={l}\">{}</a><a href=\"/api/v1/openapi.json\">API</a> · <a href=\"?lang=vi\">VI</a> <a href=\"?lang=en\">EN</a>{who}</nav>\
         <h1>{}</h1>{}</body></html>",
        if vi { "vi" } else { "en" },
        esc(title),
        t(vi, "Tổng quan", "Overview"),
        t(vi, "Truy vết", "Trace"),
        t(vi, "Báo cáo ngày", "Daily report"),
        esc(title),
        body,
        l = if vi { "vi" } else { "en" },
    ))
}

fn lang(p: &Params) -> bool {
    p.get("lang") != Some("en")
}

/// Rows of a batch as an HTML table (timestamps as RFC 3339 text), with an optional last
/// column of ready HTML per row.
fn table(batch: &RecordBatch) -> Result<String, ApiError> {
    table_with(batch, None)
}

fn table_with(batch: &RecordBatch, extra: Option<(&str, &[String])>) -> Result<String, ApiError> {
    let b = encode::times_as_text(batch).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut out = String::from("<table><tr>");
    for f in b.schema().fields() {
        let _ = write!(out, "<th>{}</th>", esc(f.name()));
    }
    if let Some((name, _)) = extra {
        let _ = write!(out, "<th>{}</th>", esc(name));
    }
    out.push_str("</tr>");
    let opts = arrow::util::display::FormatOptions::default().with_null("");
    let fmts = b
        .columns()
        .iter()
        .map(|c| arrow::util::display::ArrayFormatter::try_new(c.as_ref(), &opts))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    for r in 0..b.num_rows() {
        out.push_str("<tr>");
        for f in &fmts {
            let _ = write!(out, "<td>{}</td>", esc(&f.value(r).to_string()));
        }
        if let Some(cell) = extra.and_then(|(_, cells)| cells.get(r)) {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    Ok(out)
}

/// `GET /`: the store overview.
pub async fn overview(
    State(live): State<Arc<Live>>,
    user: Option<Extension<User>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let p = match Params::new(q, &["lang"]) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let vi = lang(&p);
    let body = blocking(&live, move |_, snap| {
        let s = snap.stats()?;
        let per_day = crate::api::check_ins_per_day(&snap);
        let mut html = String::from("<table>");
        for (label, value) in [
            (t(vi, "Lượt quét (check-in)", "Check-ins"), s.rows.to_string()),
            (t(vi, "Người", "Persons"), s.persons.to_string()),
            (t(vi, "Địa điểm", "Venues"), s.venues.to_string()),
            (t(vi, "Ngày", "Days"), format!("{} ({} – {})", s.days, s.first_day.unwrap_or_default(), s.last_day.unwrap_or_default())),
            (t(vi, "Dòng bị loại", "Rejected rows"), s.rejected.to_string()),
            (t(vi, "Ca bệnh đã đăng ký", "Registered cases"), snap.cases()?.len().to_string()),
            (t(vi, "Phiên bản kho", "Store version"), s.version.to_string()),
        ] {
            let _ = write!(html, "<tr><th>{}</th><td>{}</td></tr>", label, esc(&value));
        }
        html.push_str("</table>");
        let _ = write!(html, "<h2>{}</h2>", t(vi, "Lượt quét theo ngày", "Check-ins per day"));
        let max = per_day.values().copied().max().unwrap_or(1).max(1) as f64;
        let (w, h, bar) = (per_day.len().max(1) * 40 + 40, 200, 30);
        let _ = write!(html, "<svg width=\"{w}\" height=\"{}\" role=\"img\" aria-label=\"check-ins per day\">", h + 40);
        for (i, (day, rows)) in per_day.iter().enumerate() {
            let bh = (*rows as f64 / max * h as f64).round() as usize;
            let x = 20 + i * 40;
            let _ = write!(
                html,
                "<rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"{bh}\" fill=\"#4a7\"><title>{}: {rows}</title></rect>\
                 <text x=\"{}\" y=\"{}\" font-size=\"9\" text-anchor=\"middle\">{}</text>",
                h - bh,
                truyvet::time::day_name(*day),
                x + bar / 2,
                h + 14,
                &truyvet::time::day_name(*day)[5..],
            );
        }
        html.push_str("</svg>");
        Ok(html)
    })
    .await;
    match body {
        Ok(html) => page(vi, &user, t(vi, "Tổng quan kho dữ liệu", "Store overview"), &html).into_response(),
        Err(e) => {
            page(vi, &user, "truyvet", &format!("<p class=\"err\">{}</p>", esc(&format!("{e:?}")))).into_response()
        }
    }
}

/// `GET /trace`: the form, and with `f0` or `case` the ranked list, the F0's itinerary and a
/// CSV download.
pub async fn trace(
    State(live): State<Arc<Live>>,
    user: Option<Extension<User>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let known = ["lang", "f0", "case", "from", "to", "linger", "min_overlap", "hops", "rule", "rank"];
    let p = match Params::new(q.clone(), &known) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let vi = lang(&p);
    let value = |k: &str| esc(p.get(k).unwrap_or_default());
    // The server's rules (`serve --rules`): the presets, then the file's own.
    let rule_names: Vec<&str> = live.rules.rules().iter().map(|r| r.name.as_str()).collect();
    let mut html = format!(
        "<form method=\"get\" action=\"/trace\"><input type=\"hidden\" name=\"lang\" value=\"{}\">\
         <label>F0 <input name=\"f0\" value=\"{}\"></label><label>{} <input name=\"case\" list=\"cases\" value=\"{}\"></label>\
         <label>{} <input name=\"from\" value=\"{}\" placeholder=\"2021-08-01T00:00:00+07:00\"></label>\
         <label>{} <input name=\"to\" value=\"{}\"></label><label>linger <input name=\"linger\" size=\"5\" value=\"{}\" placeholder=\"15m\"></label>\
         <label>min overlap <input name=\"min_overlap\" size=\"5\" value=\"{}\"></label><label>hops <input name=\"hops\" size=\"2\" value=\"{}\"></label>\
         <label>{} {}</label><label>{} {}</label>\
         <button>{}</button></form>",
        if vi { "vi" } else { "en" },
        value("f0"),
        t(vi, "hoặc ca bệnh", "or case"),
        value("case"),
        t(vi, "từ", "from"),
        value("from"),
        t(vi, "đến", "to"),
        value("to"),
        value("linger"),
        value("min_overlap"),
        value("hops"),
        t(vi, "quy tắc", "rule"),
        select("rule", p.get("rule"), &rule_names),
        t(vi, "xếp hạng", "rank by"),
        select("rank", p.get("rank"), &["exposure", "score"]),
        t(vi, "Truy vết", "Trace"),
    );
    // Registered cases to pick from (the first 2,000).
    let ids = blocking(&live, |_, snap| Ok(snap.cases()?.iter().take(2000).map(|c| c.case_id.clone()).collect()));
    if let Ok(ids) = ids.await {
        let ids: Vec<String> = ids;
        html.push_str("<datalist id=\"cases\">");
        for id in ids {
            let _ = write!(html, "<option value=\"{}\">", esc(&id));
        }
        html.push_str("</datalist>");
    }
    if p.get("f0").is_some() || p.get("case").is_some() {
        let api: Vec<(String, String)> = q.into_iter().filter(|(k, v)| k != "lang" && !v.is_empty()).collect();
        let query: String = api.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
        // The deadline is set now, so that the wait for a turn counts toward it.
        let p = Params::new(api, &known).map(|p| p.within(live.time_limit));
        let result = blocking(&live, move |l, snap| {
            let p = p?;
            let req = crate::api::trace_request(&snap, &p, &l.rules)?;
            let f0 = req.trace.f0.clone();
            let key =
                snap.person_key(&f0)?.ok_or_else(|| truyvet::Error::NotFound { what: "person", id: f0.clone() })?;
            let itinerary = snap.itinerary(key, &req.trace)?;
            if req.hops > 1 {
                return Ok((snap.trace_chain(&req, None)?.to_record_batch()?, itinerary, Vec::new()));
            }
            let result = snap.trace(&req.trace)?;
            let drawn = timelines(&snap, &result, &itinerary, SHOWN)?;
            Ok((result.to_record_batch(), itinerary, drawn))
        })
        .await;
        match result {
            Ok((list, itinerary, drawn)) => {
                let shown = list.slice(0, list.num_rows().min(SHOWN));
                let _ = write!(
                    html,
                    "<p>{} {} · <a href=\"/api/v1/trace?{query}&amp;format=csv\">{}</a></p>",
                    list.num_rows(),
                    t(vi, "người tiếp xúc", "contacts"),
                    t(vi, "Tải CSV cho tổng đài", "Download CSV for the call centre"),
                );
                let timeline = t(vi, "dòng thời gian (xám: F0, đỏ: tiếp xúc)", "timeline (grey: F0, red: exposure)");
                html.push_str(&table_with(&shown, Some((timeline, &drawn))).unwrap_or_default());
                if shown.num_rows() < list.num_rows() {
                    let _ = write!(
                        html,
                        "<p>{}</p>",
                        t(vi, "(500 người đầu; tải CSV để xem tất cả)", "(first 500; download the CSV for all)")
                    );
                }
                let _ = write!(html, "<h2>{}</h2>", t(vi, "Lịch trình của F0", "The F0's itinerary"));
                html.push_str(&table(&itinerary).unwrap_or_default());
            }
            Err(e) => {
                let _ = write!(html, "<p class=\"err\">{}</p>", esc(&e.message()));
                return (e.status(), page(vi, &user, t(vi, "Truy vết F1", "Trace F1"), &html)).into_response();
            }
        }
    }
    page(vi, &user, t(vi, "Truy vết F1", "Trace F1"), &html).into_response()
}

/// A `<select>` of `options`, `chosen` (or the first) selected.
fn select(name: &str, chosen: Option<&str>, options: &[&str]) -> String {
    let mut html = format!("<select name=\"{name}\">");
    for (i, o) in options.iter().enumerate() {
        let on = chosen.map_or(i == 0, |c| c == *o);
        let _ = write!(html, "<option{}>{}</option>", if on { " selected" } else { "" }, esc(o));
    }
    html.push_str("</select>");
    html
}

/// Contacts shown (and drawn) on the page; the CSV has them all.
const SHOWN: usize = 500;

/// Per contact (the first `n` by rank): an SVG over the F0's itinerary span, the F0's stays at
/// the contact's venues in grey and the exposure intervals in red.
fn timelines(
    snap: &truyvet::Snapshot,
    result: &truyvet::TraceResult,
    itinerary: &RecordBatch,
    n: usize,
) -> truyvet::Result<Vec<String>> {
    use arrow::array::{AsArray, TimestampSecondArray};
    let venues = itinerary.column(0).as_string::<i32>();
    let starts = itinerary.column(1).as_any().downcast_ref::<TimestampSecondArray>().expect("check_in is seconds");
    let ends = itinerary.column(2).as_any().downcast_ref::<TimestampSecondArray>().expect("stay_end is seconds");
    let lo = starts.values().iter().copied().min().unwrap_or(0);
    let hi = ends.values().iter().copied().max().unwrap_or(0).saturating_add(result.request.linger);
    let (width, height) = (300.0, 14.0);
    let x = |t: i64| ((t - lo) as f64 / (hi - lo).max(1) as f64 * width).clamp(0.0, width);
    let mut out = Vec::new();
    for c in result.contacts.iter().take(n) {
        let mine: Vec<&truyvet::Exposure> = result.exposures.iter().filter(|e| e.rank == c.rank).collect();
        let mut svg = format!("<svg width=\"{width}\" height=\"{height}\" role=\"img\">");
        for i in 0..itinerary.num_rows() {
            let here = mine.iter().any(|e| snap.venue_id(e.venue).is_ok_and(|v| v == venues.value(i)));
            if here {
                let (a, b) = (x(starts.value(i)), x(ends.value(i)));
                let _ = write!(
                    svg,
                    "<rect x=\"{a:.1}\" y=\"0\" width=\"{:.1}\" height=\"6\" fill=\"#bbb\"/>",
                    (b - a).max(1.0)
                );
            }
        }
        for e in &mine {
            let (a, b) = (x(e.start), x(e.end));
            let _ = write!(
                svg,
                "<rect x=\"{a:.1}\" y=\"7\" width=\"{:.1}\" height=\"6\" fill=\"#c33\"><title>{} {} – {}</title></rect>",
                (b - a).max(1.0),
                esc(snap.venue_id(e.venue)?),
                truyvet::time::format_utc(e.start),
                truyvet::time::format_utc(e.end)
            );
        }
        svg.push_str("</svg>");
        out.push(svg);
    }
    Ok(out)
}

/// Percent-encode a query component.
pub(crate) fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b => format!("%{b:02X}"),
        })
        .collect()
}

/// `GET /report`: the daily report (`truyvet report daily`) of a day, the last day with data
/// by default, with a form to pick another.
pub async fn report(
    State(live): State<Arc<Live>>,
    user: Option<Extension<User>>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let known = [&["lang"][..], &crate::api::REPORT[..]].concat();
    let p = match Params::new(q, &known) {
        Ok(p) => p.within(live.time_limit),
        Err(e) => return e.into_response(),
    };
    let vi = lang(&p);
    let value = |k: &str| esc(p.get(k).unwrap_or_default());
    let form = format!(
        "<form method=\"get\" action=\"/report\"><input type=\"hidden\" name=\"lang\" value=\"{}\">\
         <label>{} <input name=\"date\" value=\"{}\" placeholder=\"2021-08-10\" size=\"10\"></label>\
         <label>{} <input name=\"tz\" value=\"{}\" placeholder=\"+07:00\" size=\"6\"></label><button>{}</button></form>",
        if vi { "vi" } else { "en" },
        t(vi, "Ngày", "Day"),
        value("date"),
        t(vi, "Múi giờ", "Time zone"),
        value("tz"),
        t(vi, "Xem báo cáo", "Show report"),
    );
    let lang_of = if vi { Lang::Vi } else { Lang::En };
    let body = blocking(&live, move |_, snap| {
        let r = snap.daily_report(&crate::api::report_request(&p, &snap)?)?;
        Ok((render::title(&r, lang_of), render::html_fragment(&r, lang_of)?))
    })
    .await;
    match body {
        Ok((title, html)) => {
            page(vi, &user, &title, &format!("{form}<style>{}</style>{html}", render::CONTENT_STYLE)).into_response()
        }
        Err(e) => {
            let html = format!("{form}<p class=\"err\">{}</p>", esc(&e.message()));
            (e.status(), page(vi, &user, t(vi, "Báo cáo ngày", "Daily report"), &html)).into_response()
        }
    }
}
