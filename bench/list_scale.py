"""List-scale benchmark: the list commands on a generated list of N papers in the example's format.

Usage: ``python bench/list_scale.py [--papers 1000] [--repeat 3] [--keep DIR]``.

The generated list has the example's shape (plain numbered headings, one six-column table per section,
then per paper a ``- [Venue] Title [code] [pdf]`` line with its three groups of Chinese bullets), so
``import`` writes one papers.yaml entry and one approved summary per paper. Each command then runs as
a curator runs it: ``python -m pipeline ...`` in a fresh process (interpreter start and imports
included), wall clock and CPU time (user + system, each shown), best of ``--repeat`` runs by CPU time
(the least disturbed by other processes); ``import`` runs once per repeat into a fresh folder. The
verdict compares CPU time with the target: on a shared machine a command's wall clock measures the
other jobs as much as the command. The load average before and after is printed with the figures.
Commands: import, render, validate, lint, review list, then render again (import records the files it
creates in the read-only commands' index, `pipeline.storage.yamlindex`, so the first render hashes
each file once instead of parsing it; the later ones read the index alone); first ``import rows``,
the same list without its bullet groups (as most real lists are: papers listed, none summarized, no
summary file).
Targets at 1,000 papers (issue 13): import ≤ 2 s, render ≤ 1 s, validate ≤ 2 s, lint ≤ 3 s,
review list ≤ 1 s.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECTIONS = [("💬", "Semi-supervised Learning(SSL)"), ("🖼️", "Weakly-supervised Learning(WSL)"),
            ("🦾", "Active Learning(AL)"), ("🛠️", "Zero-shot"), ("🗂️", "Few-shot")]
TARGETS = {"import": 2.0, "render": 1.0, "validate": 2.0, "lint": 3.0, "review list": 1.0, "render again": 1.0}
_CHARS = "数据模型方法标注学习分割图像特征网络训练监督一致性伪标签不确定性边界结构区域目标任务性能提升框架模块"
_WORDS = ["Semi-supervised", "Medical", "Segmentation", "Contrastive", "Prototype", "Uncertainty", "Mean",
          "Teacher", "Consistency", "Scribble", "Boundary", "Frequency", "Mixing", "Volumetric", "Learning",
          "Network", "Adaptive", "Graph", "Transformer", "Diffusion", "Pseudo", "Label", "Refinement"]


def _sentence(rng: random.Random) -> str:
    return "".join(rng.choice(_CHARS) for _ in range(rng.randint(24, 40))) + "。"


def _title(rng: random.Random, i: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(6, 11))) + f" {i}"


def generate(papers: int, seed: int = 13, *, summaries: bool = True) -> str:
    """A list of ``papers`` papers in the example's format (``summaries``: with the bullet groups)."""
    rng = random.Random(seed)
    lines = ["Medical image segmentation", "A generated list for the list-scale benchmark",
             "Generated papers in the shape of the example list.", "📚 Contents"]
    lines += [f"- {name}" for _, name in SECTIONS]
    lines.append("1. 🧠 Literature Review")
    per = [list(range(i, papers, len(SECTIONS))) for i in range(len(SECTIONS))]
    rows: dict[int, dict[str, str]] = {}
    for s, (emoji, name) in enumerate(SECTIONS, 1):
        lines += [f"1.{s} {emoji} {name}", "| Date | The First and Last Authors | Dim | Title | Code | Reference |",
                  "|---|---|---|---|---|---|"]
        for i in per[s - 1]:
            row = {"date": f"20{rng.randint(18, 25)}-{rng.randint(1, 12):02d}", "title": _title(rng, i),
                   "venue": rng.choice(["CVPR", "MICCAI", "TMI", "MedIA", "AAAI"]) + str(rng.randint(2018, 2025)),
                   "code": rng.choice(["Code", "None"])}
            rows[i] = row
            lines.append(f"| {row['date']} | A. Author{i} and Z. Last{i} | {rng.choice(['2D', '3D'])} | "
                         f"{row['title']} | {row['code']} | {row['venue']} |")
    for s, (emoji, name) in enumerate(SECTIONS if summaries else [], 1):
        lines += [f"{s + 1}. {emoji} {name.split('(')[0]}", f"{s + 1}.1 主题{s}"]
        for i in per[s - 1]:
            row = rows[i]
            marker = " [code]" if row["code"] == "Code" else ""
            lines.append(f"- [{row['venue']}] {row['title']}{marker} [pdf]")
            for group in ("文章考虑的问题:", "文章的动机和思路:", "文章的整体框架:"):
                lines.append(f"- {group}")
                lines += [f"- {_sentence(rng)}" for _ in range(2)]
    return "\n".join(lines) + "\n"


def _cpu() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime, usage.ru_stime


def _run(args: list[str], cwd: Path) -> tuple[float, float, float, float]:
    """Wall, CPU (user + system), user and system seconds of one command."""
    env = {**os.environ, "PIPELINE_OFFLINE": "1", "PIPELINE_CACHE_DIR": str(cwd / "cache")}
    start, (user, system) = time.perf_counter(), _cpu()
    done = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, check=False)
    seconds, (user_after, system_after) = time.perf_counter() - start, _cpu()
    if done.returncode not in (0, 1):
        raise SystemExit(f"`pipeline {' '.join(args)}` failed ({done.returncode}):\n{done.stderr[-2000:]}")
    user, system = user_after - user, system_after - system
    return seconds, user + system, user, system


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the generated workspace in this folder")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="list-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / "list.md"
    source.write_text(generate(args.papers), encoding="utf-8")
    (work / "rows.md").write_text(generate(args.papers, summaries=False), encoding="utf-8")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    best: dict[str, tuple[float, float, float, float]] = {}
    load_before = os.getloadavg()
    for attempt in range(args.repeat):
        folder = work / f"run{attempt}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        shutil.copy(source, folder / "list.md")
        shutil.copy(work / "rows.md", folder / "rows.md")
        paths = ["--papers", "papers.yaml", "--summaries", "summaries"]
        timed = {
            "import rows": ["import", "rows.md", "--papers", "rows.yaml", "--summaries", "rows"],
            "import": ["import", "list.md", *paths],
            "render": ["render", *paths, "--out", "LIST.md"],
            "validate": ["validate"],
            "lint": ["lint", *paths, "--out", "LIST.md"],
            "review list": ["review", "list"],
            # The first read-only command after the import checks each file's bytes against the index.
            "render again": ["render", *paths, "--out", "LIST.md"],
        }
        for name, command in timed.items():
            timing = _run(command, folder)
            best[name] = min(best.get(name, timing), timing, key=lambda t: t[1])
    records = len(list((work / "run0" / "summaries").glob("*.yaml")))
    load_after = os.getloadavg()
    print(f"{args.papers} papers ({records} summary files), best of {args.repeat} per command (import rows: the "
          "same table rows without the bullet groups, so no summary files); load average "
          f"{load_before[0]:.2f} before, {load_after[0]:.2f} after, on {os.cpu_count()} cores:")
    for name, (seconds, cpu, user, system) in best.items():
        target = TARGETS.get(name)
        verdict = "" if target is None or args.papers != 1000 else \
            f"  (target ≤ {target:g} s: {'met' if cpu <= target else 'NOT met'} on CPU time)"
        print(f"  {name:<12} {seconds:6.2f} s wall, {cpu:6.2f} s CPU ({user:.2f} user + {system:.2f} system)"
              f"{verdict}")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
