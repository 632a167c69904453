"""Detection delay and queries per task: the adaptive tracker, Omni callbacks, fixed pollers.

`python -m bench.detection [--tasks 100] [--slots 5] [--scale 0.005] [--workload lognormal]`
`python -m bench.detection --workload uniform --tasks 20` (issue #17's workload)

One seeded workload (the same tasks with the same durations, keyed by external id) runs four
times against a fresh fake: through the engine polling alone (its tracker polls on the adaptive
schedule and learns completion windows from finished tasks), through the engine with Omni
callbacks (the fake posts each status change to the engine's callback route; polling is the
safety net), and through naive pollers that ask about every live task every 5 and every 10 model
seconds. Per task, from the fake's records:

- delay = fake's terminal_at -> the poller notices (engine: its SUCCEEDED/FAILED event in the
  store; naive: the query answer), in model seconds;
- schedule delay = terminal_at -> the query that saw the end reached the fake: the schedule
  alone, without the engine's own work after the answer;
- queries per task = queries the fake answered about the task;
- delay_wall_ms = the same delay on the wall clock. A callback's delay is real time (the post,
  the query, the write), which compressing the clock does not shrink: for the callback run this
  is the figure that holds at real speed, while its model-second delay is inflated by 1/scale.

Targets: the tracker beats the 10 s poller on mean delay and the 5 s poller on queries per task
(issue #4 part 8); polling alone beats the 5 s poller on p50, p90 and queries per task, and
callbacks notice an end within p50 0.5 s and p90 1 s with at most 4 queries per task (issue
#17). The learning effect is the first `--learning-split` tasks against the rest.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from bench.common import (
    Report,
    Target,
    base_parser,
    log,
    mean,
    percentile,
    setup_logging,
    summary,
)
from bench.workload import (
    UNIFORM_DURATIONS,
    WORKLOAD_DURATIONS,
    Run,
    TaskRun,
    TaskSpec,
    bench_request,
    draw_uniform_workload,
    draw_workload,
    run_engine,
    run_naive,
)
from bot.domain.polling import CompletionModel, PollPolicy, next_poll_delay, prior_window

NAIVE_INTERVALS_S = (5.0, 10.0)


def simulate_schedule(
    specs: list[TaskSpec], *, split: int, learn: bool, policy: PollPolicy | None = None
) -> dict[str, Any]:
    """Replay the tracker's pure schedule (polling.py) on the workload, one task after another,
    with no I/O: the delay and queries the schedule alone gives, with or without learning.

    `policy` (default: the engine's) lets a new setting be tried without running anything.
    """
    policy = policy or PollPolicy()  # in model seconds: no clock, so no scale
    model = CompletionModel(policy)
    request = bench_request()
    key = (request.model, request.mode, request.duration_s)  # as tracker.completion_key
    delays: list[float] = []
    queries: list[float] = []
    for spec in specs:
        age_s, count = 0.0, 0
        while age_s < spec.duration_s:
            if learn:
                window = model.window(key, request.mode, request.duration_s)
            else:
                window = prior_window(request.mode, request.duration_s)
            age_s += next_poll_delay(age_s, window, policy)
            count += 1
        delays.append(age_s - spec.duration_s)
        queries.append(float(count))
        if learn:
            model.observe(key, age_s)  # the tracker learns the age at which it saw the end
    return {
        "mean_delay_model_s": _mean(delays),
        "mean_queries": _mean(queries),
        f"first_{split}_mean_delay_model_s": _mean(delays[:split]),
        "rest_mean_delay_model_s": _mean(delays[split:]),
    }


def _mean(values: list[float]) -> float:
    return round(mean(values), 3)


def _delays(tasks: list[TaskRun], scale: float) -> list[float]:
    return [(t.noticed_at - t.terminal_at) / scale for t in tasks]


def detection_figures(run: Run, *, split: int) -> dict[str, Any]:
    """Delays and queries of one run, overall, by duration band and first-`split` vs the rest."""
    tasks, scale = run.tasks, run.scale
    durations = [t.spec.duration_s for t in tasks]
    short, long = percentile(durations, 10), percentile(durations, 90)
    bands = {
        f"shortest_10pct_under_{short:.0f}s": [t for t in tasks if t.spec.duration_s < short],
        "middle_80pct": [t for t in tasks if short <= t.spec.duration_s <= long],
        f"longest_10pct_over_{long:.0f}s": [t for t in tasks if t.spec.duration_s > long],
    }
    first, rest = tasks[:split], tasks[split:]
    return {
        "delay_model_s": summary(_delays(tasks, scale), digits=2),
        "schedule_delay_model_s": summary(
            [(t.seen_ended_at - t.terminal_at) / scale for t in tasks], digits=2
        ),
        "answer_to_notice_wall_ms": summary(
            [(t.noticed_at - t.seen_ended_at) * 1000 for t in tasks], digits=2
        ),
        "delay_wall_ms": summary([(t.noticed_at - t.terminal_at) * 1000 for t in tasks], digits=1),
        "queries_per_task": summary([float(t.queries) for t in tasks], digits=2),
        "queries_total_at_fake": sum(t.queries for t in tasks),
        "queries_sent_by_poller": run.queries_sent,
        "mean_delay_model_s_by_duration": {
            name: _mean(_delays(members, scale)) for name, members in bands.items()
        },
        "learning": {
            f"first_{len(first)}": {
                "mean_delay_model_s": _mean(_delays(first, scale)),
                "mean_queries": _mean([float(t.queries) for t in first]),
            },
            f"rest_{len(rest)}": {
                "mean_delay_model_s": _mean(_delays(rest, scale)),
                "mean_queries": _mean([float(t.queries) for t in rest]),
            },
        },
        "wall_s": round(run.wall_s, 2),
    }


async def measure(
    tasks: int, slots: int, scale: float, seed: int, split: int, workload: str = "lognormal"
) -> Report:
    """Run the workload through the engine (polling, then callbacks) and each naive poller."""
    report = Report(
        "detection",
        {
            "tasks": tasks,
            "slots": slots,
            "scale": scale,
            "seed": seed,
            "learning_split": split,
            "workload": workload,
            "durations": UNIFORM_DURATIONS if workload == "uniform" else WORKLOAD_DURATIONS,
            "naive_intervals_model_s": list(NAIVE_INTERVALS_S),
        },
    )
    specs = (
        draw_uniform_workload(tasks, seed) if workload == "uniform" else draw_workload(tasks, seed)
    )
    log.info("detection: engine, %d tasks, %d slots, scale %g", tasks, slots, scale)
    runs = {"engine": await run_engine(specs, slots=slots, scale=scale, seed=seed)}
    log.info("detection: engine with callbacks")
    runs["engine_callbacks"] = await run_engine(
        specs, slots=slots, scale=scale, seed=seed, callbacks=True
    )
    for interval_s in NAIVE_INTERVALS_S:
        log.info("detection: naive %gs poller", interval_s)
        runs[f"naive_{interval_s:g}s"] = await run_naive(
            specs, slots=slots, scale=scale, interval_s=interval_s, seed=seed
        )
    figures = {name: detection_figures(run, split=split) for name, run in runs.items()}
    report.figures = {
        **figures,
        "schedule_replay_without_io": {
            "learning": simulate_schedule(specs, split=split, learn=True),
            "prior_only": simulate_schedule(specs, split=split, learn=False),
        },
    }
    engine, naive_5s, naive_10s = figures["engine"], figures["naive_5s"], figures["naive_10s"]
    callbacks = figures["engine_callbacks"]
    callback_targets = [
        Target(
            "callbacks: p50 completion to noticed (wall)",
            callbacks["delay_wall_ms"]["p50"],
            "<",
            500.0,
            "ms",
        ),
        Target(
            "callbacks: p90 completion to noticed (wall)",
            callbacks["delay_wall_ms"]["p90"],
            "<",
            1000.0,
            "ms",
        ),
    ]
    if workload == "uniform":  # what issue #17 asks, on the workload it measured
        callback_targets.append(
            Target(
                "callbacks: queries per task, at most",
                callbacks["queries_per_task"]["max"],
                "<=",
                4.0,
                "",
            )
        )
        callback_targets += [
            Target(
                f"polling alone: {what} below the 5 s poller's",
                engine[key][stat],
                "<",
                naive_5s[key][stat],
                unit,
            )
            for what, key, stat, unit in (
                ("p50 delay", "delay_model_s", "p50", "model s"),
                ("p90 delay", "delay_model_s", "p90", "model s"),
                ("mean queries per task", "queries_per_task", "mean", ""),
            )
        ]
    report.targets = [
        *callback_targets,
        Target(
            "engine mean delay below the 10 s poller's",
            engine["delay_model_s"]["mean"],
            "<",
            naive_10s["delay_model_s"]["mean"],
            "model s",
        ),
        Target(
            "engine queries per task below the 5 s poller's",
            engine["queries_per_task"]["mean"],
            "<",
            naive_5s["queries_per_task"]["mean"],
            "",
        ),
    ]
    report.notes = [
        "learning compares the first tasks of the workload with the rest; the naive pollers do "
        "not learn, so their own split shows how much of a difference is just the task mix. "
        "schedule_replay_without_io runs polling.py's pure schedule on the same tasks with and "
        "without learning.",
        "delays are model seconds (wall / scale); answer_to_notice is wall milliseconds, and "
        "each wall millisecond there adds 1/scale milliseconds to the model delay: a compression "
        "artefact that production (scale 1) does not pay. For engine_callbacks nearly all of the "
        "delay is such wall time (the callback's post, the query, the write), so its real-speed "
        "figure is delay_wall_ms, not delay_model_s.",
    ]
    return report


def main(argv: list[str] | None = None) -> int:
    """Entry point: print the JSON report."""
    parser = base_parser(__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--slots", type=int, default=5)
    parser.add_argument("--scale", type=float, default=0.005, help="wall seconds per model second")
    parser.add_argument("--learning-split", type=int, default=20)
    parser.add_argument(
        "--workload",
        choices=("lognormal", "uniform"),
        default="lognormal",
        help=f"lognormal: {WORKLOAD_DURATIONS}; uniform: {UNIFORM_DURATIONS}",
    )
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    report = asyncio.run(
        measure(args.tasks, args.slots, args.scale, args.seed, args.learning_split, args.workload)
    )
    report.emit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
