"""The top-level experiment spec and its training, evaluation and logging parts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, computed_field, field_validator, model_validator

from marlspec.spec.algorithms import AlgorithmSpec, OffPolicySpec
from marlspec.spec.base import INT32_MAX, Spec, fail
from marlspec.spec.envs import EnvSpec
from marlspec.spec.networks import MLPSpec, NetworkSpec


class TrainSpec(Spec):
    """How long and how wide to train."""

    total_env_steps: int = Field(default=100_000, ge=1)
    """Environment steps per seed (one step of one environment counts once, whatever the agent count)."""
    num_envs: int = Field(default=16, ge=1)
    """Environments stepped in parallel (vmapped)."""
    rollout_length: int = Field(default=128, ge=1)
    """Steps per environment between updates."""
    seeds: list[Annotated[int, Field(ge=0, le=INT32_MAX)]] = Field(default_factory=lambda: [0])
    """Seeds trained side by side inside one compiled program (vmapped); each in [0, 2^31 - 1]
    (JAX keys hold 32 bits: larger seeds would silently share a key)."""
    lr: float = Field(default=5e-4, gt=0.0)
    """Learning rate (Adam)."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over training."""
    devices: int | Literal["all"] = Field(default=1)
    """Data-parallel training: shard the environment batch over this many devices (`all`: every
    device JAX sees, across hosts after `marlspec run --distributed`); parameters are replicated and
    gradients averaged across devices inside the compiled update. num_envs must be a multiple."""

    @field_validator("devices")
    @classmethod
    def _devices(cls, devices: int | str) -> int | str:
        if isinstance(devices, int) and devices < 1:
            raise ValueError(f"must be >= 1 or 'all' (got {devices})")
        return devices

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int]) -> list[int]:
        if not seeds:
            raise ValueError("needs at least one seed, e.g. [0]")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct (got {seeds})")
        return seeds

    @model_validator(mode="after")
    def _batch_fits(self) -> TrainSpec:
        if self.num_envs * self.rollout_length > INT32_MAX:
            fail("train.rollout_length", f"num_envs x rollout_length = {self.num_envs * self.rollout_length:,} steps per"
                 f" update does not fit a 32-bit counter (< 2^31); shrink one of them", self.rollout_length)
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def steps_per_update(self) -> int:
        """Environment steps consumed by one update."""
        return self.num_envs * self.rollout_length

    @computed_field  # type: ignore[prop-decorator]
    @property
    def num_updates(self) -> int:
        """Number of updates (total_env_steps rounded down to whole updates)."""
        return self.total_env_steps // self.steps_per_update


class EvalSpec(Spec):
    """Periodic evaluation of the execution (decentralized) policy."""

    interval: int = Field(default=10_000, ge=1)
    """Environment steps between evaluations; also the size of one compiled training chunk."""
    episodes: int = Field(default=32, ge=1)
    """Episodes per evaluation (run in parallel)."""
    greedy: bool = True
    """Act greedily (mode of each policy) during evaluation; false samples."""
    compositions: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """Held-out team compositions, evaluated besides the training environment and reported
    separately: name -> environment fields to override, e.g. `{6v6: {allies: [6, 6]}}` for
    smax_teams or `{BB: {teams: [BB]}}` for team_matrix. Only an environment's composition
    fields may change (the trained networks must fit every composition); with slot-independent
    networks (MIPI's `attack_head: entity` on smax_teams) a composition runs in its own slot count."""


class WandbSpec(Spec):
    """A Weights & Biases run beside metrics.jsonl (extra `wandb`: pip install -e ".[wandb]")."""

    project: str = Field("marlspec", min_length=1)
    """W&B project name."""
    entity: str | None = None
    """W&B entity (user or team); None uses the logged-in default."""
    mode: Literal["offline", "online", "disabled"] = "offline"
    """`offline` writes to <run dir>/wandb/ with no network (upload later with `wandb sync`)."""
    group: str | None = None
    """W&B group, e.g. a sweep's name."""
    tags: list[str] = Field(default_factory=list)
    """W&B tags."""


