"""Can the guider (MAGPO) or teacher (CTDS) be copied by independent policies? Measured on
CoordSum checkpoints written by `coordsum_table.py run`.

    python benchmarks/coordsum_diagnose.py --task 3x10-30 --tags magpo_long ctds_long
                                                    # writes results/coordsum_diagnose_<task>.{json,md}

MAGPO's section 3 argues that distillation fails when the centralized teacher's joint policy
mu is not a product of per-agent policies. CTDS's student minimises the forward KL(mu || pi)
over product policies pi, whose minimiser is the product of mu's marginals; so how well
that product does is the best a CTDS student can do. For every step the deployed learners
visit (8 episodes per seed, sampled actions), this script measures, with the behaviour
policy's networks as they are at the checkpoint:

- `hit_guider`: P(sum of actions = target) under mu (128 joint samples);
- `hit_product`: the same under the product of mu's marginals (exact, by convolution);
  the marginals are estimated as mean_m mu_i(. | a_<i^(m)) over the samples;
- `hit_learners`: the same under the deployed learners' policy (exact);
- `total_correlation`: sum_i H(mu_i) - H(mu) in nats (0 for a product policy), with H(mu)
  estimated as -mean log mu(a^(m));
- `agent0_entropy`: H(mu_0), how much the guider randomises the agent the guesser watches.

Reported per run as the mean over seeds and steps, with each seed's mean. MAT-architecture
guiders only (Sable's would need its episode memory replayed alongside).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import entr
from jaxtyping import Array, Float, Int

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import write  # noqa: E402

RUNS = ROOT / "benchmarks" / "results" / "coordsum_runs"
METRICS = ("hit_guider", "hit_product", "hit_learners", "total_correlation", "agent0_entropy")


def _fail(message: str) -> NoReturn:
    """Bad input: one line on stderr, exit code 2."""
    print(f"coordsum_diagnose: {message}", file=sys.stderr)
    raise SystemExit(2)


def product_hit(marginals: Float[Array, "N A"], target: Int[Array, ""]) -> Float[Array, ""]:
    """P(a_1 + ... + a_N = target) when each a_i is drawn independently from marginals[i]."""
    dist = marginals[0]
    for row in marginals[1:]:
        dist = jnp.convolve(dist, row)
    return jnp.where(target < dist.shape[0], dist[jnp.minimum(target, dist.shape[0] - 1)], 0.0)


def joint_stats(guider: Any, config: Any, ts: Any, target: Int[Array, ""], key: jax.Array, samples: int) -> dict[str, Array]:
    """The behaviour policy's statistics at one timestep (see the module docstring)."""
    from marlspec.algorithms.joint_policy import joint_policy

    x = joint_policy(config).inputs(ts.obs, ts.state)
    order = jnp.arange(x.shape[0])
    actions, logp, _ = jax.vmap(lambda k: guider.sample(k, x, ts.avail_actions, order))(jax.random.split(key, samples))
    cond = jax.vmap(lambda a: jax.nn.softmax(guider.conditional_logits(x, a, ts.avail_actions, order)[0]))(actions)
    marginals = cond.mean(0)
    h_marginals = entr(marginals).sum(-1)
    return {"hit_guider": (actions.sum(-1) == target).mean(), "hit_product": product_hit(marginals, target),
            "total_correlation": h_marginals.sum() + logp.sum(-1).mean(), "agent0_entropy": h_marginals[0]}


