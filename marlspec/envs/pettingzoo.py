"""Any PettingZoo `ParallelEnv`, as a host environment (`marlspec.envs.host.HostEnv`).

The environment is named by import path and keyword arguments, e.g.
`mpe2.simple_spread_v3:parallel_env` with `{N: 3, max_cycles: 25}`. It runs in Python;
the runner steps a batch of instances in a loop while the policy and the learner stay
jitted (`marlspec.train.host`).

How PettingZoo's dictionaries become the protocol's arrays:
- Agent slots are `possible_agents`, in order. An agent that is not (or no longer) in
  the episode has `agent_mask` false and a zero observation; its action is not sent.
- Observations are flattened and zero-padded to the largest agent's size. A `Dict`
  observation with `observation` and `action_mask` entries (PettingZoo's convention)
  supplies the mask; so does `infos[agent]["action_mask"]`.
- Discrete actions: counts are padded to the largest, and `avail_actions` marks each
  agent's real actions. Box actions: dimensions are padded to the largest, actions are
  clipped to each agent's box, and `avail_actions` marks the real dimensions.
- Team reward: the mean (or, with `team_reward="sum"`, the sum) of the rewards of the
  agents that acted.
- The episode ends when every acting agent is terminated or truncated (or none is
  left). It counts as `terminated` unless some agent was truncated; reaching
  `max_steps` always truncates.
- Global state: `env.state()` where the environment provides it, else every agent's
  (unpadded) observation concatenated.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from marlspec.envs.base import ActionType, EnvInfo
from marlspec.envs.host import HostEnv, HostTimeStep
from marlspec.importing import check_kwargs, default_of, resolve


def _size(space: Any) -> int:
    shape = getattr(space, "shape", None)
    if not shape:
        raise ValueError(f"observation space {space} has no shape; only Box (and Dict with 'observation') are supported")
    return int(np.prod(shape))


class PettingZooEnv(HostEnv):
    def __init__(self, path: str, kwargs: dict[str, Any] | None = None, max_steps: int | None = None,
                 team_reward: Literal["mean", "sum"] = "mean", actions: str | None = None,
                 agent_id: bool = False):
        kwargs = dict(kwargs or {})
        module, factory = resolve(path)
        problem = check_kwargs(module, factory, kwargs)
        if problem is not None:
            raise ValueError(f"{path}: {problem}")
        try:
            self.env = factory(**kwargs)
        except TypeError as err:
            raise ValueError(f"{path}: {err}") from None
        self.path, self.team_reward, self.agent_id = path, team_reward, agent_id
        self.agents: list[str] = list(self.env.possible_agents)
        n = len(self.agents)
        obs_spaces = [self.env.observation_space(a) for a in self.agents]
        self._dict_obs = [hasattr(s, "spaces") and "observation" in s.spaces for s in obs_spaces]
        self.obs_sizes = [_size(s["observation"] if d else s) for s, d in zip(obs_spaces, self._dict_obs, strict=True)]
        act_spaces = [self.env.action_space(a) for a in self.agents]
        discrete = [hasattr(s, "n") for s in act_spaces]
        if len(set(discrete)) != 1:
            raise ValueError(f"{path}: agents mix discrete and continuous actions; not supported")
        kind: ActionType = "discrete" if discrete[0] else "continuous"
        if actions is not None and actions != kind:
            raise ValueError(f"{path}: the env's actions are {kind}, but env.actions says {actions}; set actions: {kind}")
        self.action_sizes = [int(s.n) if kind == "discrete" else _size(s) for s in act_spaces]
        if kind == "continuous":
            self._low = [np.broadcast_to(s.low, s.shape).reshape(-1) for s in act_spaces]
            self._high = [np.broadcast_to(s.high, s.shape).reshape(-1) for s in act_spaces]
            low, high = float(min(x.min() for x in self._low)), float(max(x.max() for x in self._high))
        else:
            low, high = -1.0, 1.0
        if max_steps is None:
            max_steps = kwargs.get("max_cycles") or default_of(module, factory, "max_cycles") \
                or getattr(self.env, "max_cycles", None)
        if max_steps is None:
            raise ValueError(f"{path}: cannot tell the episode length; set env.max_steps")
        self.max_steps = int(max_steps)
        self.env.reset(seed=0)
        try:
            self._has_state = np.asarray(self.env.state()).size > 0
        except (NotImplementedError, AttributeError):
            self._has_state = False
        state_dim = int(np.asarray(self.env.state()).size) if self._has_state else sum(self.obs_sizes)
        width = max(self.obs_sizes) + (n if agent_id else 0)
        self.info = EnvInfo(
            name=f"pettingzoo/{path}", num_agents=n, obs_dim=width, state_dim=state_dim, action_type=kind,
            num_actions=max(self.action_sizes), max_steps=self.max_steps, action_low=low, action_high=high,
        )
        self._t = 0

    # ----------------------------------------------------------------- helpers
    def _split(self, i: int, raw: Any) -> tuple[np.ndarray, np.ndarray | None]:
        if self._dict_obs[i]:
            return np.asarray(raw["observation"], np.float32).reshape(-1), raw.get("action_mask")
        return np.asarray(raw, np.float32).reshape(-1), None

    def _timestep(self, obs: dict, infos: dict, reward: float, terminated: bool, truncated: bool) -> HostTimeStep:
        n, width, a = self.info.num_agents, max(self.obs_sizes), self.info.num_actions
        rows = np.zeros((n, width), np.float32)
        avail = np.arange(a)[None, :] < np.asarray(self.action_sizes)[:, None]
        mask = np.zeros((n,), bool)
        flat = []
        for i, agent in enumerate(self.agents):
            if agent not in obs:
                flat.append(np.zeros((self.obs_sizes[i],), np.float32))
                continue
            o, action_mask = self._split(i, obs[agent])
            mask[i] = True
            rows[i, : o.shape[0]] = o
            flat.append(o)
            action_mask = action_mask if action_mask is not None else infos.get(agent, {}).get("action_mask")
            if action_mask is not None and self.info.discrete:
                avail[i, : self.action_sizes[i]] = np.asarray(action_mask, bool)
        if self.agent_id:
            rows = np.concatenate([rows, np.eye(n, dtype=np.float32)], axis=1)
        state = np.asarray(self.env.state(), np.float32).reshape(-1) if self._has_state else np.concatenate(flat)
        return HostTimeStep(obs=rows, state=state, avail_actions=avail, agent_mask=mask, reward=float(reward),
                            terminated=terminated, truncated=truncated, info={})

    # --------------------------------------------------------------- protocol
    def reset(self, seed: int) -> HostTimeStep:
        obs, infos = self.env.reset(seed=seed)
        self._t = 0
        return self._timestep(obs, infos, 0.0, False, False)

    def step(self, actions: np.ndarray) -> HostTimeStep:
        live = list(self.env.agents)
        act: dict[str, int | np.ndarray] = {}
        for i, agent in enumerate(self.agents):
            if agent not in live:
                continue
            if self.info.discrete:
                act[agent] = int(actions[i])
            else:
                d = self.action_sizes[i]
                shape = self.env.action_space(agent).shape
                act[agent] = np.clip(np.asarray(actions[i][:d], np.float32), self._low[i], self._high[i]).reshape(shape)
        obs, rewards, terms, truncs, infos = self.env.step(act)
        self._t += 1
        values = [float(rewards.get(a, 0.0)) for a in live]
        reward = (sum(values) if self.team_reward == "sum" else sum(values) / max(len(values), 1))
        over = not self.env.agents or all(terms.get(a, False) or truncs.get(a, False) for a in live)
        cut = any(truncs.get(a, False) for a in live)
        terminated = over and not cut
        truncated = (over and cut) or (not over and self._t >= self.max_steps)
        return self._timestep(obs, infos, reward, terminated, truncated)

    def close(self) -> None:
        self.env.close()
