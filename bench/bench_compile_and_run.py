"""Benchmark: what compiling Kestra flows into Dagster costs, at run time and at load time.

Run from the repository root::

    .venv/bin/python bench/bench_compile_and_run.py            # N=5 runs, 1,000 flows
    .venv/bin/python bench/bench_compile_and_run.py --quick    # N=3 runs

(a) **Run overhead.** A generated flow of 50 ``log.Log`` tasks in sequence, compiled by
    ``KestraTranslator``, against a hand-written Dagster job of 50 chained ops that each log a
    line and return a string (``bench/_jobs.py``). Both run through
    ``execute_job(reconstructable(factory), instance)`` on ONE persistent
    ``DagsterInstance.local_temp()`` (SQLite, like ``dagster dev``), interleaved A, B, A, B…
    after one warm-up run each; medians and the ratio compiled / hand-written are printed.

    Why ``execute_job`` and not ``execute_in_process``: ``execute_in_process`` ignores the job's
    executor (it always uses its own in-process executor, dagster-notes §Surprise 5), so it would
    not measure what a launched run does. ``execute_job`` honours each job's ``in_process_executor``
    and writes the same event log a run launched from the UI writes; the only thing it leaves
    out is the ~1.5 s process start of a launched run, which is the same for both jobs. The
    factories cache their job, so no YAML parsing or compiling is inside the timed runs.

(b) **Load time.** 1,000 generated flows of 10 tasks each on disk → ``build_repository([dir])``,
    the lazy repository that ``kestra_dagster.definitions`` (the code location of ``dagster dev``)
    exposes: every flow parsed and validated, every job name registered, each Dagster job built
    on first use. Each repetition runs in a fresh Python process, median of 3. Then, in the same
    process and printed for information: one job fetched by name (what a launched run's worker
    does: it builds only its own flow's job), every job built (``get_all_jobs``), and
    ``RepositorySnap.from_def`` (what a code server serialises for the webserver; first with
    ``defer_snapshots=True``, the form the webserver requests in Dagster 1.13, which already
    builds and caches every job snapshot, then in full, which reuses them), a parse-only pass
    (``load_flow_file`` on every file, warm), the import time and the peak RSS delta.

When the run ratio is far above its target (or with ``--profile``), one compiled run is profiled
with cProfile and the time spent in ``kestra_dagster`` code is broken down.

Exit status is 0 unless a benchmarked run itself fails; targets are reported, not enforced.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RATIO_TARGET = 1.15
LOAD_TARGET_S = 3.0


# ============================================================================ (a) run overhead


def bench_runs(runs: int, n_tasks: int, kind: str, profile: str, workdir: Path) -> dict:
    os.environ["KESTRA_BENCH_TASKS"] = str(n_tasks)
    flow_file = workdir / "chain.yaml"
    if str(BENCH_DIR) not in sys.path:
        sys.path.insert(0, str(BENCH_DIR))
    import _jobs  # noqa: E402  (bench/_jobs.py; needs KESTRA_BENCH_TASKS set first)

    flow_file.write_text(_jobs.chain_flow_yaml(n_tasks, kind), encoding="utf-8")
    os.environ[_jobs.FLOW_FILE_ENV] = str(flow_file)

    from dagster import DagsterInstance, execute_job, reconstructable

    home = workdir / "dagster_home"
    home.mkdir()
    instance = DagsterInstance.local_temp(tempdir=str(home), overrides={"telemetry": {"enabled": False}})
    compiled = reconstructable(_jobs.compiled_chain)
    hand = reconstructable(_jobs.hand_written_chain)

    cpu: dict[str, list[float]] = {"compiled": [], "hand": []}

    def run_once(recon, label: str | None = None) -> tuple[float, str]:
        cpu_started = _cpu_s()
        started = time.perf_counter()
        with execute_job(recon, instance=instance) as result:
            elapsed = time.perf_counter() - started
            if label:
                cpu[label].append(_cpu_s() - cpu_started)
            if not result.success:
                raise SystemExit(f"benchmark run of {recon.get_definition().name} failed (run {result.run_id})")
            return elapsed, result.run_id

    times: dict[str, list[float]] = {"compiled": [], "hand": []}
    # Dagster's console logger writes every event to stderr; send it to a file for both jobs alike.
    with _stderr_to(workdir / "dagster_console.log"):
        # Warm-up: imports, first SQLite schema use, job construction (cached by the factories).
        _, compiled_warm = run_once(compiled)
        _, hand_warm = run_once(hand)
        for i in range(runs):
            times["compiled"].append(run_once(compiled, "compiled")[0])
            times["hand"].append(run_once(hand, "hand")[0])
            _say(f"  run {i + 1}/{runs}: compiled {times['compiled'][-1]:.2f} s, "
                 f"hand-written {times['hand'][-1]:.2f} s")
    med_c, med_h = statistics.median(times["compiled"]), statistics.median(times["hand"])
    result = {
        "runs": runs,
        "tasks": n_tasks,
        "kind": kind,
        "compiled_s": times["compiled"],
        "hand_s": times["hand"],
        "compiled_median_s": med_c,
        "hand_median_s": med_h,
        "ratio": med_c / med_h,
        "compiled_cpu_s": cpu["compiled"],
        "hand_cpu_s": cpu["hand"],
        "cpu_ratio": statistics.median(cpu["compiled"]) / statistics.median(cpu["hand"]),
        "compiled_nodes": len(compiled.get_definition().nodes),
        "hand_nodes": len(hand.get_definition().nodes),
        "compiled_events": len(instance.all_logs(compiled_warm)),
        "hand_events": len(instance.all_logs(hand_warm)),
        "compiled_event_types": _event_types(instance, compiled_warm),
        "hand_event_types": _event_types(instance, hand_warm),
    }
    if profile == "always" or (profile == "auto" and result["ratio"] > RATIO_TARGET):
        _say("  profiling one run of each job (cProfile)")
        with _stderr_to(workdir / "dagster_console.log"):
            result["profile"] = profile_runs(lambda: run_once(compiled), lambda: run_once(hand))
    instance.dispose()
    return result


_STDOUT = sys.stdout


def _say(text: str) -> None:
    print(text, file=_STDOUT, flush=True)


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Redirect file descriptor 2 (where Dagster's console logger writes) to ``path``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def _cpu_s() -> float:
    """CPU seconds of this process, all threads (less sensitive than wall time to a busy machine)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _event_types(instance, run_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in instance.all_logs(run_id):
        kind = record.dagster_event.event_type_value if record.dagster_event else "LOG_MESSAGE (context.log / IO manager)"
        counts[kind] = counts.get(kind, 0) + 1
    return counts


# Functions of ours (or that we call) whose cumulative time explains a task op's cost.
_PROFILE_ROWS = [
    ("our op compute fns (50 tasks + kestra_end)", "compiler/ops.py", "compute"),
    ("  _incoming: copy / merge of ExecutionState", "compiler/ops.py", "_incoming"),
    ("    ExecutionState.merged (kestra_end fan-in)", "engine/execution.py", "merged"),
    ("  make_services (storage, KV, logger)", "compiler/ops.py", "make_services"),
    ("  Runner.run_task", "engine/runner.py", "run_task"),
    ("    Runner._attempt", "engine/runner.py", "_attempt"),
    ("      Runner.variables", "engine/runner.py", "variables"),
    ("      Runner._working_dir (mkdtemp)", "engine/runner.py", "_working_dir"),
    ("      _remove_tree (rmtree)", "engine/runner.py", "_remove_tree"),
    ("      Thread.start (one thread per attempt)", "threading.py", "start"),
    ("      Runner._wait (join; the task body runs there)", "engine/runner.py", "_wait"),
    ("  _json_preview (metadata JSON)", "compiler/ops.py", "_json_preview"),
    ("  instance.add_run_tags (kestra_end)", "instance/methods/run_methods.py", "add_run_tags"),
    ("copy.deepcopy (anywhere in the main thread)", "copy.py", "deepcopy"),
    ("pickle.dump (IO manager writes)", "~", "<built-in method _pickle.dump>"),
    ("pickle.load (IO manager reads)", "~", "<built-in method _pickle.load>"),
    ("event log writes (store_event, main thread)", "event_log/sqlite", "store_event"),
]


def _cumulative(stats: pstats.Stats, path_part: str, func: str) -> tuple[float, int]:
    total, calls = 0.0, 0
    for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if name == func and path_part in filename.replace("\\", "/"):
            total += ct
            calls += nc
    return total, calls


def profile_runs(run_compiled, run_hand) -> dict:
    out: dict = {}
    for label, fn in (("compiled", run_compiled), ("hand", run_hand)):
        prof = cProfile.Profile()
        started = time.perf_counter()
        prof.enable()
        fn()
        prof.disable()
        wall = time.perf_counter() - started
        stats = pstats.Stats(prof)
        rows = {title: _cumulative(stats, path, func) for title, path, func in _PROFILE_ROWS}
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(15)
        out[label] = {"wall_s": wall, "rows": rows, "top_tottime": buf.getvalue()}
    return out


# ============================================================================ (b) load time


def flow_yaml(i: int, n_tasks: int = 10) -> str:
    lines = [
        f"id: flow_{i:04d}",
        f"namespace: bench.team{i % 20:02d}",
        f"description: Generated flow {i} for the load benchmark.",
        "labels:",
        "  owner: bench",
        "inputs:",
        "  - id: name",
        "    type: STRING",
        "    defaults: world",
        "tasks:",
    ]
    for t in range(n_tasks):
        lines.append(f"  - id: step_{t:02d}")
        if t % 2:
            lines += ["    type: io.kestra.plugin.core.debug.Return",
                      f'    format: "{{{{ inputs.name }}}} {t} in {{{{ execution.id }}}}"']
        else:
            lines += ["    type: io.kestra.plugin.core.log.Log", f'    message: "step {t} of {{{{ flow.id }}}}"']
    return "\n".join(lines) + "\n"


def write_flows(directory: Path, count: int, n_tasks: int) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (directory / f"flow_{i:04d}.yaml").write_text(flow_yaml(i, n_tasks), encoding="utf-8")


_LOAD_PROFILE_ROWS = [
    ("build_repository (whole load, under cProfile)", "compiler/definitions.py", "build_repository"),
    ("  load_flow_file: YAML parse + pydantic model", "model/loader.py", "load_flow_file"),
    ("    load_yaml (libyaml + Python constructors)", "model/yaml_source.py", "load_yaml"),
    ("  KestraTranslator.plan_job", "compiler/translator.py", "plan_job"),
    ("  build_trigger_definitions", "compiler/definitions.py", "build_trigger_definitions"),
    ("  get_registry (plugin discovery)", "kestra_dagster/registry.py", "get_registry"),
]


def load_worker(directory: str, profile: bool = False) -> None:
    """One load in a fresh process; prints a JSON line."""
    t0 = time.perf_counter()
    from dagster._core.remote_representation.external_data import RepositorySnap

    from kestra_dagster.compiler.definitions import build_repository
    from kestra_dagster.model.loader import iter_flow_files, load_flow_file

    import_s = time.perf_counter() - t0
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    prof = cProfile.Profile() if profile else None
    t0 = time.perf_counter()
    if prof:
        prof.enable()
    repo = build_repository([directory])
    if prof:
        prof.disable()
    load_s = time.perf_counter() - t0
    names = [n for n in repo.job_names if not n.startswith("__")]
    t0 = time.perf_counter()
    repo.get_job(names[len(names) // 2])
    one_job_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jobs = repo.get_all_jobs()
    all_jobs_s = time.perf_counter() - t0
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    for file in iter_flow_files([directory]):
        load_flow_file(file)
    parse_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    RepositorySnap.from_def(repo, defer_snapshots=True)
    snap_deferred_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    RepositorySnap.from_def(repo)
    snap_s = time.perf_counter() - t0
    print(json.dumps({
        "import_s": import_s, "load_s": load_s, "one_job_s": one_job_s, "all_jobs_s": all_jobs_s,
        "parse_s": parse_s, "snap_s": snap_s, "snap_deferred_s": snap_deferred_s,
        "rss_delta_mb": (rss_after - rss_before) / 1024, "rss_peak_mb": rss_after / 1024,
        "jobs": len(names), "invalid": sum(n.startswith("invalid__") for n in names),
        "nodes": sum(len(j.nodes) for j in jobs),
        "rss_now_mb": _current_rss_mb(),
        **({"profile": {t: _cumulative(pstats.Stats(prof), p, f) for t, p, f in _LOAD_PROFILE_ROWS}} if prof else {}),
    }))


def _current_rss_mb() -> float:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        return float("nan")


def _run_worker(directory: Path, *extra: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--load-worker", str(directory), *extra], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"load worker failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_load(count: int, n_tasks: int, reps: int, profile: str, workdir: Path) -> dict:
    directory = workdir / "flows"
    write_flows(directory, count, n_tasks)
    samples = []
    for i in range(reps):
        sample = _run_worker(directory)
        samples.append(sample)
        _say(f"  load {i + 1}/{reps}: {sample['load_s']:.2f} s ({sample['jobs']} jobs, "
              f"{sample['invalid']} invalid), all jobs {sample['all_jobs_s']:.2f} s, "
              f"snapshot {sample['snap_deferred_s']:.2f} s, "
              f"+{sample['rss_delta_mb']:.0f} MB peak RSS")
    if any(s["invalid"] or s["jobs"] != count for s in samples):
        raise SystemExit(f"expected {count} valid jobs, got {samples[0]['jobs']} ({samples[0]['invalid']} invalid)")

    def med(key: str) -> float:
        return statistics.median(s[key] for s in samples)

    result = {"flows": count, "tasks": n_tasks, "reps": reps, "samples": samples, "nodes": samples[0]["nodes"],
              **{k: med(k) for k in ("import_s", "load_s", "one_job_s", "all_jobs_s", "parse_s", "snap_s",
                                           "snap_deferred_s", "rss_delta_mb", "rss_peak_mb")}}
    if profile == "always" or (profile == "auto" and result["load_s"] > LOAD_TARGET_S):
        _say("  profiling one more load (cProfile)")
        result["profile"] = _run_worker(directory, "--profile-load")["profile"]
    return result


# ============================================================================ report


def _verdict(ok: bool) -> str:
    return "OK" if ok else "ABOVE TARGET"


def print_report(run: dict | None, load: dict | None) -> None:
    print()
    print("=" * 78)
    print(f"{'measure':<46}{'value':>14}  {'target':<16}")
    print("-" * 78)
    if run:
        print(f"{'(a) compiled %d-task flow, median of %d' % (run['tasks'], run['runs']):<46}"
              f"{run['compiled_median_s']:>12.2f} s")
        print(f"{'(a) hand-written %d-op job, median of %d' % (run['tasks'], run['runs']):<46}"
              f"{run['hand_median_s']:>12.2f} s")
        print(f"{'(a) ratio compiled / hand-written':<46}{run['ratio']:>14.2f}  "
              f"<= {RATIO_TARGET:<8} {_verdict(run['ratio'] <= RATIO_TARGET)}")
        cpu_c, cpu_h = statistics.median(run["compiled_cpu_s"]), statistics.median(run["hand_cpu_s"])
        print(f"{'    CPU time (info): compiled / hand-written':<46}{cpu_c:>6.2f} / {cpu_h:.2f} s, "
              f"ratio {run['cpu_ratio']:.2f}")
        print(f"{'    nodes: compiled / hand-written':<46}{run['compiled_nodes']:>7} / {run['hand_nodes']:<4}")
        print(f"{'    events per run: compiled / hand-written':<46}{run['compiled_events']:>7} / {run['hand_events']:<4}")
        ct, ht = run["compiled_event_types"], run["hand_event_types"]
        for kind in sorted(set(ct) | set(ht)):
            if ct.get(kind, 0) != ht.get(kind, 0):
                print(f"{'      ' + kind[:40]:<46}{ct.get(kind, 0):>7} / {ht.get(kind, 0):<4}")
        per_c = run["compiled_median_s"] / run["tasks"] * 1000
        per_h = run["hand_median_s"] / run["tasks"] * 1000
        print(f"{'    per task: compiled / hand-written':<46}{per_c:>6.0f} / {per_h:.0f} ms")
    if load:
        print(f"{'(b) load %d flows x %d tasks, median of %d' % (load['flows'], load['tasks'], load['reps']):<46}"
              f"{load['load_s']:>12.2f} s  <= {LOAD_TARGET_S:<8} {_verdict(load['load_s'] <= LOAD_TARGET_S)}")
        print(f"{'    of which parse + validate (warm, info)':<46}{load['parse_s']:>12.2f} s")
        print(f"{'    then one job by name (a run worker, info)':<46}{load['one_job_s']:>12.3f} s")
        print(f"{'    then every job built (info)':<46}{load['all_jobs_s']:>12.2f} s")
        print(f"{'    RepositorySnap.from_def, deferred (info)':<46}{load['snap_deferred_s']:>12.2f} s")
        print(f"{'    RepositorySnap.from_def, full, then (info)':<46}{load['snap_s']:>12.2f} s")
        print(f"{'    imports before the load (info)':<46}{load['import_s']:>12.2f} s")
        print(f"{'    peak RSS delta of the load':<46}{load['rss_delta_mb']:>11.0f} MB  (peak {load['rss_peak_mb']:.0f} MB)")
        print(f"{'    Dagster nodes in the repository':<46}{load['nodes']:>14}")
    print("=" * 78)
    if run and "profile" in run:
        print_profile(run["profile"])
    if load and "profile" in load:
        print()
        print("Load profile (one fresh process under cProfile, which roughly doubles Python-heavy code):")
        print(f"{'cumulative time in':<56}{'seconds':>10}{'calls':>9}")
        for title, (ct, calls) in load["profile"].items():
            print(f"{title:<56}{ct:>10.2f}{calls:>9}")


def print_profile(prof: dict) -> None:
    c, h = prof["compiled"], prof["hand"]
    print()
    print(f"Profile of one run under cProfile (inflates Python-heavy code): compiled {c['wall_s']:.2f} s, "
          f"hand-written {h['wall_s']:.2f} s")
    print("(cProfile sees the main thread only: a task body, run in its own thread, counts inside Runner._wait)")
    print(f"{'cumulative time in':<52}{'compiled':>12}{'calls':>8}{'hand':>10}")
    for title, _path, _func in _PROFILE_ROWS:
        ct, calls = c["rows"][title]
        ht, _ = h["rows"][title]
        print(f"{title:<52}{ct:>10.3f} s{calls:>8}{ht:>8.3f} s")
    print()
    print("Compiled run, top functions by own time:")
    print("\n".join(c["top_tottime"].splitlines()[:40]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 runs instead of 5")
    parser.add_argument("--runs", type=int, help="runs per job for (a) (default 5, 3 with --quick)")
    parser.add_argument("--tasks", type=int, default=50, help="tasks in the (a) chain")
    parser.add_argument("--kind", choices=("log", "return"), default="log", help="task type of the (a) chain")
    parser.add_argument("--flows", type=int, default=1000, help="flows for (b)")
    parser.add_argument("--load-reps", type=int, default=3)
    parser.add_argument("--profile", choices=("auto", "always", "never"), default="auto")
    parser.add_argument("--only", choices=("run", "load"), help="run one part only")
    parser.add_argument("--json", metavar="FILE", help="also write the raw figures as JSON")
    parser.add_argument("--load-worker", metavar="DIR", help=argparse.SUPPRESS)
    parser.add_argument("--profile-load", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_worker:
        load_worker(args.load_worker, profile=args.profile_load)
        return 0
    runs = args.runs or (3 if args.quick else 5)
    _say(f"load average at the start: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="kestra-bench-") as tmp:
        work = Path(tmp)
        run = load = None
        if args.only in (None, "run"):
            _say(f"(a) {args.tasks}-task chain: compiled flow vs hand-written job, execute_job + in_process, "
                  f"{runs} interleaved runs each")
            (work / "a").mkdir()
            run = bench_runs(runs, args.tasks, args.kind, args.profile, work / "a")
        if args.only in (None, "load"):
            _say(f"(b) loading {args.flows} flows x 10 tasks into Definitions, {args.load_reps} fresh processes")
            load = bench_load(args.flows, 10, args.load_reps, args.profile, work / "b")
    print_report(run, load)
    print(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())} on "
          f"{os.cpu_count()} CPUs; other work on the machine slows both sides, the (a) ratio less than (b)")
    if args.json:
        Path(args.json).write_text(json.dumps({"run": run, "load": load}, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
