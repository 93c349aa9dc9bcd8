#!/usr/bin/python3
"""tests/size.py - `make size`: the footprint of grouppush on minimal Linux.

Builds with musl-gcc (Debian musl-tools) fully static, as a small system would:
    -static -Os -ffunction-sections -fdata-sections -Wl,--gc-sections -s
and prints
  1. the stripped file size of grouppush_server, channel_server, echo, publish and the
     minimal WebSocket-only program (tests/size/parts.c with no part), each against its
     budget in tests/size/budgets (the CI gate: a program that grows past its budget fails
     here, so growth is a decision, not an accident), and the issue's targets;
  2. what each component adds to the minimal program (text+data of size(1): exact; the
     file size moves in 4 KiB steps because each segment starts on a page);
  3. the same four programs with two more flags a small build would also use
     (-fno-asynchronous-unwind-tables: no .eh_frame; -Wl,-z,noseparate-code: no page
     padding between segments) - for information, not gated;
  4. the idle RSS of echo and of a grouppush_server worker (2 workers), both static musl.
TLS cannot be linked with musl here (Debian's libmbedtls.a is built for glibc, with
_FORTIFY_SOURCE), so its row is a glibc -static build of the same minimal program.

    python3 tests/size.py [--out build/size] [--update]   (--update rewrites the budgets:
                                                            measured + 2 %, rounded up to 1 KiB)
"""
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))   # tests/
from lib import proc, report  # noqa: E402

ROOT = proc.ROOT
FLAGS = ["-static", "-Os", "-ffunction-sections", "-fdata-sections", "-Wl,--gc-sections", "-s"]
SMALL = ["-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-Wl,-z,noseparate-code"]
BUDGETS = os.path.join(ROOT, "tests", "size", "budgets")
PARTS = "tests/size/parts.c"
TARGETS = {"echo": 60 * 1024, "grouppush_server": 120 * 1024}   # the targets
MBEDTLS = ["/usr/lib/x86_64-linux-gnu/lib%s.a" % n for n in ("mbedtls", "mbedx509", "mbedcrypto")]

# name: (compiler, source, extra flags). "ws_min" is the manual's QUICK START.
PROGRAMS = {
    "grouppush_server":  ("musl-gcc", "examples/grouppush_server.c", []),
    "grouppush_server (GP_NO_RESOLVER)": ("musl-gcc", "examples/grouppush_server.c", ["-DGP_NO_RESOLVER"]),
    "channel_server":    ("musl-gcc", "examples/channel_server.c", []),
    "echo":              ("musl-gcc", "examples/echo.c", []),
    "publish":           ("musl-gcc", "examples/publish.c", []),
    "ws_min":            ("musl-gcc", PARTS, []),
    "empty main()":      ("musl-gcc", "tests/size/empty.c", []),
    # components: the minimal program plus one part (tests/size/parts.c says how each is used)
    "+epoll":            ("musl-gcc", PARTS, ["-DGP_USE_EPOLL"]),
    "+chansrv":          ("musl-gcc", PARTS, ["-DSIZE_PARTS=1"]),
    "+chancli":          ("musl-gcc", PARTS, ["-DSIZE_PARTS=2", "-DGP_NO_RESOLVER"]),
    "+chancli+resolver": ("musl-gcc", PARTS, ["-DSIZE_PARTS=2"]),
    "+sup":              ("musl-gcc", PARTS, ["-DSIZE_PARTS=4"]),
    "+app":              ("musl-gcc", PARTS, ["-DSIZE_PARTS=8", "-DGP_NO_RESOLVER"]),
    "glibc ws_min":      ("gcc", PARTS, []),
    "glibc ws_min+tls":  ("gcc", PARTS, ["-DGP_USE_MBEDTLS"] + MBEDTLS),
}
SMALL_OF = ["grouppush_server", "grouppush_server (GP_NO_RESOLVER)", "channel_server", "echo"]
COMPONENTS = [   # (what, program, baseline)
    ("TLS: the >>tls glue + mbedTLS 2.28 (glibc -static)", "glibc ws_min+tls", "glibc ws_min"),
    ("epoll backend instead of poll", "+epoll", "ws_min"),
    ("channel server (gp_chansrv)", "+chansrv", "ws_min"),
    ("channel client (gp_chancli, literal address)", "+chancli", "ws_min"),
    ("  + the resolver (getaddrinfo, without GP_NO_RESOLVER)", "+chancli+resolver", "+chancli"),
    ("supervisor (gp_sup_run: fork, signals, status)", "+sup", "ws_min"),
    ("JSON app (gp_app: groups, JSON, channel client)", "+app", "ws_min"),
]


def out_path(out, name, small=False):
    base = name.replace(" ", "_").replace("(", "").replace(")", "").replace("+", "p").replace("/", "_")
    return os.path.join(out, base + ("-small" if small else ""))


