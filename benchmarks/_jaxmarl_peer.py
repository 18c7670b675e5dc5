"""JaxMARL's own baseline scripts as programs to time beside ours (benchmarks/peer_configs.py).

Nothing from JaxMARL is copied here: `load_script` imports a script from a JaxMARL snapshot
that the user points at (`--jaxmarl DIR`, e.g. a checkout of FLAIROx/JaxMARL kept outside this
repository), reads its own YAML config, overrides only the budget (and the map where issue 21
compares on SMAX 3m), and returns its `train(rng)` function, the way the script's own `main`
builds it. The `jaxmarl` package the scripts import is the installed one (the environments
our adapters wrap), so both programs step the same environment code.

The scripts import `wandb`, `hydra` and `omegaconf` for logging and configuration; when those
are not installed, stand-ins that do nothing are put in `sys.modules` before the import, and
the script's `wandb` is always replaced by a stand-in whose `log` does nothing (the scripts'
per-update host callbacks stay in their programs, as in a real run with logging disabled).
They also need `distrax` and `flashbax` (`pip install distrax flashbax`).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

SCRIPTS: dict[str, dict[str, Any]] = {
    # JaxMARL script, its config file(s), and what issue 21 changes (the map only).
    "ippo_ff_mpe": {"script": "baselines/IPPO/ippo_ff_mpe.py", "configs": ["baselines/IPPO/config/ippo_ff_mpe.yaml"],
                    "set": {}},
    "mappo_rnn_mpe": {"script": "baselines/MAPPO/mappo_rnn_mpe.py",
                      "configs": ["baselines/MAPPO/config/mappo_homogenous_rnn_mpe.yaml"], "set": {}},
    "mappo_rnn_smax": {"script": "baselines/MAPPO/mappo_rnn_smax.py",
                       "configs": ["baselines/MAPPO/config/mappo_homogenous_rnn_smax.yaml"], "set": {"MAP_NAME": "3m"}},
    "qmix_rnn_smax": {"script": "baselines/QLearning/qmix_rnn.py",
                      "configs": ["baselines/QLearning/config/config.yaml",
                                  "baselines/QLearning/config/alg/ql_rnn_smax.yaml"],
                      # No greedy test inside the timed program (ours times no evaluation either):
                      # at a short budget the script would test 512 envs x 128 steps every 5% of updates.
                      "set": {"MAP_NAME": "3m", "WANDB_MODE": "disabled", "TEST_DURING_TRAINING": False}},
}


class _Anything(types.ModuleType):
    """A module whose every attribute is a do-nothing callable (a stand-in for wandb/hydra)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)

        def nothing(*args: Any, **kwargs: Any) -> Any:
            if len(args) == 0 and kwargs:  # used as a decorator factory: hydra.main(...)
                return lambda fn: fn
            return None

        return nothing


def _stand_in(name: str) -> None:
    try:
        importlib.import_module(name)
    except ImportError:
        sys.modules[name] = _Anything(name)


def _number(x: Any) -> Any:
    """JaxMARL's YAML is read by OmegaConf, which reads `1e7` as a number; PyYAML reads it as text."""
    if isinstance(x, str):
        try:
            return float(x)
        except ValueError:
            return x
    return x


def read_config(root: Path, name: str) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for rel in SCRIPTS[name]["configs"]:
        loaded = yaml.safe_load((root / rel).read_text()) or {}
        config.update({k: _number(v) for k, v in loaded.items() if k != "defaults"})
    config.update(SCRIPTS[name]["set"])
    return config


def load_script(root: Path, name: str) -> types.ModuleType:
    for dep in ("wandb", "hydra", "omegaconf"):
        _stand_in(dep)
    path = root / SCRIPTS[name]["script"]
    if not path.exists():
        raise FileNotFoundError(f"--jaxmarl {root}: no {SCRIPTS[name]['script']} there (a JaxMARL checkout is expected)")
    spec = importlib.util.spec_from_file_location(f"jaxmarl_peer_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.wandb = _Anything("wandb")  # type: ignore[attr-defined]
    return module


def peer_train(root: Path, name: str, total_steps: int, num_seeds: int) -> tuple[Callable[[Any], Any], dict[str, Any]]:
    """JaxMARL's `train(rng)` for `name` at its default configuration with `total_steps`
    environment steps per seed, and the configuration used. `num_seeds > 1` vmaps it over
    seeds, as the scripts' own `main` does."""
    import jax

    module = load_script(root, name)
    config = read_config(root, name)
    config["TOTAL_TIMESTEPS"] = total_steps
    config["NUM_SEEDS"] = num_seeds
    if name == "qmix_rnn_smax":
        config = {**config, **config.get("alg", {})}
        env, _ = module.env_from_config(dict(config, ENV_KWARGS=dict(config["ENV_KWARGS"])))
        train = module.make_train(config, env)
    else:
        train = module.make_train(config)
    return (jax.vmap(train) if num_seeds > 1 or name in ("ippo_ff_mpe", "qmix_rnn_smax") else train), config