def _installed(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class LogSpec(Spec):
    """Outputs of a run."""

    out_dir: str = "runs"
    """Parent folder of run directories."""
    progress: bool = True
    """Show a progress bar."""
    checkpoint: bool = True
    """Save a checkpoint (everything `marlspec run --resume` needs) after evaluations, atomically."""
    checkpoint_every: int = Field(default=1, ge=1)
    """Evaluations between checkpoints (1: after every evaluation); the last one is always saved."""
    plot: bool = True
    """Write plots/learning_curve.png at the end."""
    tensorboard: bool = False
    """Also write every metrics.jsonl record as TensorBoard scalars to <run dir>/tensorboard/
    (extra `tensorboard`: pip install -e ".[tensorboard]")."""
    wandb: WandbSpec | None = None
    """Also log every metrics.jsonl record to Weights & Biases (offline unless `mode: online`)."""

    @field_validator("tensorboard")
    @classmethod
    def _tensorboard(cls, on: bool) -> bool:
        if on and not _installed("tensorboardX"):
            raise ValueError('needs tensorboardX, which is not installed: pip install -e ".[tensorboard]" (or set it false)')
        return on

    @field_validator("wandb")
    @classmethod
    def _wandb(cls, w: WandbSpec | None) -> WandbSpec | None:
        if w is not None and w.mode != "disabled" and not _installed("wandb"):
            raise ValueError('needs wandb, which is not installed: pip install -e ".[wandb]" (or remove log.wandb)')
        return w


class ExperimentSpec(Spec):
    """A complete experiment: environment x algorithm x network, plus budget, evaluation and logging."""

    name: str = Field("experiment", min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    """Run name, used in the run directory name (letters, digits, `_ . -`)."""
    plugins: list[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")]] = Field(
        default_factory=list)
    """Modules that register algorithms from outside marlspec (`marlspec.register_algorithm`),
    imported before the rest of the spec is validated, e.g. `[examples.qplex_lite]` (the current
    directory is searched first). Unlike the import paths of `env.kind: pettingzoo`, which
    `validate` does not import, a module listed here IS imported by `validate` (and `run`, `eval`,
    `run --resume`): list only code you trust. See docs/writing-an-algorithm.md."""
    env: EnvSpec
    """The environment."""
    algorithm: AlgorithmSpec
    """The algorithm."""
    network: NetworkSpec = Field(default_factory=MLPSpec)
    """The actor/critic torso."""
    train: TrainSpec = Field(default_factory=TrainSpec)
    """Training budget and batch shape."""
    eval: EvalSpec = Field(default_factory=EvalSpec)
    """Evaluation schedule."""
    log: LogSpec = Field(default_factory=LogSpec)
    """Outputs."""

    @model_validator(mode="after")
    def _compatible(self) -> ExperimentSpec:
        algo, env, train = self.algorithm, self.env, self.train
        if env.action_type == "continuous" and not algo.supports_continuous:
            fail(
                "algorithm.kind",
                f"{algo.kind} needs discrete actions; env {env.label} is continuous"
                " (choose an algorithm that supports continuous actions)",
            )
        not_read = getattr(algo, "not_read", None)
        stray = sorted(not_read(env.action_type) & algo.changed_fields) if not_read else []
        if stray:
            fail(f"algorithm.{stray[0]}", f"{stray[0]} is not read by {algo.kind} with this configuration on"
                 f" {env.action_type} actions (env {env.label}); remove it")
        if train.anneal_lr and isinstance(algo, OffPolicySpec):  # `false` is what every dumped spec.yaml holds
            fail("train.anneal_lr", f"is read only by the PPO-family algorithms; {algo.kind} (off-policy) keeps"
                 " train.lr constant; remove it", train.anneal_lr)
        minibatches = getattr(algo, "num_minibatches", None)
        if minibatches is not None and train.num_envs % minibatches:
            fail(
                "algorithm.num_minibatches",
                f"minibatch count {minibatches} does not divide train.num_envs = {train.num_envs}"
                " (minibatches hold whole environment sequences); pick a divisor",
                minibatches,
            )
        if isinstance(train.devices, int) and train.num_envs % train.devices:
            fail("train.devices", f"train.num_envs = {train.num_envs} does not split evenly over {train.devices} devices;"
                 " make num_envs a multiple of the device count", train.devices)
        if train.devices != 1 and env.kind == "pettingzoo":
            fail("train.devices", "pettingzoo environments are stepped on the host, so their batch cannot be sharded"
                 " over devices; use devices: 1", train.devices)
        steps = getattr(env, "max_episode_steps", None)
        if isinstance(algo, OffPolicySpec) and steps is not None and algo.buffer_size < train.num_envs * (steps + 1):
            need = train.num_envs * (steps + 1)
            fail(
                "algorithm.buffer_size",
                f"{algo.buffer_size} episodes is too small for train.num_envs = {train.num_envs} environments with"
                f" episodes of up to {steps} steps (each environment keeps a slot while it writes); use at least {need}",
                algo.buffer_size,
            )
        if train.num_updates < 1:
            fail(
                "train.total_env_steps",
                f"{train.total_env_steps} is less than one update of num_envs x rollout_length"
                f" = {train.steps_per_update} steps; raise it or shrink the batch",
                train.total_env_steps,
            )
        return self

    @model_validator(mode="after")
    def _teams(self) -> ExperimentSpec:
        """Dynamic teams: entity networks, entity-structured environments, held-out compositions."""
        algo, env, net = self.algorithm, self.env, self.network
        wants_entities = getattr(algo, "entity_network", False)
        if wants_entities and net.kind != "entity":
            fail("network.kind", f"{algo.kind} attends over entities and takes no fixed-N agent id; use network:"
                 " {kind: entity}", net.kind)
        if net.kind == "entity" and not wants_entities:
            fail("network.kind", f"the entity network is read by algorithm kind mipi only ({algo.kind} needs"
                 " mlp or gru)", net.kind)
        if wants_entities and not getattr(env, "entity_view", False):
            fail("env.kind", f"{algo.kind} needs entity-structured observations and state; env {env.label} has"
                 " none (use team_matrix or smax_teams)", env.kind)
        if getattr(env, "dynamic_team", False) and net.kind != "entity":
            fail("network.kind", f"env {env.label} changes its team size every episode; a {net.kind} network is"
                 " sized to a fixed number of agents; use algorithm kind mipi with network: {kind: entity}",
                 net.kind)
        longest = getattr(env, "longest_episode", None)
        buffer = getattr(algo, "buffer_size", None)
        if wants_entities and longest is not None and buffer is not None and buffer < self.train.num_envs * (longest + 1):
            fail("algorithm.buffer_size", f"{buffer} episodes is too small for {self.train.num_envs} environments with"
                 f" episodes of up to {longest} steps (each environment writes its own episode slot); use at least"
                 f" {self.train.num_envs * (longest + 1)} or fewer train.num_envs", buffer)
        for name in self.eval.compositions:
            self.composition_env(name)
        return self

    def composition_env(self, name: str) -> EnvSpec:
        """The environment spec of the held-out composition `name` of `eval.compositions`."""
        override = self.eval.compositions[name]
        allowed: tuple[str, ...] = getattr(self.env, "composition_fields", ())
        where = f"eval.compositions.{name}"
        if not allowed:
            fail(where, f"env {self.env.label} has no team compositions to evaluate; remove eval.compositions")
        if not isinstance(override, dict) or not override:
            fail(where, f"must map composition fields to values, e.g. {{{allowed[0]}: ...}}", override)
        for key in override:
            if key not in allowed:
                fail(f"{where}.{key}", f"a composition may only set {', '.join(allowed)} (the other env fields shape"
                     " the trained networks)")
        try:
            freeze = getattr(self.env, "composition_frozen", None)
            frozen = freeze(getattr(self.algorithm, "slot_independent", False)) if freeze is not None else {}
            return type(self.env).model_validate({**self.env.model_dump(), **frozen, **override})
        except ValidationError as err:
            first = err.errors()[0]
            ctx = first.get("ctx") or {}
            path = str(ctx.get("path", "env")).removeprefix("env").lstrip(".") or ".".join(map(str, first["loc"]))
            message = ctx.get("message", first["msg"])
            fail(f"{where}.{path}" if path else where, f"{message} (this composition cannot be built)")

    @property
    def updates_per_chunk(self) -> int:
        """Updates compiled into one chunk: one eval interval's worth, at least one."""
        return max(1, min(self.train.num_updates, self.eval.interval // self.train.steps_per_update))

    @property
    def mode_label(self) -> Literal["greedy", "stochastic"]:
        return "greedy" if self.eval.greedy else "stochastic"
