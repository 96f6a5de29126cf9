"""Checks Eddy's outputs against SQLite, an independent SQL engine, on the same Nexmark data.

usage: check.py DATA_DIR OUT_DIR QUERY_DIR
For each QUERY_DIR/<name>.sql, compares SQLite's result over DATA_DIR/{persons,auctions,bids}.jsonl
with Eddy's OUT_DIR/<name>.csv (no header), as multisets of rows; floats within 1e-9 (relative).
"""
import csv
import json
import math
import os
import sqlite3
import sys
from collections import Counter

TABLES = {"persons": "persons.jsonl", "auctions": "auctions.jsonl", "bids": "bids.jsonl"}


def load(db, data):
    for table, file in TABLES.items():
        rows = [json.loads(line) for line in open(os.path.join(data, file), encoding="utf-8")]
        columns = list(rows[0].keys())
        for r in rows:
            for c in r:
                if c not in columns:
                    columns.append(c)
        db.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
        marks = ", ".join("?" for _ in columns)
        db.executemany(f"INSERT INTO {table} VALUES ({marks})", [[r.get(c) for c in columns] for r in rows])


def cell(v):
    """A canonical form of a value: numbers as floats, null as None, the rest as text."""
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return float(v)
    except ValueError:
        return str(v)


def key(row):
    return tuple((0, round(c, 6)) if isinstance(c, float) else (1, str(c)) for c in row)


def same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def main():
    data, out, queries = sys.argv[1:4]
    db = sqlite3.connect(":memory:")
    load(db, data)
    failures = 0
    names = sorted(f[:-4] for f in os.listdir(queries) if f.endswith(".sql"))
    for name in names:
        sql = open(os.path.join(queries, name + ".sql"), encoding="utf-8").read()
        want = sorted((tuple(cell(v) for v in row) for row in db.execute(sql)), key=key)
        with open(os.path.join(out, name + ".csv"), newline="", encoding="utf-8") as f:
            got = sorted((tuple(cell(v) for v in row) for row in csv.reader(f)), key=key)
        problems = []
        if len(want) != len(got):
            problems.append(f"{len(got)} rows, SQLite has {len(want)}")
        for w, g in zip(want, got):
            if len(w) != len(g) or not all(same(x, y) for x, y in zip(w, g)):
                problems.append(f"row {g} != SQLite {w}")
                break
        if not want:
            problems.append("SQLite found no rows: the query checks nothing")
        status = "ok" if not problems else "FAILED: " + "; ".join(problems)
        print(f"{name}: {len(got)} rows {status}")
        failures += bool(problems)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
