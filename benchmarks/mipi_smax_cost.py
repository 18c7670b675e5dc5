"""What a random team per episode costs: MIPI's training steps/s on SMAX SZ with dynamic teams
against the same spec at a fixed team size, measured in ONE process, interleaved.

    python benchmarks/mipi_smax_cost.py        # writes results/mipi_smax_cost.{json,md}

Configurations (specs/mipi_smax_sz.yaml, one seed, everything else equal):
- `fixed 5 in 5 slots`: allies [5, 5] (5 against 5 every episode), the slot-independent heads
  (`algorithm.attack_head: entity`, the spec's default);
- `3-5 in 5 slots`: allies [3, 5] in the same slot count, the spec's training setting since the
  networks are slot-independent (held-out 6v6-8v8 are evaluated in their own slot counts): the
  cost of the dynamic-team machinery (drawing the team, masks, absent units). The issue's bound
  is this row at most 1.5x the fixed team;
- `3-5 in 8 slots, padded heads`: for reference, the setting before slot-independent heads
  (REFIL's and MIPI's action space padded to the largest evaluation team, `attack_head: slots`),
  which had to train in 8 slots to evaluate 8v8.
Each is compiled first (compile time excluded), its replay filled until learning starts, then
`ROUNDS` rounds time one chunk of `UPDATES` updates of every configuration in turn; the table
gives the median seconds per update and env steps/s, and the ratios to the fixed team.
"""

from __future__ import annotations

import functools
import statistics
import sys
import time
from pathlib import Path

import equinox as eqx
import jax

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import write  # noqa: E402
from marlspec.compile import compile as compile_spec  # noqa: E402
from marlspec.spec import load_spec  # noqa: E402
from marlspec.train.runner import compile_ahead, init_states  # noqa: E402

SPEC = ROOT / "specs" / "mipi_smax_sz.yaml"
CONFIGS = {
    "fixed 5 in 5 slots": ["env.allies=[5, 5]", "env.slots=5"],
    "3-5 in 5 slots": ["env.allies=[3, 5]", "env.slots=5"],
    "3-5 in 8 slots, padded heads": ["env.allies=[3, 5]", "env.slots=8", "algorithm.attack_head=slots"],
}
UPDATES, ROUNDS, FILL = 4, 3, 3


def main() -> None:
    runs = {}
    for name, over in CONFIGS.items():
        spec = load_spec(SPEC, overrides=[*over, "train.seeds=[0]", "eval.compositions={}"])
        experiment = compile_spec(spec)
        rs = init_states(experiment, [0])
        chunk, compile_s = compile_ahead(
            eqx.filter_vmap(functools.partial(experiment.train_chunk, num_updates=UPDATES)), rs, donate=False)
        for _ in range(FILL):  # fill the replay until it samples (timed chunks then all learn)
            rs, metrics = chunk(rs)
        assert float(metrics["learning"][0, 0]) == 1.0, "the replay must be sampling before timing"
        runs[name] = {"chunk": chunk, "state": rs, "compile_s": compile_s, "times": [],
                      "steps": experiment.steps_per_update}
        print(name, "compiled", round(compile_s), "s", flush=True)
    for _ in range(ROUNDS):
        for r in runs.values():
            t0 = time.perf_counter()
            jax.block_until_ready(r["chunk"](r["state"]))
            r["times"].append((time.perf_counter() - t0) / UPDATES)
    base = statistics.median(runs["fixed 5 in 5 slots"]["times"])
    rows, data = [], {}
    for name, r in runs.items():
        med = statistics.median(r["times"])
        data[name] = {"seconds_per_update": r["times"], "compile_seconds": r["compile_s"], "steps_per_update": r["steps"]}
        rows.append({"configuration": name, "s / update": med, "env steps/s": r["steps"] / med,
                     "slower than fixed": f"{med / base:.2f}x", "compile s": r["compile_s"]})
    write("mipi_smax_cost", {"configs": CONFIGS, "rounds": ROUNDS, "updates_per_chunk": UPDATES, "runs": data}, rows,
          NOTES)


NOTES = """One seed of specs/mipi_smax_sz.yaml (MIPI: 4 environments x 100 steps per update, 4 gradient
steps of 32 episodes, 4 Blahut-Arimoto iterations, REFIL's imagined loss), compiled ahead, the
replay filled until it samples, then three interleaved rounds of four updates per configuration in
one process; medians. The machine is shared (niced), so compare the ratios, not the absolute steps/s.
The first two rows use the slot-independent heads (attacks scored against the enemy rows), with
which the spec trains in 5 slots and evaluates 6v6, 7v7 and 8v8 in their own slot counts; the
last row is the earlier setting (padded heads, training in 8 slots so that 8v8 fits) for reference.
Regenerate: `nice -n 10 python benchmarks/mipi_smax_cost.py`.
"""


if __name__ == "__main__":
    main()
