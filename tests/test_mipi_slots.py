"""MIPI's slot-independent action heads (`attack_head: entity`, `nn.entity.EntityActionHead`):
the same parameters run in any slot count, padded or absent slots change no utility or logit of
a present action, the attack on enemy j is scored from enemy j's row, SMAX's attack actions
target the enemy rows `EnvInfo.attack_entities` names, held-out compositions with more slots
than training are evaluated in their own slot count and reported, and `validate` still rejects
a composition larger than padded (`attack_head: slots`) networks can take."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from typer.testing import CliRunner

from marlspec.algorithms.mipi import MIPI, MIPIConfig
from marlspec.algorithms.off_policy import OffPolicyConfig
from marlspec.cli import app
from marlspec.envs.base import EnvInfo, TimeStep
from marlspec.nn import TorsoFactory
from marlspec.nn.entity import EntityActionHead, EntityNetConfig
from marlspec.spec import load_spec
from marlspec.train.replay import Episodes
from tests.test_spec_errors import check_one_line

D, OWN, M, L = 3, 2, 3, 3
"""Entity features, own features, non-attack actions, episode length of the synthetic teams."""


def info(slots: int) -> EnvInfo:
    """A synthetic SMAX-like team: `slots` allies and `slots` enemies; each agent sees the other
    allies then the enemies (one row each), then its own features; actions are M moves then one
    attack per enemy slot, attack k targeting observation row slots - 1 + k."""
    e, g = 2 * slots - 1, 2 * slots
    return EnvInfo(
        name="synthetic/attacks", num_agents=slots, obs_dim=e * D + OWN, state_dim=g * D, action_type="discrete",
        num_actions=M + slots, max_steps=L, n_entities=e, entity_dim=D, own_features=(e * D, e * D + 1),
        entity_ids=tuple(tuple([j for j in range(slots) if j != i] + list(range(slots, g))) for i in range(slots)),
        state_entity_dim=D, dynamic_team=True, attack_entities=tuple(range(slots - 1, 2 * slots - 1)),
    )


def mipi(slots: int, attack_head: str = "entity") -> MIPI:
    config = OffPolicyConfig(
        gamma=0.9, td_lambda=0.0, buffer_size=8, batch_size=32, train_steps=1, target_update_interval=200,
        target_update_unit="episodes", reward_scale=1.0, optimizer="adam", lr=5e-4, max_grad_norm=10.0,
        epsilon_start=1.0, epsilon_end=0.05, epsilon_anneal_steps=50_000, alpha_start=0.5, alpha_end=0.05,
        alpha_anneal_steps=200_000, last_action=True, agent_id=False, num_envs=1, double_q=None, mixing_embed=8,
        hypernet_embed=None, dependency_embed=None, attention_heads=2, mixing=None, first_agent_correction=None,
        normalize_state=False)
    return MIPI(info=info(slots), config=config, make_torso=TorsoFactory("gru", (8,), 8, "relu"),
                net=EntityNetConfig(embed=8, heads=2, hidden=8, recurrent=True, activation="relu"),
                mipi=MIPIConfig(regularizer="mi", ba_iterations=1, imagine=True, imagine_lambda=0.5, shared_torso=True,
                                actor_utility="q", attack_head=attack_head))


def full_team(n: int, batch: int = 2, seed: int = 0) -> Episodes:
    """Random episodes of n allies against n enemies in n slots (everyone present); every action
    is available except a random subset of attacks, and the actions taken are available ones."""
    k = jax.random.split(jax.random.PRNGKey(seed), 6)
    L1, e, g = L + 1, 2 * n - 1, 2 * n
    rows = jax.random.normal(k[0], (batch, L1, n, e, D))
    own = jax.random.normal(k[1], (batch, L1, n, OWN))
    avail = (jax.random.uniform(k[2], (batch, L1, n, M + n)) > 0.4).at[..., :M].set(True)
    actions = jax.random.categorical(k[3], jnp.where(avail, 0.0, -jnp.inf)).astype(jnp.int32)
    return Episodes(
        obs=jnp.concatenate([rows.reshape(batch, L1, n, e * D), own], -1),
        state=jax.random.normal(k[4], (batch, L1, g * D)), avail_actions=avail,
        agent_mask=jnp.ones((batch, L1, n), bool), actions=actions, reward=jax.random.normal(k[5], (batch, L1)),
        terminated=jnp.zeros((batch, L1), bool).at[:, L - 1].set(True), truncated=jnp.zeros((batch, L1), bool),
        length=jnp.full((batch,), L, jnp.int32),
    )


def padded(ep: Episodes, n: int, slots: int) -> Episodes:
    """The same episodes written in `slots` slots, as an environment writes a team of n: the
    absent allies' and enemies' rows zero everywhere, their attacks unavailable, the absent
    agent slots masked out (stop only)."""
    B, L1, extra = ep.obs.shape[0], ep.obs.shape[1], slots - n
    e = 2 * n - 1
    rows = ep.obs[..., : e * D].reshape(B, L1, n, e, D)
    zeros = jnp.zeros((B, L1, n, extra, D))
    rows = jnp.concatenate([rows[..., : n - 1, :], zeros, rows[..., n - 1:, :], zeros], -2)  # other allies, enemies
    obs = jnp.concatenate([rows.reshape(B, L1, n, -1), ep.obs[..., e * D:]], -1)
    obs = jnp.concatenate([obs, jnp.zeros((B, L1, extra, obs.shape[-1]))], -2)
    srows = ep.state.reshape(B, L1, 2 * n, D)
    szeros = jnp.zeros((B, L1, extra, D))
    state = jnp.concatenate([srows[..., :n, :], szeros, srows[..., n:, :], szeros], -2).reshape(B, L1, -1)
    avail = jnp.concatenate([ep.avail_actions, jnp.zeros((B, L1, n, extra), bool)], -1)
    avail = jnp.concatenate([avail, jnp.zeros((B, L1, extra, M + slots), bool).at[..., 0].set(True)], -2)
    return eqx.tree_at(
        lambda x: (x.obs, x.state, x.avail_actions, x.agent_mask, x.actions), ep,
        (obs, state, avail, jnp.broadcast_to(jnp.arange(slots) < n, (B, L1, slots)),
         jnp.concatenate([ep.actions, jnp.zeros((B, L1, extra), jnp.int32)], -1)))


def outputs(algo: MIPI, params, ep: Episodes) -> dict[str, jax.Array]:
    """Real-view utilities, policy logits, the marginal's log-probabilities and the mixing
    weights of every episode position."""
    critic, policy, marginal = params

    def one(e: Episodes) -> dict[str, jax.Array]:
        _, aux = algo.critic_terms(params, params, e, jax.random.PRNGKey(1), jnp.asarray(0.3))
        logm = jax.nn.log_softmax(jnp.where(aux["avail"], algo.marginal_logits(marginal, aux, aux["avail"]), -1e9))
        return {"q": aux["q"], "logits": algo.policy_logits(policy, aux, "real"), "marginal": logm, "w": aux["w"]}

    return eqx.filter_jit(jax.vmap(one))(ep)


@pytest.fixture(scope="module")
def trained_in_5():
    return mipi(5).init_params(jax.random.PRNGKey(0))


@pytest.mark.parametrize("slots", [3, 5, 8])
def test_the_same_parameters_run_in_any_slot_count(trained_in_5, slots):
    """Parameters made for 5 slots have the shapes of those made for 3 or 8, and act and train
    (every loss finite) in 3, 5 and 8 slots."""
    algo = mipi(slots)
    shapes = lambda p: [x.shape for x in jax.tree.leaves(eqx.filter(p, eqx.is_array))]
    assert shapes(algo.init_params(jax.random.PRNGKey(1))) == shapes(trained_in_5)
    losses = eqx.filter_jit(algo.losses)(trained_in_5, trained_in_5, full_team(slots), jax.random.PRNGKey(2),
                                         jnp.asarray(0.3))
    assert {"critic_loss", "imagined_loss", "policy_loss", "marginal_loss"} <= set(losses)
    assert all(np.isfinite(float(v)) for v in losses.values())
    ep = full_team(slots)
    ts = TimeStep(obs=ep.obs[0, 0], state=ep.state[0, 0], avail_actions=ep.avail_actions[0, 0],
                  agent_mask=ep.agent_mask[0, 0], reward=ep.reward[0, 0], terminated=ep.terminated[0, 0],
                  truncated=ep.truncated[0, 0], info={})
    state = eqx.tree_at(lambda s: s.params, algo.init(jax.random.PRNGKey(3)), trained_in_5)
    actions, carry, _ = eqx.filter_jit(algo.act)(state, ts, algo.initial_carry(), jax.random.PRNGKey(4), "execution",
                                                 True)
    assert actions.shape == (slots,) and bool(ts.avail_actions[jnp.arange(slots), actions].all())
    assert carry[1].shape == (slots, M + slots)


@pytest.mark.parametrize("slots", [5, 8])
def test_absent_slots_change_no_output_of_a_present_action(trained_in_5, slots):
    """A team of 3 against 3 gives the same Q_i, policy logits, marginal probabilities and
    mixing weights, for its agents and their actions (moves and attacks on the 3 enemies),
    whether it is written in 3 slots or padded into 5 or 8."""
    ep = full_team(3)
    small = outputs(mipi(3), trained_in_5, ep)
    big = outputs(mipi(slots), trained_in_5, padded(ep, 3, slots))
    for name in ("q", "logits", "marginal"):
        np.testing.assert_allclose(big[name][..., :3, : M + 3], small[name], rtol=1e-5, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(big["w"][..., :3], small["w"], rtol=1e-5, atol=1e-6)
    assert float(jnp.abs(big["w"][..., 3:]).max()) == 0.0


def test_the_padding_check_sees_a_present_enemy(trained_in_5):
    """Not vacuous: writing a PRESENT enemy's row into the padding (a 4th enemy appears)
    changes the present actions' utilities."""
    ep = full_team(3)
    big = padded(ep, 3, 5)
    rows = big.obs[..., : 9 * D].reshape(*big.obs.shape[:3], 9, D)
    rows = rows.at[..., :3, 7, :].set(1.0)  # enemy slot 3 (row 4 + 3) seen by the present agents
    big = eqx.tree_at(lambda x: x.obs, big, jnp.concatenate([rows.reshape(*rows.shape[:3], -1), big.obs[..., 9 * D:]], -1))
    moved = outputs(mipi(5), trained_in_5, big)
    base = outputs(mipi(3), trained_in_5, ep)
    assert float(jnp.abs(moved["q"][..., :3, : M + 3] - base["q"]).max()) > 1e-4