def build(out, name, small=False):
    cc, src, extra = PROGRAMS[name]
    exe = out_path(out, name, small)
    argv = [cc] + FLAGS + (SMALL if small else []) + [src] + extra + ["-o", exe]
    r = subprocess.run(["nice", "-n", "10"] + argv, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        return name, small, None, None, "%s: %s" % (" ".join(argv), (r.stderr or r.stdout)[-800:])
    st = subprocess.run(["size", exe], capture_output=True, text=True).stdout.split("\n")[1].split()
    return name, small, os.path.getsize(exe), int(st[0]) + int(st[1]), None


def kib(n):
    return "%.1f" % (n / 1024.0)


def load_budgets():
    b = {}
    if os.path.exists(BUDGETS):
        with open(BUDGETS) as f:
            for ln in f:
                ln = ln.split("#")[0].strip()
                if ln:
                    name, n = ln.rsplit(None, 1)
                    b[name] = int(n)
    return b


def idle_rss(R, out):
    echo = proc.echo(out_path(out, "echo"))
    try:
        e = proc.rss_kb(echo.pid)
        R.check(e > 0, "idle RSS of echo (static musl): %d KiB" % e)
    finally:
        echo.stop()
    srv = proc.Server(out_path(out, "grouppush_server"), workers=2).start()
    try:
        st = srv.status()
        rows = {}
        for p in st["processes"]:
            rows.setdefault(p["role"], []).append(proc.rss_kb(p["pid"]))
        w = rows.get("worker", [0])
        R.check(len(w) == 2 and min(w) > 0, "idle RSS of a grouppush_server worker (static musl): %d KiB" % max(w),
                "status %s" % st)
        for role in sorted(rows):
            if role != "worker":
                print("     %s: %d KiB" % (role, max(rows[role])))
        # the status JSON's own figure (gp_sup's rss_kb, read by the header) agrees with /proc
        mine = [p.get("rss_kb", 0) for p in st["processes"] if p["role"] == "worker"]
        R.check(all(k > 0 for k in mine), "the status JSON reports each worker's rss_kb (%s KiB)" % mine)
    finally:
        srv.stop()


def main():
    out = os.path.join(ROOT, "build", "size")
    update = "--update" in sys.argv
    if "--out" in sys.argv:
        out = sys.argv[sys.argv.index("--out") + 1]
    R = report.Results("size")
    if shutil.which("musl-gcc") is None:
        report.skip("size", "musl-gcc not installed (Debian package musl-tools)")
    os.makedirs(out, exist_ok=True)
    proc.guard("size", 600)
    jobs = [(n, False) for n in PROGRAMS if not (n.endswith("+tls") and not all(map(os.path.exists, MBEDTLS)))]
    jobs += [(n, True) for n in SMALL_OF]
    with ThreadPoolExecutor(max_workers=2) as ex:
        res = list(ex.map(lambda j: build(out, j[0], j[1]), jobs))
    size, text, small = {}, {}, {}
    for name, is_small, fsz, td, err in res:
        if err:
            R.fail("build %s%s" % (name, " (small flags)" if is_small else ""), err)
            continue
        (small if is_small else size)[name] = fsz
        if not is_small:
            text[name] = td
    if R.failed:
        R.finish()

    budgets = load_budgets()
    print("\nstripped static musl, %s" % " ".join(FLAGS))
    print("%-36s %9s %8s %9s %10s  %s" % ("program", "bytes", "KiB", "text+data", "budget", "target"))
    for name in ["grouppush_server", "grouppush_server (GP_NO_RESOLVER)", "channel_server", "echo", "publish",
                 "ws_min", "empty main()"]:
        t = TARGETS.get(name)
        tgt = "" if t is None else ("%d KiB: %s" % (t // 1024, "met" if size[name] <= t else
                                                     "missed by %s KiB" % kib(size[name] - t)))
        b = budgets.get(name)
        print("%-36s %9d %8s %9d %10s  %s" % (name, size[name], kib(size[name]), text[name],
                                             "-" if b is None else b, tgt))
    print("\nwhat each part adds to ws_min (text+data bytes; file bytes in brackets)")
    for what, prog, base in COMPONENTS:
        if prog not in size:
            R.skip(what, "no %s" % " ".join(MBEDTLS))
            continue
        print("%-58s %+8d  (%+d)" % (what, text[prog] - text[base], size[prog] - size[base]))
    print("\nwith %s as well (not gated)" % " ".join(SMALL))
    for name in SMALL_OF:
        print("%-36s %9d %8s" % (name, small[name], kib(small[name])))
    print()

    if update:
        with open(BUDGETS, "w") as f:
            f.write("# tests/size/budgets - the CI gate of `make size` (tests/size.py): stripped static musl\n"
                    "# bytes a program may reach; measured + 2 %, rounded up to 1 KiB, by --update. Raising\n"
                    "# one is a decision for the commit message (what grew, and why it is worth it).\n")
            for name in ["grouppush_server", "grouppush_server (GP_NO_RESOLVER)", "channel_server", "echo",
                         "publish", "ws_min"]:
                f.write("%s %d\n" % (name, -(-int(size[name] * 1.02) // 1024) * 1024))
        budgets = load_budgets()
        print("budgets written to %s" % BUDGETS)
    for name, b in sorted(budgets.items()):
        if name not in size:
            R.fail("budget of %s" % name, "no such program")
            continue
        R.check(size[name] <= b, "%s: %d bytes within its budget %d" % (name, size[name], b),
                "over by %d bytes: find what grew (nm --size-sort), or raise the budget in %s saying why"
                % (size[name] - b, BUDGETS))
    R.part("idle RSS", idle_rss, R, out)
    R.finish()


if __name__ == "__main__":
    main()
