"""tests/lib/prom.py - a strict parser of the Prometheus text exposition format 0.0.4.

    fams = prom.parse(text)          {family: {"type", "help", "samples": [(name, labels, value)]}}
    prom.value(fams, "x_total", code="bad_json")

parse() raises Fail on anything the format does not allow: a missing final newline, HELP or
TYPE twice or after the family's samples, an unknown type, bad metric or label names,
reserved labels (__x), bad escapes in label values or HELP, a label twice, samples of one
family in two blocks, a duplicate series, a value that is not a Go float; and on what the
project requires on top: counters named *_total and never negative, histogram buckets
ascending to +Inf, cumulative, with _count equal to the +Inf bucket and a _sum.
"""
import math
import re

from . import Fail, expect

NAME_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _float(s, where):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.match(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$", s):
        raise Fail("%s: %r is not a number" % (where, s))
    return float(s)


def _labels(s, where):
    """The inside of {...}: a list of (name, value), escapes \\\\ \\" \\n undone."""
    out, i = [], 0
    while i < len(s):
        m = re.match(r"([a-zA-Z_][a-zA-Z0-9_]*)=\"", s[i:])
        if not m:
            raise Fail("%s: bad label at %r" % (where, s[i:]))
        name = m.group(1)
        if name.startswith("__"):
            raise Fail("%s: label %s is reserved" % (where, name))
        i += m.end()
        val = []
        while True:
            if i >= len(s):
                raise Fail("%s: unterminated label value" % where)
            c = s[i]
            if c == "\\":
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    raise Fail("%s: bad escape in label value" % where)
                val.append("\n" if s[i + 1] == "n" else s[i + 1])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise Fail("%s: newline in label value" % where)
            else:
                val.append(c)
                i += 1
        out.append((name, "".join(val)))
        if i < len(s):
            if s[i] != ",":
                raise Fail("%s: expected ',' between labels" % where)
            i += 1
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise Fail("%s: a label repeats" % where)
    return out


def parse(text):
    """{family: {"type", "help", "samples": [(name, labels dict, value)]}}; raises Fail on
    anything the text format 0.0.4 does not allow (and on counters not named *_total)."""
    expect(text.endswith("\n"), "the exposition does not end with a newline")
    fams, order, done, seen = {}, [], set(), set()
    cur = None

    def family_of(sample):
        for f in (sample, re.sub(r"_(bucket|sum|count)$", "", sample)):
            if f in fams and (f == sample or fams[f]["type"] in ("histogram", "summary")):
                return f
        return sample

    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d" % n
        if line == "":
            continue
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (\S+)(?: (.*))?$", line)
            if not m:
                continue                                  # a plain comment
            kind, name, rest = m.group(1), m.group(2), m.group(3) or ""
            expect(NAME_RE.match(name), "%s: bad metric name %r" % (where, name))
            f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
            expect(name not in done, "%s: %s %s after its samples ended" % (where, kind, name))
            if kind == "TYPE":
                expect(rest in TYPES, "%s: unknown type %r" % (where, rest))
                expect(f["type"] is None, "%s: second TYPE for %s" % (where, name))
                expect(not f["samples"], "%s: TYPE %s after its samples" % (where, name))
                f["type"] = rest
            else:
                expect(f["help"] is None, "%s: second HELP for %s" % (where, name))
                expect(not re.search(r"\\[^\\n]", rest), "%s: bad escape in HELP" % where)
                f["help"] = rest
            if cur != name:
                if cur is not None:
                    done.add(cur)
                cur = name
                order.append(name)
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)(?: (-?\d+))?$", line)
        expect(m, "%s: not a sample line: %r" % (where, line))
        sname, labels, value = m.group(1), _labels(m.group(3) or "", where), _float(m.group(4), where)
        fam = family_of(sname)
        if fam != cur:
            expect(fam not in done, "%s: samples of %s in two blocks" % (where, fam))
            if cur is not None:
                done.add(cur)
            cur = fam
            order.append(fam)
        f = fams.setdefault(fam, {"type": None, "help": None, "samples": []})
        key = (sname, tuple(sorted(labels)))
        expect(key not in seen, "%s: duplicate series %s%s" % (where, sname, dict(labels)))
        seen.add(key)
        f["samples"].append((sname, dict(labels), value))
    for name, f in fams.items():
        t = f["type"] or "untyped"
        if t == "counter":
            expect(name.endswith("_total"), "counter %s is not named *_total" % name)
            for s, _l, v in f["samples"]:
                expect(s == name and v >= 0, "counter %s: sample %s = %s" % (name, s, v))
        if t == "histogram":
            series = {}
            for s, l, v in f["samples"]:
                rest = tuple(sorted((k, x) for k, x in l.items() if k != "le"))
                d = series.setdefault(rest, {"b": [], "sum": None, "count": None})
                if s == name + "_bucket":
                    expect("le" in l, "%s: bucket without le" % name)
                    d["b"].append((_float(l["le"], name), v))
                elif s == name + "_sum":
                    d["sum"] = v
                elif s == name + "_count":
                    d["count"] = v
                else:
                    raise Fail("histogram %s: stray sample %s" % (name, s))
            for rest, d in series.items():
                les = [b[0] for b in d["b"]]
                expect(les and les == sorted(les) and len(set(les)) == len(les) and les[-1] == math.inf,
                       "%s: buckets %s not ascending to +Inf" % (name, les))
                vals = [b[1] for b in d["b"]]
                expect(vals == sorted(vals), "%s: buckets not cumulative: %s" % (name, vals))
                expect(d["count"] is not None and d["sum"] is not None, "%s: no _count or _sum" % name)
                expect(d["count"] == vals[-1], "%s: _count %s != +Inf bucket %s" % (name, d["count"], vals[-1]))
    return fams


def value(fams, name, **labels):
    """The value of the sample name{labels} (a histogram's _sum, _count and _bucket too)."""
    f = fams.get(name) or fams.get(re.sub(r"_(bucket|sum|count)$", "", name))
    expect(f is not None, "no family %s in /metrics" % name)
    for s, l, v in f["samples"]:
        if s == name and l == labels:
            return v
    raise Fail("no sample %s%s" % (name, labels))
