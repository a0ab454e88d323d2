//! `truyvet serve --pg` as psql sees it: Debian's `psql` signs in with SCRAM-SHA-256, runs a
//! query and an `f1_contacts()` call with the answers `truyvet sql` gives; writes, DDL, COPY,
//! DataFusion settings, wrong passwords and tracers are refused and audited; a runaway
//! statement is cancelled at the time limit and the server goes on.

use std::process::{Command, Output};
use std::time::Duration;

use truyvet::store::audit;
use truyvet_server::Live;
use truyvet_server::accounts::{self, Role};

use crate::fixture::StoreFixture;
use crate::serve::Running;

/// A Postgres-wire server on a free loopback port, stopped on drop.
struct PgServer {
    port: u16,
    _running: Running,
}

impl PgServer {
    fn start(store: &std::path::Path, users: &std::path::Path, time_limit: Duration) -> PgServer {
        let config = truyvet_server::Config {
            store: store.to_path_buf(),
            http: "127.0.0.1:0".parse().unwrap(),
            pg: None,
            time_limit,
            users: Some(users.to_path_buf()),
            memory_limit: Some(256 << 20),
            rules: truyvet::RuleBook::built_in(),
        };
        let running = Running::start(Live::open(&config).unwrap(), |l, live, stop| {
            Box::pin(truyvet_server::pg::serve_on(l, live, stop))
        });
        PgServer { port: running.addr.port(), _running: running }
    }

