"""Issue 21: where the time of one training update goes, for a spec in specs/bench/.

Each part is compiled ahead of time as its own program, run `K` times inside one `lax.scan`
(so per-call overhead is amortised as in training), and the programs are timed alternately
round by round in one process (the machine is shared; compare the shares, not absolute times):

- `full`: `train_chunk` (rollout + update), K updates; `full_vmap1`: the same vmapped over a
  seed axis of size 1, as the runner compiles a one-seed run;
- `rollout`: K rollouts with the learner held fixed (acting and environment stepping);
- `update`: K `algorithm.update` calls on one fixed trajectory;
- PPO family: `advantage` (critic values V(s_t), V(s'_t) and GAE) alone, K times;
  `epochs` = update - advantage is the epoch/minibatch loop;
- off-policy family: `replay_add` (writing the trajectory into the episode replay) and
  `grad_steps` (sampling a batch and one gradient step, K x train_steps times, once the
  replay is full enough), and `sample` alone.

    python benchmarks/profile_update.py ippo_ff_mpe_spread.yaml --updates 8 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH = ROOT / "specs" / "bench"


def programs(spec_file: str, k: int, num_envs: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    import equinox as eqx
    import jax

    from marlspec.algorithms.off_policy import OffPolicy
    from marlspec.algorithms.onpolicy import agent_advantages
    from marlspec.compile import compile as compile_spec
    from marlspec.spec import load_spec
    from marlspec.train.rollout import rollout

    overrides = ["train.seeds=[0]"] + ([f"train.num_envs={num_envs}"] if num_envs else [])
    spec = load_spec(BENCH / spec_file, overrides=overrides)
    overrides.append(f"train.total_env_steps={k * spec.train.steps_per_update}")
    ex = compile_spec(load_spec(BENCH / spec_file, overrides=overrides))
    alg = ex.algorithm
    rs = ex.init(jax.random.PRNGKey(0))
    _, traj, _ = jax.jit(lambda r: rollout(ex.train_env, alg, r.learner, r.actors, r.key, ex.rollout_length))(rs)
    if isinstance(alg, OffPolicy):  # fill the replay so that gradient steps run
        fill = -(-alg.config.batch_size * (ex.env.info.max_steps + 1) // ex.steps_per_update) + 1
        rs = jax.jit(lambda r: ex.train_chunk(r, fill)[0])(rs)

    def scan_k(body: Any, init: Any, n: int = k) -> Any:
        return lambda d: jax.lax.scan(lambda c, _: (body(c), None), d, None, length=n)[0]

    def full(r: Any) -> Any:
        return ex.train_chunk(r, k)[0]

    def roll(r: Any) -> Any:
        def body(a: Any) -> Any:
            actors, key = a
            key, k1 = jax.random.split(key)
            return rollout(ex.train_env, alg, r.learner, actors, k1, ex.rollout_length)[0], key
        return scan_k(body, None)((r.actors, r.key))

    def upd(r: Any) -> Any:
        def body(a: Any) -> Any:
            learner, key = a
            key, k1 = jax.random.split(key)
            return alg.update(learner, traj, k1)[0], key
        return scan_k(body, None)((r.learner, r.key))

    def full_vmap1(r: Any) -> Any:  # what the runner compiles for one seed: the chunk vmapped over a seed axis of 1
        one = jax.tree.map(lambda x: x[None] if eqx.is_array(x) else x, r)
        return jax.tree.map(lambda x: x[0] if eqx.is_array(x) else x, eqx.filter_vmap(lambda s: ex.train_chunk(s, k)[0])(one))

    parts: dict[str, Any] = {"full": full, "full_vmap1": full_vmap1, "rollout": roll, "update": upd}
    if hasattr(alg, "_values"):  # PPO/MAPPO: the critic passes and GAE, without the epochs
        c = alg.config

        def adv(r: Any) -> Any:
            def body(a: Any) -> Any:
                critic, acc = a
                v, vn = alg._values(critic, traj)
                ad, tg = agent_advantages(traj.reward, v, vn, traj.terminated, traj.truncated, c.gamma, c.gae_lambda)
                return critic, acc + ad.sum() + tg.sum()
            return scan_k(body, None)((r.learner.critic, jax.numpy.zeros(())))
        parts["advantage"] = adv
    if isinstance(alg, OffPolicy):
        c = alg.config

        def add(r: Any) -> Any:
            return scan_k(lambda rep: alg.replay.add(rep, traj), None)(r.learner.replay)

        def sample(r: Any) -> Any:
            def body(a: Any) -> Any:
                key, acc = a
                key, k1 = jax.random.split(key)
                ep = alg.replay.sample(r.learner.replay, k1, c.batch_size)
                return key, acc + ep.obs.sum()
            return scan_k(body, None, k * c.train_steps)((r.key, jax.numpy.zeros(())))

        def grads(r: Any) -> Any:
            s = r.learner

            def body(a: Any) -> Any:
                params, opt, key = a
                key, k1, k2 = jax.random.split(key, 3)
                ep = alg.replay.sample(s.replay, k1, c.batch_size)
                if c.normalize_state:
                    ep = eqx.tree_at(lambda e: e.state, ep, s.state_moments.standardize(ep.state))
                params, opt, _ = alg.gradient_step(params, opt, s.target, ep, k2, alg.alpha(s.env_steps))
                return params, opt, key
            return scan_k(body, None, k * c.train_steps)((s.params, s.opt_state, r.key))
        parts.update(replay_add=add, sample=sample, grad_steps=grads)

    compiled, compile_s = {}, {}
    dynamic, static = eqx.partition(rs, eqx.is_array)
    for name, fn in parts.items():
        t0 = time.perf_counter()
        wrapped = lambda d, fn=fn: eqx.filter(fn(eqx.combine(d, static)), eqx.is_array)
        compiled[name] = jax.jit(wrapped).lower(dynamic).compile()
        compile_s[name] = time.perf_counter() - t0
    return {n: (lambda c=c: c(dynamic)) for n, c in compiled.items()}, {"compile_s": compile_s,
                                                                        "steps": k * ex.steps_per_update}


def main() -> None:
    import jax

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("spec")
    p.add_argument("--updates", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--num-envs", type=int, default=None)
    p.add_argument("--write", action="store_true", help="write benchmarks/results/profile_<spec>.json")
    args = p.parse_args()
    runs, meta = programs(args.spec, args.updates, args.num_envs)
    for fn in runs.values():
        jax.block_until_ready(fn())
    times: dict[str, list[float]] = {n: [] for n in runs}
    names = list(runs)
    for r in range(args.rounds):
        for n in (names if r % 2 == 0 else names[::-1]):
            t0 = time.perf_counter()
            jax.block_until_ready(runs[n]())
            times[n].append(time.perf_counter() - t0)
    med = {n: statistics.median(t) for n, t in times.items()}
    out = {"spec": args.spec, "updates": args.updates, "seconds": med, "per_round": times, **meta,
           "share_of_full": {n: med[n] / med["full"] for n in med}}
    if "advantage" in med:
        out["share_of_full"]["epochs (update - advantage)"] = (med["update"] - med["advantage"]) / med["full"]
    out["command"] = "python benchmarks/profile_update.py " + " ".join(sys.argv[1:])
    out["load_after"] = __import__("os").getloadavg()[0]
    print(json.dumps(out, indent=1))
    if args.write:
        from benchmarks._common import RESULTS, machine

        name = "profile_" + Path(args.spec).stem
        (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine(), **out}, indent=2) + "\n")


if __name__ == "__main__":
    main()
