//! `truyvet serve` over HTTP: every answer is the library's, in every encoding; errors carry
//! the CLI's classes; a commit by another writer is seen by the next request; the audit log
//! has a line per request; the pages render; shutdown is graceful.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use truyvet::encode::{self, Encoding};
use truyvet::trace::ChainRequest;
use truyvet::{Ingest, Store, TraceRequest};
use truyvet_server::Live;

use crate::fixture::StoreFixture;

fn config(store: &std::path::Path, time_limit: Duration, users: Option<&std::path::PathBuf>) -> truyvet_server::Config {
    truyvet_server::Config {
        store: store.to_path_buf(),
        http: "127.0.0.1:0".parse().unwrap(),
        pg: None,
        time_limit,
        users: users.cloned(),
        memory_limit: Some(64 << 20),
        rules: truyvet::RuleBook::built_in(),
    }
}

/// Status, headers (lower-case names), body.
type Response = (u16, Vec<(String, String)>, Vec<u8>);

fn header<'r>(r: &'r Response, name: &str) -> Option<&'r str> {
    r.1.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// A protocol served from `live` on a free loopback port by a runtime of its own; stopped (and
/// waited for) on drop.
pub(crate) struct Running {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// `serve_on(listener, live, shutdown)`, as the HTTP and Postgres-wire servers take it.
type ServeOn = fn(
    tokio::net::TcpListener,
    Arc<Live>,
    futures::future::BoxFuture<'static, ()>,
) -> futures::future::BoxFuture<'static, anyhow::Result<()>>;

impl Running {
    pub fn start(live: Live, serve_on: ServeOn) -> Running {
        let live = Arc::new(live);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                tx.send(listener.local_addr().unwrap()).unwrap();
                let shutdown = Box::pin(async {
                    let _ = stopped.await;
                });
                serve_on(listener, live, shutdown).await.unwrap();
            });
        });
        Running { addr: rx.recv().unwrap(), stop: Some(stop), thread: Some(thread) }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// An HTTP server.
struct Server {
    addr: SocketAddr,
    _running: Running,
}

impl Server {
    fn start(store: &std::path::Path, time_limit: Duration) -> Server {
        Server::with_users(store, time_limit, None)
    }

    fn with_users(store: &std::path::Path, time_limit: Duration, users: Option<&std::path::PathBuf>) -> Server {
        Server::on(Live::open(&config(store, time_limit, users)).unwrap())
    }

    fn on(live: Live) -> Server {
        let running = Running::start(live, |l, live, stop| Box::pin(truyvet_server::serve_on(l, live, stop)));
        Server { addr: running.addr, _running: running }
    }

    /// `GET target` with `accept`: status, headers (lower-case names), body.
    fn get(&self, target: &str, accept: &str) -> (u16, Vec<(String, String)>, Vec<u8>) {
        self.request("GET", target, &[("Accept", accept)], "")
    }