def test_attack_j_is_scored_from_enemy_j_row(trained_in_5):
    """With the agent's features held fixed, changing enemy j's row changes the output of
    attacking j and no other output (a head that scores attacks from the agent's features alone,
    or reads another row, fails this); for Q_i and for the policy."""
    algo = mipi(5)
    critic, policy, _ = trained_in_5
    k = jax.random.split(jax.random.PRNGKey(7), 3)
    features = jax.random.normal(k[0], (8,))
    rows = jax.random.normal(k[1], (9, algo.row_dim))
    mask = jnp.ones(9, bool)
    for head in (critic.q_head, policy.head):
        assert isinstance(head, EntityActionHead)
        base = algo.apply_head(head, features, rows, mask)
        assert base.shape == (M + 5,)
        for j in range(5):
            other = algo.apply_head(head, features, rows.at[4 + j].set(jax.random.normal(k[2], (algo.row_dim,))), mask)
            changed = np.abs(np.asarray(other - base)) > 1e-7
            assert changed[M + j], f"attack {j} does not read enemy {j}'s row"
            assert not changed[np.arange(M + 5) != M + j].any(), f"enemy {j}'s row changed another action"


def test_the_marginal_splits_one_attack_probability_over_the_available_attacks(trained_in_5):
    """pibar_i(.|s_i^+) cannot see the enemies: every available attack has the same probability
    and their total does not depend on how many attacks are available."""
    algo = mipi(5)
    marginal = trained_in_5[2]
    x = algo.entity_inputs(jax.tree.map(lambda v: v[0], full_team(5)))
    ones = jnp.ones((L + 1, 5, M + 5), bool)
    for n in (1, 3, 5):
        avail = ones.at[..., M + n:].set(False)
        probs = jax.nn.softmax(jnp.where(avail, algo.marginal_logits(marginal, x, avail), -jnp.inf))
        np.testing.assert_allclose(probs[..., M: M + n], jnp.broadcast_to(probs[..., M: M + 1], probs[..., M: M + n].shape),
                                   rtol=1e-5)
        total = probs[..., M:].sum(-1)
        if n == 1:
            first = total
        np.testing.assert_allclose(total, first, rtol=1e-5, atol=1e-7)


