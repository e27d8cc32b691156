"""A generated section of the README: the text between `<!-- NAME:begin -->` and
`<!-- NAME:end -->`, written from a results file or checked against it. Shared by the
scripts that make the README's tables (results-table.py, waiter-cost.py), so that a
table can only change by rerunning what measured it."""

import argparse
import json
import sys


def write_or_check(readme: str, name: str, text: str, check: bool, remedy: str) -> int:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    with open(readme, encoding="utf-8") as f:
        body = f.read()
    if begin not in body or end not in body:
        print(f"{readme}: no {begin} ... {end} section", file=sys.stderr)
        return 1
    head, rest = body.split(begin, 1)
    current, tail = rest.split(end, 1)
    if check:
        if current.strip() != text.strip():
            print(f"{readme}: the {name} table is not what its results file makes: run {remedy}",
                  file=sys.stderr)
            return 1
        print(f"{readme}: the {name} table matches its results file")
        return 0
    with open(readme, "w", encoding="utf-8") as f:
        f.write(f"{head}{begin}\n{text}\n{end}{tail}")
    return 0


def load_jsonl(path: str) -> list:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def table_cli(name: str, doc: str, table, script: str) -> int:
    """The command line every table script shares: RESULTS [--readme README | --check README].
    `table` makes the section's text from the results file's lines."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("results")
    p.add_argument("--readme")
    p.add_argument("--check")
    args = p.parse_args()
    text = table(load_jsonl(args.results))
    path = args.readme or args.check
    if not path:
        print(text)
        return 0
    return write_or_check(path, name, text, bool(args.check),
                          f"scripts/{script} {args.results} --readme {path}")