def diagnose_run(path: Path, episodes: int = 8, samples: int = 128) -> dict[str, Any]:
    """Per-seed means of METRICS for one run directory with a checkpoint."""
    from marlspec.compile import compile as compile_spec
    from marlspec.io.rundir import RunDir
    from marlspec.primitives import factorization as fz
    from marlspec.spec import load_spec
    from marlspec.train.runner import init_states

    if not (path / "spec.yaml").exists():
        _fail(f"{path}: not a run directory (no spec.yaml); pass a tag under {RUNS}/<task>/ or NAME=DIR")
    spec = load_spec(path / "spec.yaml")
    kind = spec.algorithm.kind
    if kind not in ("magpo", "ctds") or spec.algorithm.joint_policy.architecture != "mat":
        _fail(f"{path}: algorithm {kind!r} has no MAT guider to diagnose; pass a magpo or ctds run with architecture mat")
    if not (path / "checkpoint.eqx").exists():
        _fail(f"{path}: no checkpoint.eqx; re-run it with benchmarks/coordsum_table.py run --force")
    experiment = compile_spec(spec)
    seeds = list(spec.train.seeds)
    states = RunDir(path).load_checkpoint(init_states(experiment, seeds).learner)
    env, alg = experiment.env, experiment.algorithm
    n, max_target = env.info.num_agents, env.max_target

    def one_seed(state: Any, key: jax.Array) -> dict[str, Array]:
        def episode(k: jax.Array) -> dict[str, Array]:
            k0, k1 = jax.random.split(k)
            env_state, ts = env.reset(k0)

            def step(c: tuple[Any, Any, Array], k: jax.Array) -> tuple[tuple[Any, Any, Array], dict[str, Array]]:
                env_state, ts, hidden = c
                k_guider, k_act, k_env = jax.random.split(k, 3)
                target = jnp.argmax(ts.state[:max_target])
                hidden, logits = jax.vmap(state.learner)(hidden, alg.learner_inputs(ts.obs), jnp.zeros((n,), bool))
                logits = fz.mask_logits(logits, ts.avail_actions)
                stats = joint_stats(state.guider, alg.config, ts, target, k_guider, samples)
                stats["hit_learners"] = product_hit(jax.nn.softmax(logits), target)
                actions, _ = fz.independent_sample(k_act, logits)
                env_state, ts = env.step(k_env, env_state, actions)
                return (env_state, ts, hidden), stats

            hidden = alg.initial_carry()[0]
            keys = jax.random.split(k1, env.info.max_steps)
            return jax.tree.map(jnp.mean, jax.lax.scan(step, (env_state, ts, hidden), keys)[1])

        return jax.tree.map(jnp.mean, jax.vmap(episode)(jax.random.split(key, episodes)))

    keys = jax.random.split(jax.random.PRNGKey(1), len(seeds))
    per_seed = eqx.filter_jit(eqx.filter_vmap(one_seed))(states, keys)
    return {m: {"mean": float(np.mean(per_seed[m])), "per_seed": np.asarray(per_seed[m], dtype=float).round(4).tolist()}
            for m in METRICS} | {"seeds": seeds, "env_steps_per_seed": json.loads((path / "checkpoint.json").read_text())["env_steps"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="3x10-30")
    parser.add_argument("--tags", nargs="+", default=["magpo", "ctds"])
    parser.add_argument("--extra", nargs="*", default=[], metavar="NAME=DIR",
                        help="other run directories with a checkpoint, e.g. a copy taken mid-run")
    args = parser.parse_args()
    runs = {tag: RUNS / args.task / tag for tag in args.tags} | dict(e.split("=", 1) for e in args.extra)
    results = {tag: diagnose_run(Path(path)) for tag, path in runs.items()}
    table = [{"task": args.task, "run": tag, "steps/seed": r["env_steps_per_seed"],
              **{m: f"{r[m]['mean']:.3f}" for m in METRICS}} for tag, r in results.items()]
    notes = ("Means over seeds and over the steps the deployed learners visit (8 episodes per seed); "
             "per-seed values in the JSON. hit_*: probability that the actions sum to the target under the "
             "guider/teacher (hit_guider), under the product of its marginals, which is the best a forward-KL "
             "student can copy (hit_product), and under the deployed learners (hit_learners). "
             "total_correlation (nats): how far the guider/teacher is from a product policy. "
             "See the docstring of benchmarks/coordsum_diagnose.py.")
    name = f"coordsum_diagnose_{args.task}"
    write(name, {"task": args.task, "results": results}, table, notes)
    print((ROOT / "benchmarks" / "results" / f"{name}.md").read_text())


if __name__ == "__main__":
    main()