    /// `method target` with `headers` and a form `body`.
    fn request(&self, method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Response {
        let mut s = TcpStream::connect(self.addr).unwrap();
        let mut head = format!("{method} {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() {
            head.push_str(&format!(
                "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        write!(s, "{head}\r\n{body}").unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a header block");
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        let mut lines = head.lines();
        let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        (status, headers, raw[split + 4..].to_vec())
    }

    fn json(&self, target: &str) -> (u16, serde_json::Value) {
        let (status, _, body) = self.get(target, "application/json");
        (status, serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{target}: {e}: {body:?}")))
    }
}

fn bytes(batch: &RecordBatch, e: Encoding) -> Vec<u8> {
    encode::write(Vec::new(), &batch.schema(), std::slice::from_ref(batch), e).unwrap()
}

fn fixture() -> StoreFixture {
    StoreFixture::new()
        .visit("F0", "MARKET", "08:00", Some("10:00"))
        .visit("F0", "CAFE", "12:00", None)
        .visit("A", "MARKET", "09:00", Some("11:00"))
        .visit("B", "MARKET", "07:30", None)
        .visit("B", "OFFICE", "13:00", Some("17:00"))
        .visit("C", "CAFE", "12:30", Some("12:40"))
        .visit("D", "OFFICE", "14:00", Some("15:00"))
}

#[test]
fn the_api_answers_what_the_library_answers_in_every_encoding() {
    let (dir, store) = fixture().build();
    let server = Server::start(store.dir(), Duration::from_secs(30));
    let snap = store.snapshot();
    let want = snap.trace(&TraceRequest::new("F0")).unwrap().to_record_batch();
    assert!(want.num_rows() >= 3);

    // JSON by default and by Accept, CSV and Parquet by format=, Arrow IPC by Accept.
    let (status, headers, body) = server.get("/api/v1/trace?f0=F0", "*/*");
    assert_eq!(status, 200);
    assert!(headers.iter().any(|(k, v)| k == "content-type" && v == "application/json"), "{headers:?}");
    assert_eq!(body, bytes(&want, Encoding::Json));
    assert_eq!(server.get("/api/v1/trace?f0=F0&format=csv", "*/*").2, bytes(&want, Encoding::Csv));
    let arrow = server.get("/api/v1/trace?f0=F0", "application/vnd.apache.arrow.stream").2;
    let got: Vec<RecordBatch> =
        arrow::ipc::reader::StreamReader::try_new(&arrow[..], None).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(got, std::slice::from_ref(&want));
    let parquet = dir.path().join("answer.parquet");
    std::fs::write(&parquet, server.get("/api/v1/trace?f0=F0&format=parquet", "*/*").2).unwrap();
    let got: Vec<RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(std::fs::File::open(&parquet).unwrap(), 1024)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    assert_eq!(arrow::compute::concat_batches(&want.schema(), &got).unwrap(), want);

    // Rules, hops and the exposure intervals, as the library computes them.
    let req = TraceRequest::new("F0").linger(900).min_overlap(600);
    let want = snap.trace(&req).unwrap();
    assert_eq!(
        server.get("/api/v1/trace?f0=F0&linger=15m&min_overlap=10m", "*/*").2,
        bytes(&want.to_record_batch(), Encoding::Json)
    );
    assert_eq!(
        server.get("/api/v1/exposures?f0=F0&linger=15m&min_overlap=10m", "*/*").2,
        bytes(&want.exposures_record_batch().unwrap(), Encoding::Json)
    );
    // Another rule, and the risk score.
    for (query, req) in [
        ("rule=pc-covid&radius=30m", {
            let mut r = TraceRequest::new("F0").rule(truyvet::ExposureRule::PcCovid);
            std::sync::Arc::make_mut(&mut r.params).radius = 1800;
            r
        }),
        (
            "rule=next-checkin&rank=score",
            TraceRequest::new("F0").rule(truyvet::ExposureRule::NextCheckin).rank_by(truyvet::trace::RankBy::Score),
        ),
    ] {
        let want = snap.trace(&req).unwrap();
        assert_eq!(
            server.get(&format!("/api/v1/trace?f0=F0&{query}"), "*/*").2,
            bytes(&want.to_record_batch(), Encoding::Json),
            "{query}"
        );
    }
    let chain = snap.trace_chain(&ChainRequest::new(TraceRequest::new("F0"), 2), None).unwrap();
    assert!(chain.hops.len() == 2, "the fixture has an F2 (D, through B)");
    assert_eq!(
        server.get("/api/v1/trace?f0=F0&hops=2", "*/*").2,
        bytes(&chain.to_record_batch().unwrap(), Encoding::Json)
    );

    // Itinerary and occupancy.
    let (_, it) = server.json("/api/v1/itinerary?person=F0");
    let it = it.as_array().unwrap();
    assert_eq!(it.len(), 2);
    assert_eq!((it[0]["venue_id"].as_str(), it[0]["imputed_end"].as_bool()), (Some("MARKET"), Some(false)));
    assert_eq!((it[1]["venue_id"].as_str(), it[1]["stay_end"].as_str()), (Some("CAFE"), Some("2021-08-01T13:00:00Z")));
    let (status, occ) =
        server.json("/api/v1/venues/MARKET/occupancy?from=2021-08-01T06:00:00Z&to=2021-08-01T12:00:00Z&bucket=2h");
    assert_eq!(status, 200);
    // 06–08: B checks in (07:30, no check-out: until 08:30); 08–10: F0 and A check in, B is
    // still there; 10–12: A until 11:00.
    let counts: Vec<(u64, u64)> = occ
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["check_ins"].as_u64().unwrap(), b["persons_present"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [(1, 1), (2, 3), (0, 1)]);

    // Stats and the OpenAPI document.
    let (_, stats) = server.json("/api/v1/stats");
    assert_eq!(stats["rows"].as_u64(), Some(7));
    assert_eq!(stats["check_ins_per_day"][0]["check_ins"].as_u64(), Some(7));
    // The daily report: the library's, by default of the last day with data.
    let day = truyvet::time::parse_day("day", "2021-08-01").unwrap();
    let tz = truyvet::Tz::parse("+07:00").unwrap();
    let want =
        serde_json::to_value(snap.daily_report(&truyvet::report::ReportRequest::daily(day, tz)).unwrap()).unwrap();
    let (status, report) = server.json("/api/v1/report/daily?date=2021-08-01&tz=%2B07:00");
    assert_eq!((status, &report), (200, &want));
    let (_, by_default) = server.json("/api/v1/report/daily");
    assert_eq!(
        (by_default["period"]["from"].as_str(), by_default["totals"]["checkins"].as_u64()),
        (Some("2021-08-01"), Some(7))
    );
    let (_, doc) = server.json("/api/v1/openapi.json");
    for path in [
        "/api/v1/trace",
        "/api/v1/exposures",
        "/api/v1/itinerary",
        "/api/v1/venues/{id}/occupancy",
        "/api/v1/stats",
        "/api/v1/report/daily",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} documented");
    }
}

#[test]
fn errors_are_json_with_the_clis_classes() {
    let (_dir, store) = fixture().build();
    let server = Server::start(store.dir(), Duration::from_secs(30));
    for (target, status, class, says) in [
        ("/api/v1/trace?f0=NOBODY", 404, "not_found", "NOBODY"),
        ("/api/v1/trace?f0=F0&linger=soon", 400, "usage", "soon"),
        ("/api/v1/trace?f0=F0&lingr=15m", 400, "usage", "lingr"),
        ("/api/v1/trace?f0=F0&hops=7", 400, "usage", "hops"),
        ("/api/v1/trace?f0=F0&rule=nhs", 400, "usage", "pc-covid"),
        ("/api/v1/trace?f0=F0&rule=cwa&hops=2", 400, "usage", "one F0's list"),
        ("/api/v1/trace?f0=F0&rank=loudest", 400, "usage", "exposure or score"),
        ("/api/v1/trace", 400, "usage", "f0"),
        ("/api/v1/trace?case=BN-1", 404, "not_found", "BN-1"),
        ("/api/v1/itinerary", 400, "usage", "person"),
        ("/api/v1/venues/NOWHERE/occupancy?from=2021-08-01&to=2021-08-02", 404, "not_found", "NOWHERE"),
        ("/api/v1/venues/MARKET/occupancy?from=2021-08-01T00:00:00Z", 400, "usage", "from and to"),
        ("/api/v1/trace?f0=F0&format=xlsx", 400, "usage", "xlsx"),
        ("/api/v1/report/daily?date=2021-08-32", 400, "usage", "2021-08-32"),
        ("/api/v1/report/daily?date=2021-08-01&from=2021-08-01", 400, "usage", "date=DAY"),
        ("/api/v1/report/daily?hops=9", 400, "usage", "hops"),
        ("/api/v1/report/daily?tz=Mars", 400, "usage", "Mars"),
    ] {
        let (got, body) = server.json(target);
        assert_eq!(got, status, "{target}: {body}");
        assert_eq!(body["error"]["class"], class, "{target}: {body}");
        assert_eq!(body["error"]["exit_code"], 2, "{target}");
        assert!(body["error"]["message"].as_str().unwrap().contains(says), "{target}: {body}");
    }
    let (status, _, body) = server.get("/api/v1/trace?f0=F0", "image/png");
    assert_eq!(status, 406, "{}", String::from_utf8_lossy(&body));
}

#[test]
fn a_commit_is_seen_by_the_next_request_and_every_request_is_audited() {
    let (dir, store) = fixture().build();
    let server = Server::start(store.dir(), Duration::from_secs(30));
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|c| c["person_id"].as_str().unwrap().to_string()).collect()
    };
    let (_, before) = server.json("/api/v1/trace?f0=F0");
    assert!(!ids(&before).contains(&"LATE".to_string()));
    let more = dir.path().join("late.csv");
    std::fs::write(
        &more,
        "person_id,venue_id,check_in,check_out\nLATE,MARKET,2021-08-01T09:30:00Z,2021-08-01T09:50:00Z\n",
    )
    .unwrap();
    Ingest::new(store.dir()).run(&[more]).unwrap();
    let (_, after) = server.json("/api/v1/trace?f0=F0");
    assert!(ids(&after).contains(&"LATE".to_string()), "{after}");
    let want = Store::open(store.dir()).unwrap().snapshot().trace(&TraceRequest::new("F0")).unwrap().to_record_batch();
    assert_eq!(server.get("/api/v1/trace?f0=F0", "*/*").2, bytes(&want, Encoding::Json));
    let (_, stats) = server.json("/api/v1/stats");
    assert_eq!(stats["rows"].as_u64(), Some(8));
    server.get("/api/v1/trace?f0=NOBODY", "*/*");
    drop(server);

    let (lines, bad) = truyvet::store::audit::read(store.dir()).unwrap();
    assert!(bad.is_empty());
    assert_eq!(lines.len(), 5);
    assert_eq!((lines[0].action.as_str(), lines[0].detail.as_str()), ("GET /api/v1/trace", "/api/v1/trace?f0=F0"));
    assert_eq!((lines[0].via.as_str(), lines[0].outcome.as_str()), ("http", "ok"));
    assert_eq!(lines[0].rows, Some(ids(&before).len() as u64));
    assert_eq!(lines[0].user.as_deref(), Some("local-owner"));
    assert!(lines[0].client.as_deref().unwrap().starts_with("127.0.0.1:"));
    assert_eq!((lines[4].code.as_str(), lines[4].outcome.as_str(), lines[4].rows), ("404", "failed", None));
    assert!(lines[4].error.as_deref().unwrap().contains("NOBODY"), "{:?}", lines[4]);
}

#[test]
fn the_pages_render_in_both_languages() {
    let (dir, store) = fixture().build();
    let server = Server::start(store.dir(), Duration::from_secs(30));
    let page = |t: &str| {
        let (status, _, body) = server.get(t, "text/html");
        (status, String::from_utf8(body).unwrap())
    };
    let (status, overview) = page("/");
    assert_eq!(status, 200);
    assert!(
        overview.contains("Tổng quan") && overview.contains("<svg") && overview.contains("2021-08-01: 7"),
        "{overview}"
    );
    let (_, en) = page("/?lang=en");
    assert!(en.contains("Check-ins per day"), "{en}");
    let (status, traced) = page("/trace?lang=en&f0=F0&linger=&hops=");
    assert_eq!(status, 200, "{traced}");
    for want in
        ["<td>A</td>", "<td>B</td>", "<td>C</td>", "Download CSV", "/api/v1/trace?f0=F0&amp;format=csv", "itinerary"]
    {
        assert!(traced.contains(want), "{want} in {traced}");
    }
    // Each contact's timeline: the F0's stays at its venues (grey) and its exposure (red); C
    // met the F0 at the café 12:30–12:40.
    assert!(traced.contains("<svg") && traced.contains("CAFE 2021-08-01T12:30:00Z – 2021-08-01T12:40:00Z"), "{traced}");
    assert!(
        traced.contains("<option selected>overlap</option>") && traced.contains("<option>pc-covid</option>"),
        "{traced}"
    );
    // Another rule and the risk score, chosen on the form: their columns, the choice kept.
    let (status, pc) = page("/trace?lang=en&f0=F0&rule=pc-covid");
    assert_eq!(status, 200, "{pc}");
    assert!(pc.contains("<th>min_gap_seconds</th>") && pc.contains("<option selected>pc-covid</option>"), "{pc}");
    let (_, scored) = page("/trace?lang=en&f0=F0&rank=score");
    assert!(scored.contains("<th>crowding</th>") && scored.contains("rank=score"), "{scored}");
    // A registered case can be picked.
    let file = dir.path().join("cases.csv");
    std::fs::write(&file, "case_id,person_id,confirmed_at\nBN-7,F0,2021-08-02T00:00:00Z\n").unwrap();
    truyvet::CasesImport::new(store.dir()).import(&[file]).unwrap();
    let (_, form) = page("/trace");
    assert!(form.contains("<option value=\"BN-7\">"), "{form}");
    let (status, by_case) = page("/trace?case=BN-7&lang=en");
    assert_eq!(status, 200);
    assert!(by_case.contains("<td>A</td>"), "{by_case}");
    // The daily report, with its charts, in both languages.
    let (status, report) = page("/report?date=2021-08-02");
    assert_eq!(status, 200, "{report}");
    for want in [
        "Báo cáo ngày 2021-08-02",
        "1. Sử dụng mã QR",
        "BN-7",
        "kho chưa có danh mục địa điểm",
        "<figure id=\"checkins-by-day\"><svg",
    ] {
        assert!(report.contains(want), "{want} in {report}");
    }
    let (_, report) = page("/report?lang=en&date=2021-08-01");
    assert!(report.contains("3. Data quality"), "{report}");
    let (status, bad) = page("/report?date=someday");
    assert_eq!(status, 400);
    assert!(bad.contains("someday") && bad.contains("<form"), "{bad}");
    let (status, missing) = page("/trace?f0=%3Cscript%3E");
    assert_eq!(status, 404);
    assert!(missing.contains("&lt;script&gt;") && !missing.contains("<script>"), "{missing}");
}

#[test]
fn without_accounts_only_loopback_is_served() {
    assert!(truyvet_server::check_bind(&"127.0.0.1:8080".parse().unwrap()).is_ok());
    assert!(truyvet_server::check_bind(&"[::1]:8080".parse().unwrap()).is_ok());
    let err = truyvet_server::check_bind(&"0.0.0.0:8080".parse().unwrap()).unwrap_err();
    assert!(err.to_string().contains("loopback"), "{err}");
}

#[test]
fn with_accounts_every_request_signs_in_and_the_audit_log_names_the_user() {
    let (dir, store) = fixture().build();
    let users = dir.path().join("users.toml");
    use truyvet_server::accounts::{self, Role};
    accounts::add(&users, "lan", Role::Admin, "mật khẩu dài", false).unwrap();
    accounts::add(&users, "minh", Role::Tracer, "another-long-one", false).unwrap();
    accounts::add(&users, "hoa", Role::Epidemiologist, "epi-long-password", false).unwrap();
    let dup = accounts::add(&users, "lan", Role::Tracer, "whatever-long", false).unwrap_err();
    assert!(dup.to_string().contains("exists"), "{dup}");
    let short = accounts::add(&users, "tam", Role::Tracer, "short", false).unwrap_err();
    assert!(short.to_string().contains("8 characters"), "{short}");
    let names: Vec<(String, Role)> = accounts::names(&users).unwrap();
    assert_eq!(names[1], ("minh".to_string(), Role::Tracer));
    let server = Server::with_users(store.dir(), Duration::from_secs(30), Some(&users));
    let basic = |user_pass: &str| {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
    };

    // Programs: HTTP Basic.
    let r = server.request("GET", "/api/v1/stats", &[], "");
    assert_eq!(r.0, 401);
    assert!(header(&r, "www-authenticate").unwrap().starts_with("Basic"));
    let body: serde_json::Value = serde_json::from_slice(&r.2).unwrap();
    assert_eq!(body["error"]["class"], "unauthorized");
    assert_eq!(server.request("GET", "/api/v1/stats", &[("Authorization", &basic("lan:wrong"))], "").0, 401);
    assert_eq!(server.request("GET", "/api/v1/stats", &[("Authorization", &basic("nobody:mật khẩu dài"))], "").0, 401);
    let ok = server.request("GET", "/api/v1/stats", &[("Authorization", &basic("lan:mật khẩu dài"))], "");
    assert_eq!(ok.0, 200, "{}", String::from_utf8_lossy(&ok.2));

    // Roles: a tracer traces but runs no SQL and sees no store figures; an epidemiologist runs
    // SQL; the admin sees everything.
    let as_minh = basic("minh:another-long-one");
    let as_hoa = basic("hoa:epi-long-password");
    assert_eq!(server.request("GET", "/api/v1/trace?f0=F0", &[("Authorization", &as_minh)], "").0, 200);
    let r = server.request("GET", "/api/v1/sql?q=SELECT%201", &[("Authorization", &as_minh)], "");
    assert_eq!(r.0, 403);
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&r.2).unwrap()["error"]["class"], "forbidden");
    assert_eq!(server.request("GET", "/api/v1/stats", &[("Authorization", &as_minh)], "").0, 403);
    assert_eq!(server.request("GET", "/api/v1/sql?q=SELECT%201", &[("Authorization", &as_hoa)], "").0, 200);
    assert_eq!(server.request("GET", "/api/v1/stats", &[("Authorization", &as_hoa)], "").0, 403);
    // The audit log is a table for admins only.
    let q = "/api/v1/sql?q=SELECT%20count(*)%20AS%20n%20FROM%20audit%20WHERE%20outcome%3D%27refused%27";
    let r = server.request("GET", q, &[("Authorization", &as_hoa)], "");
    assert_eq!(r.0, 400, "{}", String::from_utf8_lossy(&r.2));
    assert!(String::from_utf8_lossy(&r.2).contains("audit"));
    let r = server.request("GET", q, &[("Authorization", &basic("lan:mật khẩu dài"))], "");
    assert_eq!(r.0, 200, "{}", String::from_utf8_lossy(&r.2));
    // Every request so far is in it, this one excepted: 401 ×3, 403 ×3 and hoa's refused
    // statement answered 400 (failed, not refused).
    let n: serde_json::Value = serde_json::from_slice(&r.2).unwrap();
    assert_eq!(n[0]["n"], 6, "{n}");
    // The daily report is for epidemiologists and admins.
    assert_eq!(server.request("GET", "/api/v1/report/daily", &[("Authorization", &as_minh)], "").0, 403);
    assert_eq!(server.request("GET", "/api/v1/report/daily", &[("Authorization", &as_hoa)], "").0, 200);

    // People: the sign-in page, a session cookie, sign out.
    let r = server.request("GET", "/trace?f0=F0", &[], "");
    assert_eq!(r.0, 303);
    assert_eq!(header(&r, "location"), Some("/login?next=%2Ftrace%3Ff0%3DF0"));
    assert_eq!(server.request("GET", "/login?next=%2F", &[], "").0, 200);
    let wrong = server.request("POST", "/login", &[], "name=minh&password=nope&next=%2F");
    assert_eq!(wrong.0, 401);
    let signed = server.request("POST", "/login", &[], "name=minh&password=another-long-one&next=%2Ftrace%3Ff0%3DF0");
    assert_eq!(signed.0, 303, "{}", String::from_utf8_lossy(&signed.2));
    assert_eq!(header(&signed, "location"), Some("/trace?f0=F0"));
    let cookie = header(&signed, "set-cookie").unwrap().split(';').next().unwrap().to_string();
    assert!(header(&signed, "set-cookie").unwrap().contains("HttpOnly"));
    let page = server.request("GET", "/trace?f0=F0&lang=en", &[("Cookie", &cookie)], "");
    let html = String::from_utf8(page.2).unwrap();
    assert_eq!(page.0, 200);
    assert!(html.contains("<td>A</td>") && html.contains("minh") && html.contains("Sign out"), "{html}");
    // An outside `next` is not followed.
    let away = server.request("POST", "/login", &[], "name=minh&password=another-long-one&next=%2F%2Fevil.example");
    assert_eq!(header(&away, "location"), Some("/"));
    // The overview is the admin's; a tracer is sent to the trace page.
    let r = server.request("GET", "/", &[("Cookie", &cookie)], "");
    assert_eq!((r.0, header(&r, "location")), (303, Some("/trace")));
    assert_eq!(server.request("POST", "/logout", &[("Cookie", &cookie)], "").0, 303);
    let r = server.request("GET", "/", &[("Cookie", &cookie)], "");
    assert_eq!((r.0, header(&r, "location")), (303, Some("/login?next=%2F")));
    // Five failed sign-ins in a minute (three above, two here) make the address wait, right
    // password or not.
    for _ in 0..2 {
        assert_eq!(server.request("GET", "/api/v1/trace?f0=F0", &[("Authorization", &basic("lan:guess"))], "").0, 401);
    }
    let r = server.request("GET", "/api/v1/stats", &[("Authorization", &basic("lan:mật khẩu dài"))], "");
    assert_eq!(r.0, 429, "{}", String::from_utf8_lossy(&r.2));
    assert_eq!(server.request("POST", "/login", &[], "name=lan&password=m%E1%BA%ADt").0, 429);
    drop(server);

    let (lines, _) = truyvet::store::audit::read(store.dir()).unwrap();
    let by = |code: &str| lines.iter().filter(|l| l.code == code).count();
    assert_eq!(lines.len(), 26);
    assert_eq!((by("401"), by("403"), by("429")), (6, 4, 2));
    assert_eq!(lines.iter().filter(|l| l.outcome == "refused").count(), 6 + 4 + 2 + 3, "{lines:#?}");
    assert_eq!(lines[3].user.as_deref(), Some("lan"));
    assert!(lines[0].user.is_none());
    assert!(lines.iter().any(|l| l.user.as_deref() == Some("minh") && l.detail == "/trace?f0=F0&lang=en"));
    // A wrong password is recorded with the name it tried.
    assert!(lines.iter().any(|l| l.code == "401" && l.user.as_deref() == Some("lan")));

    // A damaged users file is refused with the file and the user.
    std::fs::write(&users, "[[user]]\nname = \"x\"\nrole = \"tracer\"\nscram = \"md5$1\"\n").unwrap();
    let err = Live::open(&config(store.dir(), Duration::from_secs(1), Some(&users))).err().unwrap();
    assert!(err.to_string().contains("users.toml") && err.to_string().contains("\"x\""), "{err}");
}

