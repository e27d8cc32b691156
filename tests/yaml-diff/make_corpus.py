#!/usr/bin/env python3
"""Writes corpus.json: YAML documents covering every scalar form kubectl reads in a way a
YAML 1.2 reader would not, plus anchors, merge keys and non-string keys. Run by hand
when adding cases; corpus.json is committed."""
import json
import pathlib

SCALARS = """
0755 0o17 0O17 0x1F 0X1f -0x1F +0x1F 0b101 -0b101 0B11 0 00 -0 +0 08 09 0_755 0.5 +12 -12
1_000 1__0 1_ _1 0x_1F 1.5 1e3 1E3 1e+3 1.5e-3 -1.5e-3 .5 -.5 +.5 5. 0. 12e03 1.0 1e400 -1e400
0x 0b 0o 0xG 0b2 0o8 1.2.3 1:20 1:20:30 190:20:30 1,000 $1 1e 1e+ e3
9223372036854775807 9223372036854775808 -9223372036854775808 -9223372036854775809
18446744073709551615 18446744073709551616 0xFFFFFFFFFFFFFFFF 0x10000000000000000
123456789012345678901234567890 0777777777777777777777 01777777777777777777777
y Y yes Yes YES yEs n N no No NO on On ON off Off OFF true True TRUE tRUE false False FALSE
null Null NULL nULL ~
.inf .Inf .INF +.inf -.inf -.Inf .nan .NaN .NAN .iNf inf nan Infinity .
2001-12-14t21:59:43.10-05:00 2001-12-14T21:59:43Z 2001-12-14 2002-1-2 2001-12-14 21:59:43.10
= << - + -- +- 0x1p3 1_2.3_4 0.1_0 ○ 0755x
""".split()

DOCUMENTS = [f"v: {s}\n" for s in SCALARS if s != "2001-12-14" or True]
DOCUMENTS += [
    "v: 2001-12-14 21:59:43.10\n",
    "v:\n",
    "v: ''\n",
    "v: '0755'\n",
    'v: "0755"\n',
    'v: "yes"\n',
    "v: 'true'\n",
    'v: "1e3"\n',
    'v: "~"\n',
    "v: |\n  0755\n",
    "v: >\n  yes\n",
    "v: !!str 0755\n",
    "v: !!str yes\n",
    "v: !!int '0755'\n",
    "v: !!int 0x1F\n",
    "v: !!float 1\n",
    "v: !!float '1.5'\n",
    "v: !!bool yes\n",
    "v: !!bool 'on'\n",
    "v: !!null ''\n",
    "v: !!int abc\n",
    "v: !custom 0755\n",
    "v: !!timestamp 2001-12-14\n",
    "v: [0755, yes, ~, 0x1F, '1']\n",
    "v: {a: 0755, b: no}\n",
    "1: a\n",
    "0755: a\n",
    "true: a\n",
    "yes: a\n",
    "y: a\n",
    "1.5: a\n",
    "0.1: a\n",
    "1e3: a\n",
    "~: a\n",
    "null: a\n",
    "18446744073709551615: a\n",
    "-1: a\n",
    "[a, b]: c\n",
    "a: &x 0755\nb: *x\n",
    "base: &b {p: 1, q: 2}\nd:\n  <<: *b\n  q: 3\n",
    "a: &a {p: 1}\nb: &b {p: 2, r: 2}\nd:\n  <<: [*a, *b]\n",
    "a: &a {p: 1}\nd:\n  p: 0\n  <<: *a\n",
    "a: &a {p: 1}\nd:\n  <<: *a\n  p: 0\n",
    "d:\n  <<: {p: 1}\n",
    "d:\n  '<<': {p: 1}\n",
    "d:\n  <<: 1\n",
    "a: &a [1, 2]\nb: *a\n",
    "- 0755\n- yes\n",
    "0755\n",
    "yes\n",
    "a: 1 # comment\n",
    "a: \"\\u00e9\\t\"\n",
]

out = pathlib.Path(__file__).with_name("corpus.json")
out.write_text(json.dumps(DOCUMENTS, indent=1, ensure_ascii=False) + "\n")
print(f"{len(DOCUMENTS)} documents")
