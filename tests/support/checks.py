"""The ok/FAIL lines and the "N passed, N failed" tally of the Python test scripts
(tests/chart, tests/observability): `from checks import check, fail, tally`."""

_counts = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    """Counts and prints one check: "ok   NAME", or "FAIL NAME: DETAIL"."""
    if ok:
        _counts["passed"] += 1
        print(f"ok   {name}")
    else:
        _counts["failed"] += 1
        print(f"FAIL {name}{': ' + detail if detail else ''}")
    return bool(ok)


def fail(what):
    """A failure outside any one check (a test that could not run on)."""
    check(what, False)


def tally():
    """(passed, failed) so far."""
    return _counts["passed"], _counts["failed"]
