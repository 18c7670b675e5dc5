"""MAGPO's CoordSum table on this machine: MAGPO, CTDS, MAPPO, HAPPO and MAT, 5 seeds each.

    python benchmarks/coordsum_table.py run --task 5x20-80                 # the five algorithms
    python benchmarks/coordsum_table.py run --task 5x20-80 --algorithms magpo \\
        --tag delta1.1 --set algorithm.delta=1.1                           # an ablation arm
    python benchmarks/coordsum_table.py report       # results/coordsum.{json,md,png}, coordsum_poi.md, coordsum_report/

Every configuration is one run of the one runner (`marlspec.train.runner.run`), all seeds
vmapped inside one compiled program, from specs/coordsum/magpo_<task>.yaml with the
`algorithm` section changed per algorithm (shared PPO hyper-parameters, the same GRU
network for every decentralized actor, the same autoregressive joint-policy network for
MAGPO's guider, CTDS's teacher and MAT). Run directories go to results/coordsum_runs/
(metrics.jsonl + summary.json, and a final checkpoint that git ignores, for `diagnose`); `report` reads whatever is there, so
configurations can be trained one at a time.

Reported per configuration: the final evaluation (32 sampled episodes per seed) of the
execution policy and, for MAGPO/CTDS, of the behaviour policy (guider / teacher), as the
interquartile mean over seeds with a 95% stratified-bootstrap CI and the mean, and learning
curves of both (IQM with CI bands), so the imitation gap is visible; across the four tasks, the
five algorithms' normalised IQM/median/mean/optimality gap and their probability-of-improvement
matrix. All statistics come from `marlspec report`'s code (`marlspec.io.report`, on rliable);
the full report is written to results/coordsum_report/. The uniform-random return of each task
is measured on 320 episodes.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import RESULTS, write  # noqa: E402

RUNS = RESULTS / "coordsum_runs"
ALGORITHMS = ("magpo", "ctds", "mappo", "happo", "mat")
GUIDED = ("magpo", "ctds")
PAPER_20M = {  # MAGPO Table 1 (final returns at 20 M steps; MAGPO / CTDS / HAPPO / MAPPO / MAT)
    "3x10-30": {"magpo": 153.1, "ctds": 112.0, "happo": 153.3, "mappo": 156.4, "mat": 68.3},
    "3x30-50": {"magpo": 156.6, "ctds": 76.3, "happo": 129.4, "mappo": 158.1, "mat": 87.8},
    "5x20-80": {"magpo": 157.6, "ctds": 19.6, "happo": 119.2, "mappo": 142.5, "mat": 86.9},
    "8x15-100": {"magpo": 129.9, "ctds": 24.0, "happo": 77.6, "mappo": 127.3, "mat": 57.2},
}


def spec_text(task: str, algorithm: str, steps: int, seeds: list[int], overrides: list[str]) -> tuple[str, list[str]]:
    """The YAML of one configuration (from the task's MAGPO spec) and its `--set` overrides."""
    base = yaml.safe_load((ROOT / "specs" / "coordsum" / f"magpo_{task}.yaml").read_text())
    algo = dict(base["algorithm"])
    algo["kind"] = algorithm
    drop = {"magpo": (), "ctds": ("delta", "rl_coef"), "mat": ("delta", "rl_coef"),
            "mappo": ("delta", "rl_coef", "joint_policy"), "happo": ("delta", "rl_coef", "joint_policy")}[algorithm]
    for key in drop:
        algo.pop(key, None)
    base["algorithm"] = algo
    base["name"] = f"{algorithm}_coordsum_{task}"
    base["train"]["total_env_steps"] = steps
    base["train"]["seeds"] = seeds
    base["log"] = {"progress": False, "checkpoint": True, "plot": False}  # checkpoints stay out of git
    return yaml.safe_dump(base, sort_keys=False), overrides


def run(args: argparse.Namespace) -> None:
    import marlspec.train.runner as runner
    from marlspec.spec import parse_spec

    runner.enable_compilation_cache()
    for algorithm in args.algorithms:
        tag = args.tag or algorithm
        out = RUNS / args.task / tag
        if (out / "summary.json").exists() and not args.force:
            print(f"skip {args.task}/{tag}: done ({out})")
            continue
        text, overrides = spec_text(args.task, algorithm, args.steps, args.seeds, args.set)
        spec = parse_spec(text, f"<coordsum {args.task} {tag}>", overrides)
        if out.exists():
            import shutil

            shutil.rmtree(out)
        t0 = time.time()
        runner.run(spec, out, progress=False)
        summary = json.loads((out / "summary.json").read_text())
        summary["tag"], summary["overrides"] = tag, overrides
        (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        print(f"{args.task}/{tag}: final {summary['final_return']:.1f} in {time.time() - t0:.0f}s "
              f"({summary['sps']:,.0f} steps/s over {len(args.seeds)} seeds)", flush=True)


SCRIPTED = ("random", "deterministic", "teacher", "student")
"""Hand-written reference policies (see `scripted_actions`)."""


def scripted_actions(policy: str, key: Any, target: Any, agents: int, actions: int) -> Any:
    """One joint action of a hand-written CoordSum policy, which reads the target directly.

    - `deterministic`: agent 0 plays min(target, A-1) and the others fill the rest greedily in
      index order. A factorizable policy that always hits a reachable target, but agent 0 is
      predictable, so the guesser matches it whenever the target's record repeats.
    - `teacher`: agent 0 plays uniformly among the actions that leave the rest reachable, and
      the others fill the remainder given agent 0's action. The kind of CTCE policy of MAGPO
      section 3 (C): optimal-looking and not decentralizable.
    - `student`: every agent samples independently from its marginal under `teacher`, which is
      what distilling that teacher into independent policies gives at best (section 3 (C)).
    """
    import jax
    import jax.numpy as jnp

    top = actions - 1
    lo, hi = jnp.clip(target - (agents - 1) * top, 0, top), jnp.clip(target, 0, top)

    def fill(first: Any) -> Any:
        out, rest = [first], target - first
        for _ in range(1, agents):
            out.append(jnp.clip(rest, 0, top))
            rest = rest - out[-1]
        return jnp.stack(out)

    if policy == "deterministic":
        return fill(hi)
    firsts = jax.random.randint(key, (agents,), lo, hi + 1)  # one independent draw per agent
    if policy == "teacher":
        return fill(firsts[0])
    if policy == "student":
        return jnp.stack([fill(firsts[i])[i] for i in range(agents)])
    raise ValueError(f"unknown scripted policy {policy!r}; choose from {SCRIPTED}")


def scripted_return(task: str, policy: str = "random", reference_quirk: bool = False, episodes: int = 320) -> float:
    """Mean episode return of `random` (uniform actions) or a `scripted_actions` policy on a
    CoordSum task over `episodes` seeded episodes, under the paper's guesser (one record per
    target) or the reference implementation's (`reference_quirk`)."""
    import jax
    import jax.numpy as jnp

    from marlspec.compile import make_env
    from marlspec.envs.base import random_actions
    from marlspec.spec.envs import COORDSUM_TASKS, CoordSumSpec

    agents, actions, max_target = COORDSUM_TASKS[task]
    env = make_env(CoordSumSpec(task=task, reference_quirk=reference_quirk))

    def episode(key: jax.Array) -> jax.Array:
        k0, k1 = jax.random.split(key)
        state, ts = env.reset(k0)

        def step(c: Any, k: jax.Array) -> tuple[Any, jax.Array]:
            s, t = c
            ka, ke = jax.random.split(k)
            if policy == "random":
                joint = random_actions(ka, env.info, t.avail_actions)
            else:
                joint = scripted_actions(policy, ka, jnp.argmax(t.state[:max_target]), agents, actions)
            s, t = env.step(ke, s, joint)
            return (s, t), t.reward

        return jax.lax.scan(step, (state, ts), jax.random.split(k1, env.info.max_steps))[1].sum()

    return float(jnp.mean(jax.jit(jax.vmap(episode))(jax.random.split(jax.random.PRNGKey(0), episodes))))


def random_return(task: str, episodes: int = 320) -> float:
    return scripted_return(task, "random", episodes=episodes)


def scripted_markdown(tasks: list[str]) -> str:
    """The scripted policies' returns per task, under both guesser rules, as a markdown table."""
    lines = ["| task | " + " | ".join(SCRIPTED) + " |", "|---|" + "---|" * len(SCRIPTED)]
    for task in tasks:
        cells = [f"{scripted_return(task, p):.1f} / {scripted_return(task, p, True):.1f}" for p in SCRIPTED]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(args: argparse.Namespace) -> None:
    """The table, curves and cross-task statistics from the recorded run directories, all
    computed by `marlspec report` (`marlspec.io.report`): per configuration the IQM over seeds
    with a stratified-bootstrap 95% CI (rliable) beside the mean; across the four tasks, for the
    five algorithms' default runs, IQM/median/mean/optimality gap of the score normalised between
    the uniform-random return (0) and the perfect 200 (1), and the probability-of-improvement
    matrix. The full report lands in results/coordsum_report/."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from marlspec.io import report as R

    runs, skipped = R.load_runs([RUNS])
    tasks = sorted({r.task for r in runs})
    randoms = {task: random_return(task) for task in tasks}
    bounds = {f"coordsum/{task}": (randoms[task], 200.0) for task in tasks}
    full = R.write_runs(runs, RESULTS / "coordsum_report", bounds, reps=args.reps, seed=0, skipped=skipped,
                        aggregate_labels=ALGORITHMS)
    results: dict[str, Any] = {}
    rows = []
    for task in tasks:
        tab = full["tasks"][f"coordsum/{task}"]
        rnd = randoms[task]
        results[task] = {"uniform_random_return": rnd, "configs": {}}
        for tag, entry in tab["algorithms"].items():
            summ = json.loads((RUNS / task / tag / "summary.json").read_text())
            results[task]["configs"][tag] = {
                "algorithm": summ["algorithm"], "overrides": summ.get("overrides", []), "seeds": entry["seeds"],
                "env_steps_per_seed": summ["env_steps_per_seed"], "sps": summ["sps"],
                "train_seconds": summ["train_seconds"], "compile_seconds": summ["compile_seconds"],
                **{policy: entry[policy]["final_return"] for policy in R.POLICIES if policy in entry},
            }
            paper = PAPER_20M.get(task, {}).get(tag)
            ex, be = entry["execution"]["final_return"], entry.get("behaviour", {}).get("final_return")
            rows.append({"task": task, "config": tag, "steps/seed": summ["env_steps_per_seed"], "seeds": len(entry["seeds"]),
                         "execution IQM [95% CI]": _ci(ex), "execution mean": f"{ex['mean']:.1f}",
                         "behaviour IQM [95% CI]": _ci(be) if be else "= execution" if summ["algorithm"] == "mat" else "",
                         "behaviour mean": f"{be['mean']:.1f}" if be else "",
                         "paper @20M": "" if paper is None else paper})
        algorithms, variants, arms = figure_groups(dict.fromkeys(tab["algorithms"]))
        _plot_curves(plt, tab["curves"], list(algorithms), rnd, f"CoordSum-{task}", RESULTS / f"coordsum_{task}.png")
        for variant, group in variants.items():
            _plot_curves(plt, tab["curves"], list(group), rnd, f"CoordSum-{task}, {variant}",
                         RESULTS / f"coordsum_{task}_{variant}.png")
        for variant, group in arms.items():
            bases = {results[task]["configs"][tag]["algorithm"] + (f"_{variant}" if variant else "") for tag in group}
            tags = [tag for tag in sorted(bases) if tag in tab["algorithms"]] + list(group)
            name = f"{variant}_ablations" if variant else "ablations"
            title = f"CoordSum-{task}, ablation arms" + (f" ({variant})" if variant else "")
            _plot_curves(plt, tab["curves"], tags, rnd, title, RESULTS / f"coordsum_{task}_{name}.png")
        rows.append({"task": task, "config": "uniform random", "steps/seed": 0, "seeds": "", "execution IQM [95% CI]": f"{rnd:.1f}",
                     "execution mean": "", "behaviour IQM [95% CI]": "", "behaviour mean": "", "paper @20M": ""})
    agg = full["aggregate"]
    aggregate_md = _aggregate_markdown(agg)
    (RESULTS / "coordsum_poi.md").write_text(
        "# CoordSum: probability of improvement across the four tasks\n\n"
        "Written by `python benchmarks/coordsum_table.py report` from the recorded runs in "
        "results/coordsum_runs/ (no retraining), with `marlspec.io.report` (rliable).\n\n" + aggregate_md + "\n")
    scripted = scripted_markdown(tasks)
    write("coordsum", {"results": results, "aggregate": agg, "scripted_markdown": scripted}, rows,
          NOTES + "\n\n## Across the four tasks\n\n" + aggregate_md + SCRIPTED_NOTES + scripted + READING)
    print((RESULTS / "coordsum.md").read_text())


def figure_groups(configs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Split a task's run directories into the figures that show them: the algorithms under
    the spec's settings (tag = algorithm), variants that change one setting for several
    algorithms (tag `<algorithm>_<variant>`, one figure per variant, e.g. `vf0.1`), and
    single-algorithm ablation arms (any other tag), keyed by the variant they were run under:
    `delta1.1_vf0.1` is arm `delta1.1` of variant `vf0.1`, drawn beside `magpo_vf0.1`; an arm
    with no known variant suffix is keyed "" and drawn beside its algorithm's default run."""
    algorithms: dict[str, Any] = {}
    variants: dict[str, dict[str, Any]] = {}
    rest = []
    for tag, run in configs.items():
        algorithm, _, variant = tag.partition("_")
        if tag in ALGORITHMS:
            algorithms[tag] = run
        elif algorithm in ALGORITHMS and variant:
            variants.setdefault(variant, {})[tag] = run
        else:
            rest.append(tag)
    arms: dict[str, dict[str, Any]] = {}
    for tag in rest:
        _, _, variant = tag.rpartition("_")
        arms.setdefault(variant if variant in variants else "", {})[tag] = configs[tag]
    return algorithms, variants, arms


def _aggregate_markdown(agg: dict[str, Any]) -> str:
    """The cross-task table and probability-of-improvement matrix of the five algorithms."""
    from marlspec.io import report as R

    lines = ["Final execution return of the five algorithms' default runs (tags = algorithm names), normalised per "
             "task as (return - uniform random) / (200 - uniform random), 200 being the perfect score; "
             f"{len(agg['tasks'])} tasks x 5 seeds, each task at its own budget (above). Stratified-bootstrap "
             "95% CIs (rliable; 2,000 samples, seed 0).", "",
             "| algorithm | IQM | median | mean | optimality gap |", "|---|---|---|---|---|"]
    for label, a in agg["algorithms"].items():
        lines.append(f"| {label} | " + " | ".join(R._ci(a[n], 3) for n in ("iqm", "median", "mean", "optimality_gap")) + " |")
    lines += ["", R.poi_markdown(agg), "",
              "Figures: results/coordsum_report/figures/ (probability_of_improvement.png, performance_profile.png, "
              "aggregate.png, sample_efficiency.png); every number: results/coordsum_report/report.json."]
    return "\n".join(lines)


def _plot_curves(plt: Any, curves: dict[str, Any], tags: list[str], rnd: float, title: str, path: Path,
                 behaviour_name: str = "guider/teacher", ylabel: str = "episode return (sampled actions)") -> None:
    """IQM curves over seeds with 95% stratified-bootstrap bands (from `marlspec.io.report.curves`):
    solid for the deployed policy, dashed for the guider/teacher."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, tag in enumerate(tags):
        for key, style in (("execution", "-"), ("behaviour", "--")):
            c = curves.get(key, {}).get(tag)
            if c is None:
                continue
            label = f"{tag} ({behaviour_name if key == 'behaviour' else 'deployed'})"
            ax.plot(c["steps"], c["iqm"], style, color=f"C{i % 10}", linewidth=2, label=label)
            ax.fill_between(c["steps"], c["ci95"][0], c["ci95"][1], color=f"C{i % 10}", alpha=0.15)
    ax.axhline(rnd, color="grey", linestyle=":", label=f"uniform random ({rnd:.1f})")
    ax.set_xlabel("environment steps per seed")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}: IQM and 95% stratified-bootstrap CI over seeds")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ci(s: dict[str, Any]) -> str:
    return f"{s['value']:.1f} [{s['ci95'][0]:.1f}, {s['ci95'][1]:.1f}]"


NOTES = """Final evaluation after the listed budget: each seed's mean return on 32 sampled-action
episodes, summarised over seeds by the interquartile mean (IQM) with a 95% stratified-bootstrap CI
(rliable, through `marlspec.io.report`; 2,000 samples, seed 0), and by the plain mean. With 5
seeds the IQM is the mean of the middle three. "execution" is the
deployed policy (MAGPO's and CTDS's decentralized GRU learners; MAPPO's and HAPPO's actors;
MAT's joint policy, which is centralized); "behaviour" is the data-collecting guider
(MAGPO) or teacher (CTDS). The paper's numbers are at 20 M steps with tuned hyper-parameters
(Table 1), ours at the budget listed with one shared set (specs/coordsum/magpo_<task>.yaml).
Curves: results/coordsum_<task>.png; coordsum_<task>_<variant>.png for runs tagged
`<algorithm>_<variant>` (one changed setting, several algorithms, e.g. vf0.5); and
coordsum_<task>_ablations.png for the other arms beside their algorithm's default, or
coordsum_<task>_<variant>_ablations.png for arms run under a variant (solid: deployed
policy; dashed: guider/teacher)."""


SCRIPTED_NOTES = """

## Hand-written reference policies

What the returns mean, from `scripted_actions` (320 episodes each, seeded; each cell is
the paper's guesser / the reference implementation's, `env.reference_quirk: true`).
`deterministic`: agent 0 plays min(target, A-1), the others fill the rest; it always hits a
reachable target but agent 0 is predictable. `teacher`: agent 0 picks uniformly among the
actions that keep the target reachable and the others compensate (a CTCE policy of the kind
MAGPO's section 3 describes). `student`: each agent samples independently from its marginal
under that teacher, the best a distilled set of independent policies can copy of it.

"""


READING = """

## Reading these numbers (updated 2026-11-30, session 7)

The numbers quoted below are means over seeds (the table's "mean" columns), and the intervals
quoted beside them are the percentile-bootstrap CIs of the mean that this table reported up
to session 7; the table itself now gives the IQM with stratified-bootstrap CIs.

These are early-training snapshots, not the paper's table. Budgets per seed: 0.5 M steps on
3x10-30, 3x30-50 and 8x15-100, and 1.5 M on 5x20-80 (2.5% and 7.5% of the paper's 20 M);
rows tagged `_long` are MAGPO and CTDS at twice that (3 M on 5x20-80, 1 M on 3x10-30).
Since session 6 every untagged row uses the paper's value-loss weight, vf_coef = 0.1 (Tables
2-3), which is now what `specs/coordsum/` says. Rows tagged `_vf0.5` were recorded earlier
with 0.5 and reproduce with `--set algorithm.vf_coef=0.5`. Rows tagged `happo_vf1.0` were
recorded before HAPPO weighted its critic loss (session 5), which is the same as
vf_coef = 1.0. Commands:
- `python benchmarks/coordsum_table.py run --task 3x10-30 --algorithms magpo ctds mappo happo mat --steps 500000`
  (likewise `--task 3x30-50` and `--task 8x15-100`; `--task 5x20-80 --steps 1500000`)
- arms, on 5x20-80 at 1.5 M: `--algorithms magpo --tag delta1.1 --set algorithm.delta=1.1`
  (likewise `delta3` with 3.0, `lambda0` with `--set algorithm.rl_coef=0.0`)
- the older rows: `--tag A_vf0.5 --set algorithm.vf_coef=0.5` (the 3x10-30 arms
  `delta1.1_vf0.5`, `delta3_vf0.5`, `lambda0_vf0.5` and `lambda4_vf0.5` likewise)
- `... report`

Every arm uses the same seeds 0-4, and so the same initial networks, as its default run.

- **3x10-30** (random 6.5): MAT 97.9 [92.4, 103.5], HAPPO 95.7 [91.8, 99.8], MAGPO 83.8
  [80.7, 86.8], CTDS 81.5 [72.3, 93.9], MAPPO 76.0 [70.8, 80.8]. Every method is still
  climbing at 0.5 M (coordsum_3x10-30.png). MAGPO's learners match their guider (84.9, gap
  1.2); CTDS's students trail their teacher (89.3) by 7.8, and by at least 3.5 in every seed.
  The paper at 20 M has the four CTDE methods level near 155 and MAT at 68.
- **3x30-50** (random 2.7): MAT 42.5 [39.1, 45.9], CTDS 35.3 [29.2, 41.5] (teacher 42.8, gap
  7.5), MAGPO 29.1 [22.6, 37.8] (guider 33.4, gap 4.3), MAPPO 11.6, HAPPO 9.2. The
  autoregressive-trained methods lead; MAPPO and HAPPO have not taken off. The paper has
  MAPPO and MAGPO level at 20 M (158.1 / 156.6).
- **5x20-80** (random 2.5): MAT 63.2 [40.9, 84.5]; CTDS 50.5 [25.8, 72.0] (seeds 70.6 / 45.9 /
  81.2 / 1.7 / 53.2; teacher 53.6, gap 3.1); MAGPO 45.6 [31.8, 56.5] (54.9 / 38.4 / 57.8 / 21.0
  / 56.1; guider 46.5, gap 0.9); MAPPO 30.4 [25.0, 35.2]; HAPPO 11.4 [7.0, 17.9].

  Against the paper's claim (MAGPO 157.6 >= MAPPO 142.5 >> CTDS 19.6 at 20 M):
  - **MAGPO >= MAPPO holds** at this budget: 45.6 against 30.4 at 1.5 M (the CIs overlap
    slightly), and 18.6 against 11.2 at 0.98 M.
  - **MAGPO >> CTDS does not hold** at this budget. CTDS is level with MAGPO or ahead, on this
    task and on the two 3-agent ones. The paper's CTDS number is a collapse late in training,
    when the teacher has learnt coordination its students cannot copy. What is visible here
    is its precursor: CTDS's teacher-student gap is larger than MAGPO's on every task where
    the teachers have taken off (7.8 vs 1.2, 7.5 vs 4.3, 3.1 vs 0.9).
  - MAT, the CTCE reference, leads on every task. In the paper it ends below MAGPO and MAPPO.
- **5x20-80 at twice the budget, 3 M steps** (session 7; `--algorithms magpo --tag magpo_long
  --steps 3000000`, likewise `ctds`): MAGPO 105.9 [98.6, 110.8] (seeds 108.7 / 91.9 / 112.6 /
  107.4 / 108.8; guider 105.8, gap -0.1), CTDS 103.8 [93.1, 114.2] (107.2 / 96.2 / 112.9 / 83.7
  / 119.0; teacher 104.9, gap 1.1). Both still climb (coordsum_5x20-80_long.png) and are level;
  there is no sign of the collapse. CTDS's seed 3, which sat at 1.7 in the 1.5 M row, took off
  after 2 M steps. The long runs used the same seeds but do not repeat the 1.5 M rows bit for
  bit (their step-0 evaluations agree exactly, and they drift apart from the second; the guider
  code was refactored for Sable in between, and I did not check whether that is the cause). At
  1.5 M they gave MAGPO 49.5 and CTDS 61.1, inside the recorded rows' CIs.
- **Is the teacher decentralizable at all?** `benchmarks/coordsum_diagnose.py` reads a run's
  checkpoint and measures, on the states the deployed learners visit, how often the guider or
  teacher hits the target, how often the product of its per-agent marginals would (the
  minimiser of CTDS's forward-KL student loss over product policies, so the best CTDS can
  copy), and its total correlation across agents (results/coordsum_diagnose_5x20-80.md; its
  1.5 M rows read copies of the long runs' checkpoints taken when they passed 1.5 M, passed
  with `--extra NAME=DIR`). On 5x20-80 the CTDS teacher is a product policy to within 0.006
  nats at 1.5 M and 0.002 at 3 M; its marginals' product hits as often as it does (0.400 vs 0.403; 0.655 vs 0.655), and the
  students trail by 0.03 and 0.01 from imitation lag, not from anything they cannot represent.
  Agent 0's entropy falls from 1.08 to 0.16 nats: the teacher is becoming deterministic, on
  the way to the `deterministic` reference policy (156.5 here), not to the stochastic
  `teacher` one (191.8) whose distillation collapses to 14.5. MAGPO's guider looks the same
  (total correlation 0.008, then -0.001; agent 0's entropy 0.83, then 0.04). The paper's
  collapse needs a teacher that coordinates through randomness; in these runs none has
  appeared, and while the teacher stays a product policy the mechanism behind that collapse
  is absent.
- **3x10-30 at twice the budget, 1 M steps** (`--task 3x10-30 ... --tag magpo_long --steps
  1000000`, likewise `ctds`; checkpoints diagnosed in results/coordsum_diagnose_3x10-30.md):
  MAGPO 94.6 [89.5, 99.3] (guider 94.7, gap 0.1), CTDS 93.1 [81.3, 106.0] (teacher 96.5, gap
  3.4). This is the task where the teachers are furthest along, and the first trace of the
  paper's mechanism shows here: the CTDS teacher's total correlation is 0.017 nats on average
  (0.031 and 0.036 in seeds 1 and 3), and the product of its marginals hits the target 0.735
  of the time against the teacher's 0.748 (0.700 vs 0.719 and 0.702 vs 0.731 in those seeds).
  MAGPO's guider stays a product policy (total correlation -0.001 on average and no seed above
  zero, against an estimator noise of about 0.003; hit 0.745 for guider, product and learners
  alike). The effect is small at 1 M steps; whether it grows is what a longer run would show.
- **Which guesser.** The published numbers come from the authors' code, whose guesser pools
  every target at or above A - 1 into one record (`env.reference_quirk: true`; 76% of the
  targets on 5x20-80). Under that rule a predictable agent 0 costs far more: the
  `deterministic` policy drops from 156.5 to 113.9, while the `teacher` policy keeps 191.8. So
  the pressure to randomise agent 0, which is what makes a teacher non-decentralizable, sets in
  earlier and harder there. That may be why the paper sees the collapse and these runs, under
  the rule the paper states, do not; it is untested here.
- **delta ablation on 5x20-80** (the paper's Fig. 4b; 1.5 M x 5 seeds): delta 1.1 / 1.5 / 3
  give 13.4 [6.2, 20.6] / 45.6 [31.8, 56.5] / 59.5 [33.5, 83.4] (delta 3's seeds 59.4 / 54.8 /
  100.0 / 4.4 / 78.8; its guider-learner gap is 0.9, as at 1.5). At vf_coef 0.5 the same arms gave 3.6 /
  8.8 / 10.0, and on 3x10-30 (0.5 M, vf_coef 0.5) 43.6 / 60.8 / 62.1. The paper finds a small
  delta better on this task at 20 M; here a tight box slows the guider's escape from the
  uniform policy: with delta 1.1 the KL mask fires on 2.9% of agent-steps on average (up to
  10%), against 0.95% (up to 2.9%) at 1.5. The paper's reason for a small delta is the late
  phase, when the guider would otherwise learn coordination the learners cannot copy. That
  phase is beyond this budget.
- **lambda ablation** (the paper's Fig. 5/8a): on 5x20-80, lambda = 0 (the learners only
  imitate the guider, as in CTDS, but the guider keeps its delta box) gives 39.9 [32.5, 45.0]
  with a guider-learner gap of 4.4, against 45.6 and a gap of 0.9 with lambda = 1. On 3x10-30 at vf_coef 0.5: lambda 0 / 1 / 4 give 48.9 (gap 4.5) / 60.8
  (gap 0.5) / 58.7 (gap 0.3). The learners' own PPO term closes the gap to the guider, as the
  paper argues ("counter-supervising" the guider); beyond 1 it changes little at this budget.
- **8x15-100 at 0.5 M** (random 2.0): MAGPO 4.6 [4.1, 5.1] (guider 5.1), MAT 4.2 [3.0, 4.9],
  CTDS 3.8 [2.6, 4.9] (teacher 4.3), MAPPO 1.9 [1.5, 2.4], HAPPO 1.8 [1.6, 2.1] with its weighted
  critic (session 7; 2.1 before, row `happo_vf1.0`). At 2.5% of the paper's budget the methods trained through the
  autoregressive network are about twice random, MAPPO and HAPPO at random. This row fills
  the cells and shows where the curves start, nothing more.
- **The value-loss weight.** Going from 0.5 to 0.1 lifted the autoregressive-trained methods
  everywhere: on 3x10-30 MAT 71.3 -> 97.9, MAGPO 60.8 -> 83.8, CTDS 58.0 -> 81.5; on 3x30-50
  23.9 -> 42.5, 15.2 -> 29.1, 18.2 -> 35.3; on 5x20-80 28.9 -> 63.2, 8.8 -> 45.6, 8.8 -> 50.5.
  Their value head shares the encoder with the policy, so the weight sets how much the value
  loss shapes the policy's features. MAPPO moved on 3x10-30 too (57.4 -> 76.0, CIs apart) but
  little on 3x30-50 (10.9 -> 11.6) and 5x20-80 (25.5 -> 30.4). Its critic is a separate
  network, yet it shares one optimiser and one global gradient-norm clip (0.5) with the actor,
  so the weight changes how hard the clip scales the actor's gradient; that is the likely
  channel, and it is untested. HAPPO's critic has its own optimiser and clip; weighting it
  moved HAPPO from 89.4 to 95.7 on 3x10-30, 8.5 to 9.2 on 3x30-50 and 8.1 to 11.4 on 5x20-80.
- **Sable guider** (3x10-30, 0.5 M, vf_coef 0.1; `--algorithms magpo --tag magpo_sable --set
  algorithm.joint_policy.architecture=sable`): MAGPO with the paper's default guider gives
  87.9 [81.4, 93.0] (guider 88.5, gap 0.6), against 83.8 [80.7, 86.8] with the MAT guider; the
  CIs overlap. It trained at 2,528 steps/s, sharing the cores with a test run for most of its
  17 minutes (the MAT-guided run: 4,589, sharing them with another benchmark), so the speed
  comparison is rough. No other task or algorithm has a Sable row yet.
- Whether the whole claim holds at the end of training, and in particular whether CTDS
  collapses, needs runs near 20 M: about 12 hours per algorithm for 5 seeds on this CPU, two
  at a time (the 3 M pair above took 106 minutes at 2,376 steps/s each;
  specs/tuned/magpo_coordsum_5x20-80.yaml). The diagnostic above says what to watch for: the
  teacher's total correlation leaving zero."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--task", default="5x20-80")
    r.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=ALGORITHMS)
    r.add_argument("--steps", type=int, default=1_000_000)
    r.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    r.add_argument("--tag", default=None, help="run-directory name (default: the algorithm)")
    r.add_argument("--set", action="append", default=[], help="spec override, e.g. algorithm.delta=1.1")
    r.add_argument("--force", action="store_true")
    rep = sub.add_parser("report")
    rep.add_argument("--reps", type=int, default=2000, help="bootstrap samples per interval")
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()
