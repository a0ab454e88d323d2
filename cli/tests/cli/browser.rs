//! The web page in a real browser: Debian's chromium, headless, driven over WebDriver
//! (chromedriver) against `truyvet serve --users`. A tracer signs in, traces an F0, sees the
//! ranked list and a timeline, and downloads the CSV, which must equal
//! `truyvet trace --format csv`. A screenshot of each page is kept (see [`shots`]).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::run_ok;
use super::serve::{add_user, serve};

/// Where the screenshots go: `$TRUYVET_SCREENSHOTS`, else `screenshots/` in cargo's
/// temporary directory for tests.
fn shots() -> PathBuf {
    let dir = std::env::var_os("TRUYVET_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A child process killed on drop.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// chromedriver on a free port, once it answers.
fn chromedriver() -> (Killed, u16) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver) must be installed: .ci/run installs it");
    let until = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "chromedriver did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
    (Killed(child), port)
}

async fn browser(driver: u16) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            // Root in CI: no sandbox. No network but loopback: nothing in the background.
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=1280,900"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{driver}"))
        .await
        .expect("a chromium session")
}

async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    std::fs::write(shots().join(name), png).unwrap();
}

/// The text of every element matching `css`.
async fn texts(c: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in c.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap());
    }
    out
}

#[test]
fn a_tracer_signs_in_traces_an_f0_and_downloads_the_csv_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let (data, store, users) = (dir.path().join("data"), dir.path().join("store"), dir.path().join("users.toml"));
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    run_ok(&["gen", "--out", &s(&data), "--people", "2000", "--venues", "60", "--days", "2", "--seed", "7"]);
    run_ok(&["ingest", "--store", &s(&store), "--venues", &s(&data.join("venues.csv")), &s(&data.join("checkins"))]);
    run_ok(&["cases", "import", "--store", &s(&store), &s(&data.join("cases.csv"))]);
    // The daily report of the last day as one HTML file, opened from disk below.
    let report_file = dir.path().join("report.html");
    run_ok(&["report", "daily", "--store", &s(&store), "--date", "2021-08-02", "--lang", "vi", "-o", &s(&report_file)]);
    // The F0: whoever has the most F1s among a few busy persons, so the list is long.
    let f0 = super::busiest_person(&store);
    let want_csv = run_ok(&["trace", "--store", &s(&store), "--f0", &f0, "--format", "csv"]);
    let column = want_csv.lines().next().unwrap().split(',').position(|c| c == "person_id").unwrap();
    let want_first = want_csv.lines().nth(1).expect("the F0 has contacts").split(',').nth(column).unwrap().to_string();

    add_user(&users, "lan", "admin", "correct horse battery");
    let (server, _stderr, _, addr) = serve(&["--store", &s(&store), "--http", "127.0.0.1:0", "--users", &s(&users)]);
    let _server = Killed(server);
    let base = format!("http://{addr}");
    let (_driver, driver_port) = chromedriver();

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = browser(driver_port).await;
        // Not signed in: the trace page sends the browser to the sign-in form.
        c.goto(&format!("{base}/trace?lang=en")).await.unwrap();
        assert!(c.current_url().await.unwrap().path().starts_with("/login"));
        c.find(Locator::Css("input[name=name]")).await.unwrap().send_keys("lan").await.unwrap();
        c.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("correct horse battery").await.unwrap();
        shot(&c, "signin.png").await;
        c.find(Locator::Css("form[action='/login'] button")).await.unwrap().click().await.unwrap();
        // As below: the click's navigation may still be under way; wait for the trace form.
        c.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("input[name=f0]")).await.unwrap();
        assert_eq!(c.current_url().await.unwrap().path(), "/trace");

        // Trace the F0: the ranked list's first row is the CLI's first contact.
        c.find(Locator::Css("input[name=f0]")).await.unwrap().send_keys(&f0).await.unwrap();
        c.find(Locator::Css("form[action='/trace'] button")).await.unwrap().click().await.unwrap();
        let first = format!("table tr:nth-child(2) td:nth-child({})", column + 1);
        // The click starts a navigation the driver need not have finished: wait for the list.
        let cell = c.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css(&first)).await.unwrap();
        assert_eq!(cell.text().await.unwrap(), want_first);
        // The first contact's timeline: the F0's stays in grey, the exposure in red.
        let red = c.find_all(Locator::Css("table tr:nth-child(2) svg rect[fill='#c33']")).await.unwrap();
        assert!(!red.is_empty(), "no exposure drawn on the first contact's timeline");
        shot(&c, "trace.png").await;

        // The CSV the page links to, fetched by the signed-in browser, is the CLI's.
        let link = c.find(Locator::Css("a[href*='format=csv']")).await.unwrap();
        let href = link.attr("href").await.unwrap().unwrap();
        let got = c
            .execute_async(
                "const [href, done] = arguments; fetch(href).then(r => r.text()).then(done, e => done(String(e)));",
                vec![json!(href)],
            )
            .await
            .unwrap();
        assert_eq!(got.as_str().unwrap(), want_csv);

        // The store overview (an admin's page).
        c.goto(&format!("{base}/?lang=en")).await.unwrap();
        assert!(!c.find_all(Locator::Css("svg")).await.unwrap().is_empty());
        shot(&c, "overview.png").await;

        // The daily report page: its three sections and charts.
        c.goto(&format!("{base}/report?date=2021-08-02")).await.unwrap();
        let h2: Vec<String> = texts(&c, "h2").await;
        assert_eq!(h2, ["Tóm tắt", "1. Sử dụng mã QR", "2. Ca bệnh và tiếp xúc", "3. Chất lượng dữ liệu"]);
        assert_eq!(c.find_all(Locator::Css("figure svg")).await.unwrap().len(), 3);
        shot(&c, "report.png").await;
        // The self-contained file `truyvet report daily` wrote: the same sections, no server.
        c.goto(&format!("file://{}", report_file.display())).await.unwrap();
        assert_eq!(texts(&c, "h2").await, h2);
        assert!(!c.find_all(Locator::Css("figure svg rect")).await.unwrap().is_empty());
        shot(&c, "report-file.png").await;
        c.close().await.unwrap();
    });
}
