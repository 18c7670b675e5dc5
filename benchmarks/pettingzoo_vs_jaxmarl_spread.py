"""Cross-check of the PettingZoo host adapter against the JaxMARL adapter on MPE spread.

Both run simple_spread with 3 agents, local_ratio 0.5 and 25-step episodes under
uniformly random actions: mpe2's `simple_spread_v3.parallel_env` through
`PettingZooEnv` + `HostAutoReset`, and JaxMARL's `MPE_simple_spread_v3` through
`marlspec.envs.MPE` + `AutoReset`. It compares the sizes the learner sees and the team
return (mean of the agents' rewards, summed over the episode), and the reward and
observation statistics at the first and last step.

    python benchmarks/pettingzoo_vs_jaxmarl_spread.py

Writes benchmarks/results/pettingzoo_vs_jaxmarl_spread.json and .md.
"""

from __future__ import annotations

import sys

import jax
import numpy as np

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from _common import write  # noqa: E402

EPISODES = 2000
HOST_ENVS = 50


def jaxmarl_side() -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    from marlspec.envs.base import random_actions
    from marlspec.envs.mpe import MPE
    from marlspec.envs.wrappers import AutoReset

    env = MPE("simple_spread", max_steps=25)
    batch = AutoReset(env, EPISODES)

    @jax.jit
    def play(key):
        state, first = batch.reset(key)

        def step(c, k):
            state, ts = c
            k1, k2 = jax.random.split(k)
            acts = jax.vmap(lambda kk, av: random_actions(kk, env.info, av))(jax.random.split(k1, EPISODES),
                                                                              ts.avail_actions)
            state, ts = batch.step(k2, state, acts)
            return (state, ts), (ts.reward, ts.info["final_obs"])

        _, (rewards, finals) = jax.lax.scan(step, (state, first), jax.random.split(key, 25))
        return first.obs, rewards, finals

    first, rewards, finals = (np.asarray(x) for x in play(jax.random.PRNGKey(0)))
    return env.info, rewards.sum(0), first, (rewards, finals[-1])


def pettingzoo_side() -> tuple[dict, np.ndarray, np.ndarray, np.ndarray]:
    from marlspec.envs.host import HostAutoReset
    from marlspec.envs.pettingzoo import PettingZooEnv

    make = lambda: PettingZooEnv("mpe2.simple_spread_v3:parallel_env", {"N": 3, "max_cycles": 25})  # noqa: E731
    batch = HostAutoReset(make, HOST_ENVS)
    rng = np.random.default_rng(0)
    returns, firsts, rewards_all, lasts = [], [], [], []
    for chunk in range(EPISODES // HOST_ENVS):
        ts = batch.reset(jax.random.PRNGKey(chunk))
        firsts.append(np.asarray(ts.obs))
        rewards = []
        for _ in range(25):
            ts = batch.step(jax.random.PRNGKey(0), rng.integers(0, 5, (HOST_ENVS, 3)))
            rewards.append(np.asarray(ts.reward))
        assert np.asarray(ts.truncated).all()
        rewards_all.append(np.stack(rewards))
        returns.append(np.stack(rewards).sum(0))
        lasts.append(np.asarray(ts.info["final_obs"]))
    return (batch.info, np.concatenate(returns), np.concatenate(firsts),
            (np.concatenate(rewards_all, axis=1), np.concatenate(lasts)))


def summary(returns: np.ndarray) -> dict:
    sem = returns.std(ddof=1) / np.sqrt(returns.size)
    return {"mean": float(returns.mean()), "std": float(returns.std(ddof=1)), "ci95": float(1.96 * sem)}


def main() -> None:
    j_info, j_ret, j_first, (j_rew, j_last) = jaxmarl_side()
    p_info, p_ret, p_first, (p_rew, p_last) = pettingzoo_side()
    sizes = ("num_agents", "obs_dim", "state_dim", "action_type", "num_actions", "max_steps")
    rows = [{"quantity": f"EnvInfo.{s}", "JaxMARL (MPE adapter)": getattr(j_info, s),
             "PettingZoo mpe2 (host adapter)": getattr(p_info, s)} for s in sizes]
    js, ps = summary(j_ret), summary(p_ret)
    rows.append({"quantity": f"team return, random actions ({EPISODES} episodes)",
                 "JaxMARL (MPE adapter)": f"{js['mean']:.2f} ± {js['ci95']:.2f} (sd {js['std']:.2f})",
                 "PettingZoo mpe2 (host adapter)": f"{ps['mean']:.2f} ± {ps['ci95']:.2f} (sd {ps['std']:.2f})"})
    for t in (0, 24):
        rows.append({"quantity": f"team reward at step {t + 1} (mean)", "JaxMARL (MPE adapter)": float(j_rew[t].mean()),
                     "PettingZoo mpe2 (host adapter)": float(p_rew[t].mean())})
    groups = {"own velocity": slice(0, 2), "own position": slice(2, 4), "landmarks (relative)": slice(4, 10),
              "other agents (relative)": slice(10, 14), "communication": slice(14, 18)}
    for name, sl in groups.items():
        rows.append({"quantity": f"first obs, mean abs {name}",
                     "JaxMARL (MPE adapter)": float(np.abs(j_first[..., sl]).mean()),
                     "PettingZoo mpe2 (host adapter)": float(np.abs(p_first[..., sl]).mean())})
        rows.append({"quantity": f"last obs, mean abs {name}",
                     "JaxMARL (MPE adapter)": float(np.abs(j_last[..., sl]).mean()),
                     "PettingZoo mpe2 (host adapter)": float(np.abs(p_last[..., sl]).mean())})
    gap = abs(js["mean"] - ps["mean"]) / abs(ps["mean"])
    notes = (f"Both: 3 agents, local_ratio 0.5, 25-step episodes (truncated), uniformly random actions, team reward = "
             f"mean of the agents' rewards. The mean returns differ by {100 * gap:.1f}% of the PettingZoo value. "
             "Observation layout is the same in both (velocity, position, landmarks, other agents, communication); "
             "the communication entries are zero in both because agents are silent in spread.")
    write("pettingzoo_vs_jaxmarl_spread", {"episodes": EPISODES, "jaxmarl": js, "pettingzoo": ps,
                                           "relative_gap": gap}, rows, notes)
    print(f"JaxMARL {js}  PettingZoo {ps}  gap {100 * gap:.1f}%")


if __name__ == "__main__":
    main()