    /// `psql` as `user` with `password`, unaligned, tuples only, comma-separated, one command.
    fn psql(&self, user: &str, password: &str, sql: &str) -> Output {
        Command::new("psql")
            .args(["-X", "-q", "-A", "-t", "-F", ",", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-d", "truyvet"])
            .args(["-p", &self.port.to_string(), "-U", user, "-c", sql])
            .env("PGPASSWORD", password)
            .env("PGCONNECT_TIMEOUT", "10")
            .env_remove("PGSERVICE")
            .output()
            .expect("psql (Debian's postgresql-client) must be installed: .ci/run installs it")
    }

    fn rows(&self, user: &str, password: &str, sql: &str) -> Vec<String> {
        let out = self.psql(user, password, sql);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "{sql}: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
        stdout.lines().map(str::to_string).collect()
    }

    /// The error psql printed for `sql`, which must fail.
    fn error(&self, user: &str, password: &str, sql: &str) -> String {
        let out = self.psql(user, password, sql);
        assert!(!out.status.success(), "{sql} was not refused: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stderr).to_string()
    }
}

/// The same rows from `truyvet sql`, as psql prints them (`-A -t -F ,`).
fn want(store: &truyvet::Store, sql: &str) -> Vec<String> {
    let session = truyvet::sql::Session::new(&store.snapshot()).unwrap();
    let (_, batches) = session.query(sql).unwrap();
    let mut out = Vec::new();
    for b in &batches {
        for row in 0..b.num_rows() {
            let cells: Vec<String> =
                b.columns().iter().map(|c| arrow::util::display::array_value_to_string(c, row).unwrap()).collect();
            out.push(cells.join(","));
        }
    }
    out
}

#[test]
fn psql_signs_in_with_scram_runs_read_only_sql_and_every_statement_is_audited() {
    let (dir, store) = StoreFixture::new()
        .visit("F0", "MARKET", "08:00", Some("10:00"))
        .visit("A", "MARKET", "09:00", Some("11:00"))
        .visit("B", "MARKET", "07:30", None)
        .visit("C", "CAFE", "12:30", Some("12:40"))
        .build();
    let users = dir.path().join("users.toml");
    accounts::add(&users, "hoa", Role::Epidemiologist, "epi-long-password", false).unwrap();
    accounts::add(&users, "minh", Role::Tracer, "another-long-one", false).unwrap();
    accounts::add(&users, "lan", Role::Admin, "mật khẩu dài", false).unwrap();
    let server = PgServer::start(store.dir(), &users, Duration::from_secs(3));

    // A query and a table function: the rows `truyvet sql` gives.
    let q = "SELECT venue_id, count(*) AS n FROM checkins GROUP BY venue_id ORDER BY venue_id";
    assert_eq!(server.rows("hoa", "epi-long-password", q), want(&store, q));
    assert_eq!(server.rows("hoa", "epi-long-password", q), vec!["CAFE,1", "MARKET,3"]);
    let f1 = "SELECT person_id, exposure_seconds FROM f1_contacts('F0') ORDER BY person_id";
    let got = server.rows("hoa", "epi-long-password", f1);
    assert_eq!(got, want(&store, f1));
    assert_eq!(got.iter().map(|r| r.split(',').next().unwrap()).collect::<Vec<_>>(), ["A", "B"]);
    // Clients' catalogue queries work (psql's \dt reads pg_catalog).
    let tables = server.rows(
        "hoa",
        "epi-long-password",
        "SELECT table_name FROM information_schema.tables WHERE table_name = 'checkins'",
    );
    assert_eq!(tables, ["checkins"]);

    // Writes, DDL, COPY and DataFusion's settings are refused, as in `truyvet sql`.
    for sql in [
        "INSERT INTO checkins (person_id) VALUES ('X')",
        "CREATE TABLE t AS SELECT 1",
        "COPY checkins TO '/tmp/truyvet-pg-copy.csv'",
        "DROP TABLE checkins",
        "SET datafusion.execution.batch_size = 1",
    ] {
        let err = server.error("hoa", "epi-long-password", sql);
        assert!(err.contains("refused") && err.contains("not allowed"), "{sql}: {err}");
    }
    assert!(!std::path::Path::new("/tmp/truyvet-pg-copy.csv").exists());
    // A client's own settings are accepted.
    assert_eq!(server.rows("hoa", "epi-long-password", "SET extra_float_digits = 3"), Vec::<String>::new());

    // Sign-in: a wrong password, an unknown user and a tracer are turned away.
    let err = server.error("hoa", "wrong-password", "SELECT 1");
    assert!(err.to_lowercase().contains("password authentication failed"), "{err}");
    let err = server.error("nobody", "epi-long-password", "SELECT 1");
    assert!(err.to_lowercase().contains("password authentication failed"), "{err}");
    let err = server.error("minh", "another-long-one", "SELECT 1");
    assert!(err.contains("may not run SQL"), "{err}");

    // The audit log is an admin's table; others do not have it.
    let err = server.error("hoa", "epi-long-password", "SELECT count(*) FROM audit");
    assert!(err.contains("audit"), "{err}");
    let refused =
        server.rows("lan", "mật khẩu dài", "SELECT count(*) FROM audit WHERE via = 'pg' AND outcome = 'refused'");
    // Five refused statements, three refused sign-ins.
    assert_eq!(refused, ["8"]);

    // A runaway statement is cancelled at the time limit; the server answers the next one.
    let err = server.error("hoa", "epi-long-password", "SELECT count(*) FROM generate_series(1, 100000000000)");
    assert!(err.contains("time limit"), "{err}");
    assert_eq!(server.rows("hoa", "epi-long-password", "SELECT 41 + 1"), ["42"]);
    drop(server);

    let (records, bad) = audit::read(store.dir()).unwrap();
    assert!(bad.is_empty(), "{bad:?}");
    let pg: Vec<_> = records.iter().filter(|r| r.via == "pg").collect();
    let ok_query = pg.iter().find(|r| r.action == "sql" && r.detail == q).unwrap();
    assert_eq!((ok_query.user.as_deref(), ok_query.outcome.as_str(), ok_query.rows), (Some("hoa"), "ok", Some(2)));
    assert!(ok_query.client.as_deref().unwrap().starts_with("127.0.0.1:"));
    let insert = pg.iter().find(|r| r.detail.starts_with("INSERT")).unwrap();
    assert_eq!((insert.outcome.as_str(), insert.code.as_str()), ("refused", "25006"));
    let wrong: Vec<_> = pg.iter().filter(|r| r.action == "sign-in" && r.outcome == "refused").collect();
    assert_eq!(wrong.len(), 3, "{wrong:#?}");
    assert!(wrong.iter().any(|r| r.user.as_deref() == Some("minh")));
    let cancelled = pg.iter().find(|r| r.detail.contains("generate_series")).unwrap();
    assert_eq!((cancelled.outcome.as_str(), cancelled.code.as_str()), ("failed", "57014"));
}

/// The extended protocol (Parse/Bind/Execute, what JDBC, DBeaver and Metabase use), driven by
/// Python's psycopg 3: bound parameters, a refusal with SQLSTATE 25006, the catalogue.
#[test]
fn the_extended_protocol_binds_parameters_and_refuses_writes() {
    let (dir, store) = StoreFixture::new()
        .visit("F0", "MARKET", "08:00", Some("10:00"))
        .visit("A", "MARKET", "09:00", Some("11:00"))
        .visit("C", "CAFE", "12:30", Some("12:40"))
        .build();
    let users = dir.path().join("users.toml");
    accounts::add(&users, "hoa", Role::Epidemiologist, "epi-long-password", false).unwrap();
    let server = PgServer::start(store.dir(), &users, Duration::from_secs(10));
    let script = r#"
import sys, psycopg
with psycopg.connect(f"host=127.0.0.1 port={sys.argv[1]} user=hoa password=epi-long-password dbname=truyvet") as c:
    cur = c.cursor()
    cur.execute("SELECT venue_id, count(*) AS n FROM checkins WHERE venue_id = %s GROUP BY venue_id", ("MARKET",))
    print("bound", cur.fetchall())
    cur.execute("SELECT person_id FROM checkins WHERE check_in >= %s ORDER BY person_id", ("2021-08-01T08:30:00Z",))
    print("times", [r[0] for r in cur.fetchall()])
    try:
        cur.execute("INSERT INTO checkins (person_id) VALUES (%s)", ("X",))
        print("inserted")
    except psycopg.Error as e:
        print("refused", e.sqlstate)
"#;
    let out = Command::new("python3")
        .args(["-c", script, &server.port.to_string()])
        .output()
        .expect("python3 with psycopg 3 (.ci/run installs it with pip)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().collect::<Vec<_>>(), ["bound [('MARKET', 2)]", "times ['A', 'C']", "refused 25006"]);
    drop(server);
    let (records, _) = audit::read(store.dir()).unwrap();
    let bound = records.iter().find(|r| r.detail.contains("venue_id = $1")).unwrap();
    assert_eq!((bound.outcome.as_str(), bound.rows), ("ok", Some(1)));
    assert!(records.iter().any(|r| r.detail.starts_with("INSERT") && r.outcome == "refused"));
}