def test_the_last_action_is_encoded_without_slots():
    """The previous action enters as the moves' one-hot and an attacked bit in s_i^+, and a "was
    my target" column that is 1 on the attacked enemy's row only (zero before the first step)."""
    algo = mipi(5)
    ep = jax.tree.map(lambda v: v[0], full_team(5))
    x = algo.entity_inputs(ep)
    prev = ep.actions[:-1]
    own_last = x["own"][1:, :, OWN:]
    np.testing.assert_array_equal(own_last[..., :M], jax.nn.one_hot(prev, M + 5)[..., :M])
    np.testing.assert_array_equal(own_last[..., M], (prev >= M).astype(jnp.float32))
    target = x["rows"][1:, :, :, -1]
    expected = jnp.zeros_like(target).at[..., 4:9].set(jax.nn.one_hot(prev - M, 5) * (prev >= M)[..., None])
    np.testing.assert_array_equal(target, expected)
    assert bool((prev >= M).any()), "some attack must have been taken for this check"
    assert float(jnp.abs(x["own"][0, :, OWN:]).max()) == 0.0 and float(jnp.abs(x["rows"][0, :, :, -1]).max()) == 0.0


def test_padded_heads_keep_the_slot_count(trained_in_5):
    """`attack_head: slots` (REFIL's and MIPI's padded action space) is sized to the slots."""
    padded_params = mipi(5, "slots").init_params(jax.random.PRNGKey(0))
    assert padded_params[0].q_head.weight.shape[0] == M + 5
    assert mipi(8, "slots").init_params(jax.random.PRNGKey(0))[0].q_head.weight.shape[0] == M + 8


