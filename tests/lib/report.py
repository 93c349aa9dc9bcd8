"""tests/lib/report.py - what every test script prints.

    R = report.Results("name")
    R.check(cond, "what", "why it failed")     ok what  /  FAIL what: why
    R.run("what", fn, *args)                   fn returns = ok; Fail, Timeout, ... = FAIL
    R.part("what", fn, *args)                  fn checks for itself; Fail, Timeout, ... = FAIL
    R.skip("what", "reason")                   SKIP: name: what: reason, the rest runs on;
                                               with CI=true a failure
    R.finish()                                 N passed, N failed; exit 1 on any failure
    report.skip("name", "reason")              SKIP: name: reason (exit 0); with CI=true a
                                               skip is a failure (exit 1)
"""
import os
import sys

from . import Closed, Fail, Timeout
from . import proc as _proc


def skip(name, reason):
    """An outside peer is missing: `SKIP: name: reason` and exit 0, or a failure when CI=true."""
    if os.environ.get("CI") == "true":
        print("FAIL %s: %s (CI=true: a skip is a failure)" % (name, reason), flush=True)
        print("0 passed, 1 failed", flush=True)
        sys.exit(1)
    print("SKIP: %s: %s" % (name, reason), flush=True)
    sys.exit(0)


class Results:
    def __init__(self, name, verbose=False):
        self.name = name
        self.verbose = verbose
        self.passed = 0
        self.failed = 0

    def ok(self, case, detail=""):
        print("ok %s%s" % (case, ("\n     " + detail) if detail and self.verbose else ""), flush=True)
        self.passed += 1

    def fail(self, case, why=""):
        print("FAIL %s%s" % (case, (": " + why) if why else ""), flush=True)
        self.failed += 1

    def check(self, cond, case, why=""):
        """ok case, or FAIL case: why. Returns bool(cond)."""
        if cond:
            self.ok(case, why)
        else:
            self.fail(case, why)
        return bool(cond)

    def run(self, case, fn, *args, errors=()):
        """fn() returning normally = ok; Fail/any expected exception (and the types in
        errors, e.g. an outside client library's own) = FAIL. Returns fn's result or None."""
        done, r = self._call(case, fn, args, errors)
        if done:
            self.ok(case)
        return r

    def part(self, case, fn, *args, errors=()):
        """fn makes checks of its own: an exception from it (the types run() catches) is
        one FAIL case, and the script goes on. Returns fn's result or None."""
        return self._call(case, fn, args, errors)[1]

    def _call(self, case, fn, args, errors):
        try:
            return True, fn(*args)
        except Fail as e:
            self.fail(case, str(e))
        except (Timeout, Closed, OSError, ValueError, KeyError) + tuple(errors) as e:
            self.fail(case, "%s: %s" % (type(e).__name__, e))
        return False, None

    def skip(self, what, reason):
        """An outside peer for part of the script is missing: `SKIP: name: what: reason`
        and the rest runs on; with CI=true it is a failure."""
        if os.environ.get("CI") == "true":
            self.fail(what, "%s (CI=true: a skip is a failure)" % reason)
        else:
            print("SKIP: %s: %s: %s" % (self.name, what, reason), flush=True)

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed), flush=True)

    def finish(self):
        """The summary line, every process stopped, exit status 1 on any failure."""
        self.summary()
        _proc.finish(self.failed)
        sys.exit(1 if self.failed else 0)
