# The Great Expectations 1.x oracle for the validation engine's tests and benchmark (Python is
# test-only). Reads one JSON request on stdin and writes GE's results as JSON on stdout:
#   {"suite": <GE suite JSON>, "rows": [...] | null, "columns": {"name": "int"|"float"|"str"|"bool"|"datetime"},
#    "databaseUrl": "postgresql://..." | null, "table": "name", "schema": "public",
#    "resultFormat": "COMPLETE", "roundTrip": <suite JSON> | null}
# -> {"pandas": <validation result> | null, "sql": <validation result> | null,
#     "suiteFromGe": <the suite as GE serialises it>, "roundTrip": <roundTrip loaded and re-serialised>}
import json
import logging
import resource
import sys
import time
import warnings

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import great_expectations as gx  # noqa: E402
import pandas as pd  # noqa: E402
from great_expectations.core.expectation_suite import ExpectationSuite, expectationSuiteSchema  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402


def load_suite(d):
    return ExpectationSuite(**expectationSuiteSchema.load(d))


def frame(rows, columns):
    df = pd.DataFrame.from_records(rows, columns=list(columns.keys()) if columns else None)
    for name, kind in (columns or {}).items():
        if kind == "int":
            # Nullable integers stay integers (pandas' Int64), as a user reading a table would get.
            df[name] = df[name].astype("Int64")
        elif kind == "float":
            df[name] = df[name].astype("float64")
        elif kind == "datetime":
            df[name] = pd.to_datetime(df[name], utc=True)
        elif kind == "bool":
            df[name] = df[name].astype("boolean")
        elif kind == "str":
            df[name] = df[name].astype("object")
    return df


def main():
    req = json.load(sys.stdin)
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
    out = {"pandas": None, "sql": None, "timings": {}}
    suite = load_suite(req["suite"]) if req.get("suite") else None
    if suite is not None:
        out["suiteFromGe"] = suite.to_json_dict()
    rf = req.get("resultFormat", "COMPLETE")
    if suite is not None and (req.get("rows") is not None or req.get("pandasSql")):
        t0 = time.perf_counter()
        if req.get("pandasSql"):
            import sqlalchemy

            engine = sqlalchemy.create_engine(req["pandasSql"]["url"])
            df = pd.read_sql(req["pandasSql"]["query"], engine)
            out["timings"]["pandas_read"] = time.perf_counter() - t0
            t0 = time.perf_counter()
        else:
            df = frame(req["rows"], req.get("columns"))
        ds = ctx.data_sources.add_pandas("pandas")
        asset = ds.add_dataframe_asset("rows")
        batch = asset.add_batch_definition_whole_dataframe("all").get_batch(batch_parameters={"dataframe": df})
        out["pandas"] = batch.validate(suite, result_format=rf).to_json_dict()
        out["timings"]["pandas"] = time.perf_counter() - t0
    if suite is not None and req.get("databaseUrl"):
        t0 = time.perf_counter()
        ds = ctx.data_sources.add_postgres("pg", connection_string=req["databaseUrl"])
        asset = ds.add_table_asset("table", table_name=req["table"], schema_name=req.get("schema") or None)
        batch = asset.add_batch_definition_whole_table("all").get_batch()
        out["sql"] = batch.validate(suite, result_format=rf).to_json_dict()
        out["timings"]["sql"] = time.perf_counter() - t0
    if req.get("roundTrip") is not None:
        out["roundTrip"] = load_suite(req["roundTrip"]).to_json_dict()
    out["maxRssKiB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    json.dump(out, sys.stdout, default=str)


main()
