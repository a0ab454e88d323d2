"""The Python package against the CLI: a store made by `truyvet gen` + `truyvet ingest`, and
every answer compared with what `truyvet trace`/`exposures`/`sql` write as Parquet."""

import datetime as dt
import os
import subprocess
import threading
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import truyvet

BIN = os.environ.get("TRUYVET_BIN", "truyvet")
EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def cli(*args, cwd=None):
    out = subprocess.run([BIN, *map(str, args)], cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f"truyvet {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}"
    return out.stdout


def cli_parquet(tmp_path, *args):
    path = tmp_path / "out.parquet"
    cli(*args, "--format", "parquet", "--output", path)
    return pq.read_table(path)


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("province")
    cli("gen", "--out", root / "data", "--scale", "10k", "--seed", "7", "--format", "csv")
    cli("ingest", "--store", root / "store", "--tz", "+07:00", "--venues", root / "data" / "venues.csv",
        root / "data" / "checkins")
    return root / "store"


@pytest.fixture(scope="module")
def store(store_dir):
    return truyvet.Store.open(store_dir)


@pytest.fixture(scope="module")
def f0s(store):
    busiest = store.sql(
        "SELECT person_id, count(*) AS n FROM checkins GROUP BY person_id ORDER BY n DESC, person_id LIMIT 4"
    )
    return busiest.column("person_id").to_pylist()


def same(ours: pa.Table, theirs: pa.Table):
    # Parquet gives back the writer's schema; compare columns, values and order exactly.
    assert ours.column_names == theirs.column_names
    assert ours.num_rows == theirs.num_rows
    for name in ours.column_names:
        a, b = ours.column(name), theirs.column(name)
        if a.type != b.type:
            b = b.cast(a.type)
        assert a.to_pylist() == b.to_pylist(), name


def test_trace_equals_cli(store, store_dir, f0s, tmp_path):
    assert len(f0s) == 4
    listed = 0
    for f0 in f0s:
        ours = store.trace(f0)
        same(ours, cli_parquet(tmp_path, "trace", "--store", store_dir, "--f0", f0))
        listed += ours.num_rows
        meta = ours.schema.metadata
        assert meta[b"truyvet.f0"] == f0.encode()
        assert int(meta[b"truyvet.rows_examined"]) > 0
        assert int(meta[b"truyvet.elapsed_us"]) >= 0
    assert listed > 0, "the busiest persons of a generated province have contacts"


def test_parameters_and_rules_equal_cli(store, store_dir, f0s, tmp_path):
    f0 = f0s[0]
    ours = store.trace(f0, start=dt.datetime(2021, 8, 2, tzinfo=dt.timezone(dt.timedelta(hours=7))),
                       end=dt.date(2021, 8, 6), tz="+07:00", linger=dt.timedelta(minutes=15), dwell="45m",
                       min_overlap=300, limit=20)
    same(ours, cli_parquet(tmp_path, "trace", "--store", store_dir, "--f0", f0, "--from",
                           "2021-08-02T00:00:00+07:00", "--to", "2021-08-06 00:00:00", "--tz", "+07:00", "--linger", "15m",
                           "--dwell", "45m", "--min-overlap", "300", "--limit", "20"))
    assert ours.num_rows <= 20
    for rule in ["pc-covid", "midnight", "next-checkin", "cwa"]:
        same(store.trace(f0, rule=rule), cli_parquet(tmp_path, "trace", "--store", store_dir, "--f0", f0,
                                                   "--rule", rule))
    same(store.trace(f0, rank="score"), cli_parquet(tmp_path, "trace", "--store", store_dir, "--f0", f0,
                                                    "--rank", "score"))


def test_rules_file(store, store_dir, f0s, tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text('[rule.market-hour]\nbase = "pc-covid"\nradius = "30m"\n')
    f0 = f0s[1]
    ours = store.trace(f0, rules=rules, rule="market-hour")
    same(ours, cli_parquet(tmp_path, "trace", "--store", store_dir, "--f0", f0, "--rules", rules,
                           "--rule", "market-hour"))
    assert ours.num_rows <= store.trace(f0, rule="pc-covid").num_rows
    in_sql = store.sql(f"SELECT person_id FROM f1_contacts('{f0}', NULL, NULL, NULL, NULL, NULL, NULL, 'market-hour')",
                       rules=rules)
    assert sorted(in_sql.column("person_id").to_pylist()) == sorted(ours.column("person_id").to_pylist())


def test_exposures_equal_cli(store, store_dir, f0s, tmp_path):
    f0 = f0s[2]
    ours = store.exposures(f0, linger="10m")
    same(ours, cli_parquet(tmp_path, "exposures", "--store", store_dir, "--f0", f0, "--linger", "10m"))
    f1 = store.trace(f0, linger="10m")
    assert set(ours.column("person_id").to_pylist()) == set(f1.column("person_id").to_pylist())


def test_hops_equal_cli(store, store_dir, f0s, tmp_path):
    f0 = f0s[0]
    f2 = store.trace(f0, hops=2)
    same(f2, cli_parquet(tmp_path, "trace", "--store", store_dir, "--f0", f0, "--hops", "2"))
    assert set(f2.column("hop").to_pylist()) == {1, 2}, "a busy F0 of a generated province has F2s"
    capped = store.trace(f0, hops=3, max_per_hop=5, linger="10m")
    same(capped, cli_parquet(tmp_path, "trace", "--store", store_dir, "--f0", f0, "--hops", "3", "--max-per-hop",
                             "5", "--linger", "10m"))
    same(store.exposures(f0, hops=2), cli_parquet(tmp_path, "exposures", "--store", store_dir, "--f0", f0, "--hops", "2"))
    with pytest.raises(ValueError, match="hops"):
        store.trace(f0, hops=7)


def test_sql_equals_cli(store, store_dir, f0s, tmp_path):
    query = ("SELECT venue_id, count(*) AS checkins, count(DISTINCT person_id) AS persons "
             "FROM checkins GROUP BY venue_id ORDER BY checkins DESC, venue_id LIMIT 25")
    same(store.sql(query), cli_parquet(tmp_path, "sql", "--store", store_dir, query))
    f0 = f0s[0]
    via_sql = store.sql(f"SELECT person_id, exposure_seconds FROM f1_contacts('{f0}') ORDER BY rank")
    traced = store.trace(f0)
    assert via_sql.column("person_id").to_pylist() == traced.column("person_id").to_pylist()
    assert via_sql.column("exposure_seconds").to_pylist() == traced.column("exposure_seconds").to_pylist()


def test_results_are_not_copied(store, f0s):
    # Imported through the C stream interface, the buffers stay the engine's: pyarrow's own
    # allocator hands out nothing for them.
    before = pa.total_allocated_bytes()
    table = store.sql("SELECT person_id, venue_id, check_in FROM checkins LIMIT 8000")
    f1 = store.trace(f0s[0])
    assert table.num_rows == 8000 and table.nbytes > 100_000
    assert f1.nbytes > 0
    assert pa.total_allocated_bytes() == before


def test_polars(store, f0s):
    frame = pl.from_arrow(store.trace(f0s[0]))
    assert isinstance(frame, pl.DataFrame)
    assert frame.height == store.trace(f0s[0]).num_rows
    assert frame["exposure_seconds"].is_sorted(descending=True)


def test_errors(store, store_dir, f0s):
    with pytest.raises(LookupError, match="not in the store"):
        store.trace("no-such-person")
    with pytest.raises(ValueError, match="duration"):
        store.trace(f0s[0], linger="a while")
    with pytest.raises(ValueError, match="rule"):
        store.trace(f0s[0], rule="no-such-rule")
    with pytest.raises(ValueError, match="start"):
        store.trace(f0s[0], start="yesterday")
    with pytest.raises(ValueError):
        store.trace(f0s[0], rank="loudest")
    with pytest.raises(TypeError):
        store.exposures(f0s[0], lingr="10m")
    with pytest.raises(ValueError):
        store.sql("DELETE FROM checkins")
    with pytest.raises(ValueError):
        store.sql(f"COPY checkins TO '{store_dir}/../copy.csv'")
    with pytest.raises(ValueError):
        store.sql("SELECT nonsense FROM checkins")
    with pytest.raises(OSError):
        truyvet.Store.open(store_dir.parent / "not-a-store")


def test_refresh_sees_a_later_commit(tmp_path):
    data = tmp_path / "data"
    cli("gen", "--out", data, "--scale", "10k", "--seed", "11", "--format", "csv")
    days = sorted((data / "checkins").iterdir())
    assert len(days) >= 2
    store_dir = tmp_path / "store"
    cli("ingest", "--store", store_dir, "--tz", "+07:00", days[0])
    store = truyvet.Store.open(store_dir)
    rows = store.stats()["rows"]
    count = store.sql("SELECT count(*) AS n FROM checkins").column("n")[0].as_py()
    assert rows == count > 0
    cli("ingest", "--store", store_dir, "--tz", "+07:00", days[1])
    assert store.sql("SELECT count(*) AS n FROM checkins").column("n")[0].as_py() == count
    assert store.refresh() is True
    assert store.stats()["rows"] > rows
    assert store.sql("SELECT count(*) AS n FROM checkins").column("n")[0].as_py() == store.stats()["rows"]
    assert store.refresh() is False


def test_threads_share_a_store(store, f0s):
    expected = {f0: store.trace(f0).column("person_id").to_pylist() for f0 in f0s}
    got, errors = {}, []

    def work(f0):
        try:
            for _ in range(5):
                got[f0] = store.trace(f0).column("person_id").to_pylist()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(f0,)) for f0 in f0s]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert got == expected


def test_dashboard_example(store_dir, f0s, monkeypatch):
    # The README's Streamlit example, run headless: .ci/run installs streamlit.
    testing = pytest.importorskip("streamlit.testing.v1")
    monkeypatch.setenv("TRUYVET_STORE", str(store_dir))
    app = testing.AppTest.from_file(str(EXAMPLES / "dashboard.py"), default_timeout=60)
    app.run()
    assert not app.exception, app.exception
    assert "check-ins" in app.caption[0].value
    app.text_input[0].input(f0s[0]).run()
    assert not app.exception, app.exception
    expected = truyvet.Store.open(store_dir).trace(f0s[0], linger=900, min_overlap=300)
    assert app.metric[0].value == str(expected.num_rows)
    shown = app.dataframe[0].value
    assert list(shown["person_id"]) == expected.column("person_id").to_pylist()
    app.text_input[0].input("no-such-person").run()
    assert "not in the store" in app.error[0].value
