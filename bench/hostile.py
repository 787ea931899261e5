"""Hostile-input benchmark: CPU time, wall time and peak memory of every case of `tests/hostile.py`.

Usage: ``python bench/hostile.py [NAME ...] [--test-size] [--seconds S] [--megabytes M] [--root CHECKOUT]``

Each case runs as in the test suite (``python -m pipeline ...`` in a child process, offline, with a fresh
folder as working directory, cache and summaries folder, a loopback fake LLM server where the case needs
one), at the size the issue reproduced it with, or with ``--test-size`` at the test suite's size. The child
is killed at the case's bounds (5 s of CPU, 15 s wall, 300 MB). ``--seconds``/``--megabytes`` raise the
kill bounds to measure how far over them a slow version goes (the verdict still uses the case's own);
``--root`` runs another checkout's ``pipeline`` with this case list, e.g. an older commit unpacked with
``git archive`` (its own ``dev-server`` then answers). Prints one line per case: exit code, CPU and wall
seconds, peak MB (the child's maximum resident set) and what broke, if anything.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import hostile  # noqa: E402


def main() -> int:
    """Run the chosen cases and print their figures; exit 1 when one broke a promise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="cases to run (default: all)")
    parser.add_argument("--test-size", action="store_true", help="use the test suite's sizes")
    parser.add_argument("--seconds", type=float, help="time bound per case (default: the case's own)")
    parser.add_argument("--megabytes", type=int, help="memory bound per case (default: the case's own)")
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout whose pipeline runs (default: this one)")
    args = parser.parse_args()
    known = {case.name for case in hostile.CASES}
    if unknown := set(args.names) - known:
        parser.error(f"unknown cases {sorted(unknown)}; known: {', '.join(sorted(known))}")
    broke = False
    print(f"# {'case':<20} {'row':>3} {'size':>8} {'exit':>4} {'CPU s':>7} {'wall s':>7} {'MB':>5}  problems")
    for case in hostile.CASES:
        if args.names and case.name not in args.names:
            continue
        bounded = dataclasses.replace(case, seconds=args.seconds or case.seconds,
                                      megabytes=args.megabytes or case.megabytes,
                                      wall_seconds=args.seconds * hostile.WALL_FACTOR if args.seconds else None)
        size = case.test_size if args.test_size and case.test_size is not None else case.size
        with tempfile.TemporaryDirectory(prefix=f"hostile-{case.name}-") as folder:
            outcome = hostile.run(bounded, Path(folder), size=size, root=args.root.resolve())
            # Judged by the case's own bounds, also when the kill bounds were raised to measure.
            problems = dataclasses.replace(outcome, case=case).problems() if not outcome.killed \
                else outcome.problems()
            if not problems and case.check:
                try:
                    case.check(outcome)
                except AssertionError as exc:
                    problems = [str(exc)]
        broke = broke or bool(problems)
        print(f"  {case.name:<20} {case.row:>3} {size:>8} {outcome.returncode:>4} {outcome.cpu_seconds:>7.2f} "
              f"{outcome.seconds:>7.2f} {outcome.megabytes:>5.0f}  {'; '.join(problems) or 'ok'}", flush=True)
    return 1 if broke else 0


if __name__ == "__main__":
    sys.exit(main())
