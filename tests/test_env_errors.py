"""Bad environment input gets a one-line error that names the valid options: unknown maps,
presets and scenarios (at spec time), the form of a PettingZoo import path (at spec time),
a PettingZoo module, factory or keyword argument that does not exist (when the environment
is built: validating a spec imports no user module), and a missing optional dependency
(when the environment is built)."""

from __future__ import annotations

import sys

import pytest

from marlspec.spec import SpecError, parse_spec

ALGO = "algorithm: {kind: mappo}\n"


def _error(env_yaml: str) -> str:
    with pytest.raises(SpecError) as err:
        parse_spec(f"env: {env_yaml}\n{ALGO}")
    message = str(err.value)
    assert "\n" not in message, message
    return message


@pytest.mark.parametrize(
    ("env", "field", "names"),
    [
        ("{kind: smax, map: 3mm}", "env.map", ["did you mean '3m'", "2s3z", "smacv2_20_units"]),
        ("{kind: smax, map: MMM2}", "env.map", ["'MMM2' is not in SMAX", "3m", "27m_vs_30m"]),
        ("{kind: smax, map: corridor}", "env.map", ["'corridor' is not in SMAX", "6h_vs_8z"]),
        ("{kind: lbf, task: 15x15-3p-6f}", "env.task", ["unknown LBF task", "15x15-3p-5f", "8x8-2p-2f-coop"]),
        ("{kind: rware, task: huge-4ag}", "env.task", ["unknown RWARE task", "tiny-2ag", "xlarge-4ag-hard"]),
        ("{kind: connector, task: con-6x6x3a}", "env.task", ["unknown Connector task", "con-5x5x3a", "con-15x15x23a"]),
        ("{kind: mabrax, scenario: ant_2x4}", "env.scenario", ["unknown MABrax scenario", "ant_4x2", "humanoid_9|8"]),
        ("{kind: mpe, scenario: simple_sprd}", "env.scenario", ["did you mean 'simple_spread'", "simple_tag"]),
        ("{kind: mpe, scenario: simple_push}", "env.scenario", ["adversarial", "simple_speaker_listener"]),
    ],
)
def test_unknown_preset_names_list_the_choices(env: str, field: str, names: list[str]) -> None:
    message = _error(env)
    assert message.startswith(field), message
    for name in names:
        assert name in message, (name, message)


@pytest.mark.parametrize(
    ("env", "field", "names"),
    [
        ("{kind: pettingzoo, env: 'mpe2.simple_sprd_v3:parallel_env'}", "env.env",
         ["no module named 'mpe2.simple_sprd_v3'", "mpe2.simple_spread_v3"]),
        ("{kind: pettingzoo, env: 'no_such_package.envs:make'}", "env.env",
         ["no module named 'no_such_package.envs'", "installed"]),
        ("{kind: pettingzoo, env: 'mpe2.simple_spread_v3:paralel_env'}", "env.env",
         ["no factory 'paralel_env'", "parallel_env", "raw_env"]),
        ("{kind: pettingzoo, env: 'mpe2.simple_spread_v3:parallel_env', kwargs: {n_agents: 3}}", "env.kwargs",
         ["unknown argument 'n_agents'", "N", "max_cycles", "local_ratio"]),
        ("{kind: pettingzoo, env: 'mpe2.simple_spread_v3:parallel_env', kwargs: {max_cycle: 3}}", "env.kwargs",
         ["did you mean 'max_cycles'"]),
    ],
)
def test_bad_pettingzoo_paths_and_kwargs(env: str, field: str, names: list[str]) -> None:
    from marlspec.compile import compile as compile_spec

    spec = parse_spec(f"env: {env}\n{ALGO}")  # the form is fine: validation imports nothing
    with pytest.raises(SpecError) as err:
        compile_spec(spec)
    message = str(err.value)
    assert "\n" not in message, message
    assert message.startswith(field), message
    for name in names:
        assert name in message, (name, message)


def test_adapters_reject_unknown_names_in_one_line() -> None:
    from marlspec.envs.jumanji_envs import LBF
    from marlspec.envs.smax import SMAX

    for make, bad in ((SMAX, "MMM2"), (LBF, "tiny-2ag")):
        with pytest.raises(ValueError) as err:
            make(bad)
        assert "\n" not in str(err.value) and "choices:" in str(err.value)


def test_pettingzoo_action_type_mismatch_is_one_line() -> None:
    from marlspec.envs.pettingzoo import PettingZooEnv

    with pytest.raises(ValueError) as err:
        PettingZooEnv("mpe2.simple_spread_v3:parallel_env", {"N": 3}, actions="continuous")
    assert "\n" not in str(err.value) and "set actions: discrete" in str(err.value)


def test_missing_brax_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from marlspec.envs.mabrax import MABrax

    monkeypatch.setitem(sys.modules, "brax", None)  # makes `import brax` fail
    with pytest.raises(ImportError) as err:
        MABrax("ant_4x2")
    assert str(err.value) == "mabrax needs brax, which is not installed: pip install marlspec[mabrax]"


@pytest.mark.parametrize("path", ["simple_spread_v3", "mpe2 simple:env", "a:b:c", ":factory", "module:", "1mod:f",
                                  "my-envs:Relay", "pkg..mod:f"])
def test_malformed_pettingzoo_path_is_a_spec_error(path: str) -> None:
    message = _error(f"{{kind: pettingzoo, env: '{path}'}}")
    assert message.startswith("env.env: ") and "module:factory" in message, message


def test_validating_a_pettingzoo_spec_imports_nothing(tmp_path, monkeypatch) -> None:
    """A module named by a spec must not run when the spec is validated (`validate`); it runs
    when the environment is built."""
    (tmp_path / "side_effect_env.py").write_text(
        "import pathlib\npathlib.Path(__file__).with_name('imported').write_text('yes')\n"
        "def parallel_env(**kwargs):\n    raise RuntimeError('not a real env')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = parse_spec(f"env: {{kind: pettingzoo, env: 'side_effect_env:parallel_env', max_steps: 5}}\n{ALGO}")
    assert spec.env.max_episode_steps == 5
    assert not (tmp_path / "imported").exists()
    assert "side_effect_env" not in sys.modules