def test_smax_attacks_target_the_enemy_rows():
    """SMAX's action 5 + k attacks enemy slot k (global entity slots + k): the observation row
    `attack_entities[k]` is that enemy's, for every agent."""
    from marlspec.envs.smax_teams import SMAXTeams

    for slots in (3, 5):
        i = SMAXTeams((2, slots), None, ("stalker",), slots).info
        assert i.attack_entities is not None and i.num_actions - len(i.attack_entities) == 5
        assert i.entity_ids is not None
        for agent in range(slots):
            assert [i.entity_ids[agent][r] for r in i.attack_entities] == [slots + k for k in range(slots)]


# --------------------------------------------------------------------- held-out compositions, spec

TEAMS = """name: mipi_slots
env: {kind: smax_teams, allies: [1, 2], max_steps: 4}
algorithm: {kind: mipi, batch_size: 2, buffer_size: 10, mixing_embed: 8, attention_heads: 2}
network: {kind: entity, embed: 8, heads: 2, hidden: 8}
train: {total_env_steps: 40, num_envs: 2, rollout_length: 4, seeds: [0, 1]}
eval: {interval: 20, episodes: 2, compositions: {3v3: {allies: [3, 3]}, 2v2: {allies: [2, 2]}}}
log: {progress: false, checkpoint: false}
"""


def test_a_larger_composition_is_evaluated_in_its_own_slots_and_reported(tmp_path):
    """Training in 2 slots, 3v3 runs in 3 slots (its own program, the algorithm built for 3
    slots) and 2v2 in the training program; both are reported per seed."""
    from marlspec.compile import compile as compile_spec
    from marlspec.train.runner import CompositionEvals, init_states

    (tmp_path / "spec.yaml").write_text(TEAMS)
    spec = load_spec(tmp_path / "spec.yaml")
    assert spec.composition_env("3v3").resolved_slots == 3
    experiment = compile_spec(spec)
    held_out = CompositionEvals(spec, experiment)
    assert held_out._algorithms["2v2"] is experiment.algorithm
    assert held_out._algorithms["3v3"].info.num_agents == 3 and len(held_out._programs) == 2
    learners = init_states(experiment, [0, 1]).learner
    held_out.evaluate(learners, 0, [0, 1], 0)
    assert held_out.latest["3v3"]["return"].shape == (2, 2)
    record: dict = {}
    held_out.add_to(record, 1)
    assert set(record["compositions"]) == {"3v3", "2v2"}
    assert np.isfinite(record["compositions"]["3v3"]["eval_return"])
    assert set(held_out.summary()["3v3"]["final_return_per_seed"]) == {0, 1}


def test_padded_networks_reject_a_larger_composition(tmp_path):
    """`attack_head: slots` sizes the networks to env.slots: a held-out 8v8 of a 5-slot spec
    is refused by `validate` with one line naming the field and the fix."""
    text = TEAMS.replace("allies: [1, 2]", "allies: [3, 5]").replace("kind: mipi,", "kind: mipi, attack_head: slots,")
    text = text.replace("buffer_size: 10", "buffer_size: 2000").replace("3v3: {allies: [3, 3]}", "8v8: {allies: [8, 8]}")
    f = tmp_path / "padded.yaml"
    f.write_text(text)
    check_one_line(CliRunner().invoke(app, ["validate", str(f)]), "eval.compositions.8v8.allies",
                   "does not fit in env.slots = 5")
    ok = tmp_path / "entity.yaml"
    ok.write_text(text.replace("attack_head: slots", "attack_head: entity"))
    result = CliRunner().invoke(app, ["validate", str(ok)])
    assert result.exit_code == 0, result.output