#[test]
fn sql_runs_read_only_under_time_and_memory_limits_and_the_server_stays_up() {
    let (_dir, store) = fixture().build();
    let server = Server::start(store.dir(), Duration::from_secs(2));
    let want = truyvet::sql::Session::new(&store.snapshot())
        .unwrap()
        .query("SELECT venue_id, count(*) AS n FROM checkins GROUP BY venue_id ORDER BY venue_id")
        .unwrap();
    let got = server.request(
        "POST",
        "/api/v1/sql?format=csv",
        &[],
        "SELECT venue_id, count(*) AS n FROM checkins GROUP BY venue_id ORDER BY venue_id",
    );
    assert_eq!(got.0, 200, "{}", String::from_utf8_lossy(&got.2));
    assert_eq!(got.2, encode::write(Vec::new(), &want.0, &want.1, Encoding::Csv).unwrap());
    let (status, rows) = server.json("/api/v1/sql?q=SELECT%20count(*)%20AS%20n%20FROM%20f1_contacts('F0')");
    assert_eq!((status, rows[0]["n"].as_u64()), (200, Some(3)));
    // Writes are refused as in `truyvet sql`, and audited as refused.
    let (status, body) = server.json("/api/v1/sql?q=CREATE%20TABLE%20t%20AS%20SELECT%201");
    assert_eq!((status, body["error"]["class"].as_str()), (400, Some("usage")), "{body}");
    let r = server.request("POST", "/api/v1/sql", &[], "INSERT INTO checkins (person_id) VALUES ('X')");
    assert_eq!(r.0, 400, "{}", String::from_utf8_lossy(&r.2));
    // A runaway statement is cancelled at the time limit; one whose result outgrows the memory
    // limit fails; the server answers the next request.
    let t = std::time::Instant::now();
    let (status, body) = server.json("/api/v1/sql?q=SELECT%20sum(value)%20FROM%20generate_series(1,%20100000000000)");
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("time limit"), "{body}");
    assert!(t.elapsed() < Duration::from_secs(20), "cancelled promptly: {:?}", t.elapsed());
    let (status, body) = server.json("/api/v1/sql?q=SELECT%20*%20FROM%20generate_series(1,%2020000000)");
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("memory limit"), "{body}");
    assert_eq!(server.json("/api/v1/stats").0, 200);
    drop(server);
    let (records, _) = truyvet::store::audit::read(store.dir()).unwrap();
    let refused: Vec<_> = records.iter().filter(|r| r.outcome == "refused").collect();
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert!(refused[0].detail.contains("CREATE%20TABLE"));
    assert!(refused[1].detail.ends_with("INSERT INTO checkins (person_id) VALUES ('X')"), "{:?}", refused[1]);
    assert!(refused[1].error.as_deref().unwrap().contains("not allowed"));
    let cancelled = records.iter().find(|r| r.detail.contains("100000000000")).unwrap();
    assert_eq!((cancelled.outcome.as_str(), cancelled.code.as_str()), ("failed", "503"));
}

