"""The output folder reads as one table, with route and lang columns, in every common reader."""
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from conftest import SAMPLE_WEB
from test_pipeline import run


@pytest.fixture(scope="module")
def routed(models_root, tmp_path_factory):
    """A routed output with keep, drop and dead letters (the bad inputs reject records)."""
    from bad_inputs import make_bad_inputs

    folder = tmp_path_factory.mktemp("one-table-in")
    make_bad_inputs(folder)
    out = tmp_path_factory.mktemp("one-table") / "out"
    summary = run(models_root, [SAMPLE_WEB, folder], out).summary
    assert summary["kept"] and summary["dropped"] and summary["rejected"]
    (out / ".part-leftover.parquet.0123abcd.tmp").write_bytes(b"junk")  # a crashed attempt's temporary file
    (out / "_REPORT.html").write_text("<html></html>")
    return out, summary


def _by_route(pairs) -> dict:
    out = {}
    for route, n in pairs:
        out[route] = out.get(route, 0) + n
    return out


def expected(summary) -> dict:
    return {"keep": summary["kept"], "drop": summary["dropped"]}


def test_pyarrow_dataset(routed):
    out, summary = routed
    table = ds.dataset(out, format="parquet", partitioning="hive").to_table(columns=["route", "lang", "doc_id"])
    assert _by_route((r, 1) for r in table.column("route").to_pylist()) == expected(summary)
    assert set(table.column("lang").to_pylist()) == set(summary["by_lang"])


def test_duckdb(routed):
    duckdb = pytest.importorskip("duckdb")
    out, summary = routed
    rows = duckdb.sql(f"SELECT route, count(*) FROM read_parquet('{out}/**/*.parquet', hive_partitioning=true) "
                      f"GROUP BY route").fetchall()
    assert _by_route(rows) == expected(summary)
    langs = duckdb.sql(f"SELECT DISTINCT lang FROM read_parquet('{out}/**/*.parquet', hive_partitioning=true)")
    assert {r[0] for r in langs.fetchall()} == set(summary["by_lang"])
    dead = duckdb.sql(f"SELECT count(*) FROM read_parquet('{out}/_rejected/*.pq')").fetchone()[0]
    assert dead == summary["rejected"]


def test_polars(routed):
    pl = pytest.importorskip("polars")
    out, summary = routed
    df = pl.scan_parquet(f"{out}/**/*.parquet", hive_partitioning=True).group_by("route").len().collect()
    assert _by_route(zip(df["route"].to_list(), df["len"].to_list())) == expected(summary)
    assert pl.scan_parquet(f"{out}/_rejected/*.pq").collect().height == summary["rejected"]


def test_spark(routed):
    pytest.importorskip("pyspark")
    from winnow.pipeline.spark import SparkOptions, spark_context
    from pyspark.sql import SparkSession

    out, summary = routed
    sc = spark_context(SparkOptions(master="local[1]", progress=False))
    try:
        df = SparkSession(sc).read.parquet(str(out))
        assert {"route", "lang", "text", "kenlm_clean_pp"} <= set(df.columns)
        rows = df.groupBy("route").count().collect()
        assert _by_route((r["route"], r["count"]) for r in rows) == expected(summary)
    finally:
        sc.stop()


def test_dead_letters_read_as_their_own_table(routed):
    out, summary = routed
    assert pq.read_table(out / "_rejected").num_rows == summary["rejected"]