#[test]
fn an_expired_page_session_signs_in_again_and_is_audited() {
    let (dir, store) = fixture().build();
    let users = dir.path().join("users.toml");
    truyvet_server::accounts::add(&users, "minh", truyvet_server::accounts::Role::Tracer, "another-long-one", false)
        .unwrap();
    let mut live = Live::open(&config(store.dir(), Duration::from_secs(30), Some(&users))).unwrap();
    live.session_lifetime = Duration::from_secs(1);
    let server = Server::on(live);
    let signed = server.request("POST", "/login", &[], "name=minh&password=another-long-one&next=%2Ftrace");
    assert_eq!(signed.0, 303);
    assert!(header(&signed, "set-cookie").unwrap().contains("Max-Age=1"));
    let cookie = header(&signed, "set-cookie").unwrap().split(';').next().unwrap().to_string();
    assert_eq!(server.request("GET", "/api/v1/trace?f0=F0", &[("Cookie", &cookie)], "").0, 200);
    std::thread::sleep(Duration::from_millis(1200));
    // The browser would have dropped the cookie; a client that keeps it is not signed in.
    let r = server.request("GET", "/api/v1/trace?f0=F0", &[("Cookie", &cookie)], "");
    assert_eq!(r.0, 401);
    let r = server.request("GET", "/trace?f0=F0", &[("Cookie", &cookie)], "");
    assert_eq!((r.0, header(&r, "location")), (303, Some("/login?next=%2Ftrace%3Ff0%3DF0")));
    drop(server);
    let (records, _) = truyvet::store::audit::read(store.dir()).unwrap();
    let outcomes: Vec<(&str, &str)> = records.iter().map(|r| (r.action.as_str(), r.outcome.as_str())).collect();
    assert_eq!(
        outcomes,
        [
            ("POST /login", "ok"),
            ("GET /api/v1/trace", "ok"),
            ("GET /api/v1/trace", "refused"),
            ("GET /trace", "refused")
        ]
    );
    assert!(records[..2].iter().all(|r| r.user.as_deref() == Some("minh")), "{records:#?}");
}

#[test]
fn a_rules_file_names_rules_for_the_api_and_the_page() {
    let (_dir, store) = fixture().build();
    let rules = _dir.path().join("rules.toml");
    std::fs::write(&rules, "[rule.long-linger]\nbase = \"overlap\"\nlinger = \"1h\"\ndwell = \"30m\"\n").unwrap();
    let book = truyvet::RuleBook::read(&rules).unwrap();
    let mut cfg = config(store.dir(), Duration::from_secs(30), None);
    cfg.rules = book.clone();
    let server = Server::on(Live::open(&cfg).unwrap());
    let snap = store.snapshot();
    let named = book.get("long-linger").unwrap();
    // The rule's parameters, and the request's own over them (as `trace --rules F --rule R`).
    for (query, req) in [
        ("rule=long-linger", named.apply(TraceRequest::new("F0"))),
        ("rule=long-linger&linger=5m", named.apply(TraceRequest::new("F0")).linger(300)),
        ("rule=pc-covid", book.get("pc-covid").unwrap().apply(TraceRequest::new("F0"))),
    ] {
        let want = snap.trace(&req).unwrap();
        let (status, _, body) = server.get(&format!("/api/v1/trace?f0=F0&{query}"), "*/*");
        assert_eq!(status, 200, "{query}: {}", String::from_utf8_lossy(&body));
        assert_eq!(body, bytes(&want.to_record_batch(), Encoding::Json), "{query}");
    }
    let long = snap.trace(&named.apply(TraceRequest::new("F0"))).unwrap();
    let plain = snap.trace(&TraceRequest::new("F0")).unwrap();
    assert_ne!(
        long.contacts.iter().map(|c| c.exposure_seconds).sum::<i64>(),
        plain.contacts.iter().map(|c| c.exposure_seconds).sum::<i64>(),
        "the named rule changes the answer (else this test proves nothing)"
    );
    let (status, _, body) = server.get("/api/v1/trace?f0=F0&rule=nosuch", "*/*");
    let body = String::from_utf8_lossy(&body);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("nosuch") && body.contains("long-linger"), "{body}");
    let (status, _, page) = server.get("/trace?lang=en&f0=F0&rule=long-linger", "text/html");
    let page = String::from_utf8_lossy(&page);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<option selected>long-linger</option>"), "the page offers the file's rules");
}
