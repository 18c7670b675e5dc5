"""Mutation checks of the theorem suite: every claim's own property test must fail on a realistic bug.

A *mutant* is a small, plausible bug in a tabular reference of ``theory/`` (a sign flip, a dropped
prior, a wrong subset average, a marginal without rho-hat, a temperature dropped from a
log-sum-exp, ...). ``run_mutant`` patches it in (every reference to the original function in the
``theory`` and ``tests.theory`` modules is replaced, so code that imported the name directly sees
the mutant too), runs each of the mutant's *killers* -- property tests of THEOREMS.md, unchanged --
with a fixed budget of derandomized Hypothesis examples, and records whether the test failed with an
``AssertionError`` (killed), passed (survived) or crashed (an error that is not a failed check).

    python -m tests.theory.mutants                 # run every mutant, print the table
    python -m tests.theory.mutants --write         # ... and write it into theory/THEOREMS.md (nox -s mutants)

``tests/theory/test_mutations.py`` runs the same registry in CI and requires every killer to kill.
The table in THEOREMS.md (between the ``mutants`` markers) is written only by ``--write``.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, Phase, settings

ROOT = Path(__file__).resolve().parents[2]
THEOREMS = ROOT / "theory" / "THEOREMS.md"
BEGIN, END = "<!-- mutants:begin (written by `nox -s mutants`) -->", "<!-- mutants:end -->"

#: Examples per killer: CI (test_mutations.py) and the nox session.
CI_EXAMPLES = 100
SESSION_EXAMPLES = 1000


@dataclasses.dataclass(frozen=True)
class Mutant:
    """One bug, where it goes, and the property tests that must catch it.

    ``target`` is ``"module:function"``; ``make(original)`` returns the mutated function.
    ``killers`` are ``"test_module::test_name"`` in ``tests/theory``.
    """

    claim: str
    name: str
    bug: str
    target: str
    make: Callable[[Callable[..., Any]], Callable[..., Any]]
    killers: tuple[str, ...]


@dataclasses.dataclass
class Outcome:
    mutant: Mutant
    killer: str
    status: str  # "killed" | "survived" | "crashed"
    examples: int
    seconds: float
    message: str


@contextmanager
def patched(target: str, replacement: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    """Replace ``module:function`` in its module and wherever ``theory.*`` and ``tests.theory.*`` bound it."""
    mod_name, attr = target.split(":")
    original = getattr(importlib.import_module(mod_name), attr)
    hits: list[tuple[Any, str]] = []
    for name, mod in list(sys.modules.items()):
        ours = name == mod_name or name == "theory" or name.startswith(("theory.", "tests.theory."))
        if mod is None or not ours:
            continue
        for key, val in list(vars(mod).items()):
            if val is original:
                hits.append((mod, key))
    for mod, key in hits:
        setattr(mod, key, replacement)
    try:
        yield original
    finally:
        for mod, key in hits:
            setattr(mod, key, original)


def _test(killer: str) -> Any:
    module, name = killer.split("::")
    return getattr(importlib.import_module(f"tests.theory.{module}"), name)


def run_killer(killer: str, max_examples: int) -> tuple[str, int, float, str]:
    """Run one property test with ``max_examples`` derandomized examples and no shrinking."""
    test = _test(killer)
    if not getattr(test, "is_hypothesis_test", False):
        raise TypeError(f"{killer} is not a Hypothesis property test")
    own = test._hypothesis_internal_use_settings  # Hypothesis keeps a test's settings here
    inner = test.hypothesis.inner_test  # documented as reassignable (HypothesisWorks/hypothesis#1257)
    calls = [0]

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return inner(*args, **kwargs)

    test._hypothesis_internal_use_settings = settings(
        own, max_examples=max_examples, derandomize=True, database=None, deadline=None,
        phases=(Phase.explicit, Phase.generate), report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
    )
    test.hypothesis.inner_test = counted
    t0 = time.perf_counter()
    try:
        test()
        status, message = "survived", ""
    except AssertionError as exc:
        status, message = "killed", _first_line(exc)
    except Exception as exc:  # noqa: BLE001 - a crash is reported, not counted as a kill
        status, message = "crashed", f"{type(exc).__name__}: {_first_line(exc)}"
    finally:
        test._hypothesis_internal_use_settings = own
        test.hypothesis.inner_test = inner
    # Hypothesis replays the failing example once more to report it
    examples = calls[0] - 1 if status == "killed" else calls[0]
    return status, examples, time.perf_counter() - t0, message


def _first_line(exc: BaseException) -> str:
    """The assertion's own message, else the failing ``assert`` line of the test (its last frame in tests/theory)."""
    text = [t.strip() for t in str(exc).strip().splitlines() if t.strip()]
    if text:
        return text[0][:160]
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "tests/theory" in f.filename.replace("\\", "/")]
    return (frames[-1].line or type(exc).__name__)[:160] if frames else type(exc).__name__


def run_mutant(mutant: Mutant, max_examples: int) -> list[Outcome]:
    out = []
    original = getattr(importlib.import_module(mutant.target.split(":")[0]), mutant.target.split(":")[1])
    with patched(mutant.target, mutant.make(original)):
        for killer in mutant.killers:
            status, n, secs, msg = run_killer(killer, max_examples)
            out.append(Outcome(mutant, killer, status, n, secs, msg))
    return out


# ---------------------------------------------------------------------------
# Mutant builders
# ---------------------------------------------------------------------------


def with_kwargs(**forced: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The original function with some keyword arguments forced (e.g. a mutation flag)."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        def mutant(*args: Any, **kwargs: Any) -> Any:
            return orig(*args, **{**kwargs, **forced})

        return mutant

    return make


def _import_all() -> None:
    for m in ("test_magpo", "test_classics", "test_macpf", "test_mipi", "test_agentmixer",
              "test_primitives_vs_tabular"):
        importlib.import_module(f"tests.theory.{m}")


def forced_args(**changes: Callable[[Any], Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The original function with some positional-or-keyword arguments transformed, e.g. ``eta=lambda e: -e``."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(orig)

        def mutant(*args: Any, **kwargs: Any) -> Any:
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            for name, fn in changes.items():
                bound.arguments[name] = fn(bound.arguments[name])
            return orig(*bound.args, **bound.kwargs)

        return mutant

    return make


# ---------------------------------------------------------------------------
# Claim 2 (MAGPO Lemma 1)
# ---------------------------------------------------------------------------


def _subset_uniform(orig: Callable[..., Any]) -> Callable[..., Any]:
    def marginal_q(game: Any, joint: Any, agents: Any, *, others: str = "marginal") -> Any:
        if 0 < len(agents) < game.n_agents:  # the endpoints Q^{} = V and Q^{all} = Q stay right
            return orig(game, joint, agents, others="uniform")
        return orig(game, joint, agents, others=others)

    return marginal_q


def _marginal_reads_conditional(orig: Callable[..., Any]) -> Callable[..., Any]:
    def marginal_q(game: Any, joint: Any, agents: Any, *, others: str = "marginal") -> Any:
        return orig(game, joint, agents, others="conditional")

    return marginal_q


# ---------------------------------------------------------------------------
# Claim 3 (MAGPO Corollary 4.2)
# ---------------------------------------------------------------------------


def _eq26_prior_dropped(orig: Callable[..., Any]) -> Callable[..., Any]:
    from theory import tabular as T

    def guider_conditionals(game: Any, learner: Any, eta: Any, order: Any = None, *, others: str = "marginal",
                            condition_on_prefix: bool = True) -> list[Any]:
        order = list(range(game.n_agents)) if order is None else list(order)
        out = []
        for j, agent in enumerate(order):
            adv = T.multi_agent_advantage(game, learner, order[:j], [agent], others=others)
            out.append(T.softmax(eta * adv, axis=-1))  # BUG: no log pi^{i_j} prior
        return out

    return guider_conditionals


def _sequential_prior_dropped(orig: Callable[..., Any]) -> Callable[..., Any]:
    from theory import tabular as T

    def sequential_update(game: Any, learner: Any, eta: Any, order: Any = None) -> Any:
        n = game.n_agents
        order = list(range(n)) if order is None else list(order)
        new: list[Any] = [None] * n
        for j, agent in enumerate(order):
            e = T.multi_agent_advantage(game, learner, order[:j], [agent])
            for prev in order[:j]:
                m = new[prev]
                e = np.sum(e * m.reshape(m.shape + (1,) * (e.ndim - 2)), axis=1)
            new[agent] = T.softmax(eta * e, axis=-1)  # BUG: the KL anchor pi_k^{i_j} is dropped
        return new

    return sequential_update


# ---------------------------------------------------------------------------
# Claim 12 (the delta-constrained guider)
# ---------------------------------------------------------------------------


def _one_sided_box(orig: Callable[..., Any]) -> Callable[..., Any]:
    def _box_kl_step(w: Any, p: Any, delta: Any, iters: int = 200) -> Any:
        logd = np.log(delta)
        lo = np.min(w, axis=-1, keepdims=True) - logd - 1.0
        hi = np.max(w, axis=-1, keepdims=True) + logd + 1.0
        for _ in range(iters):
            mid = 0.5 * (lo + hi)
            q = np.minimum(p * np.exp(w - mid), p * delta)  # BUG: no lower bound p / delta
            too_big = q.sum(-1, keepdims=True) > 1.0
            lo = np.where(too_big, mid, lo)
            hi = np.where(too_big, hi, mid)
        q = np.minimum(p * np.exp(w - 0.5 * (lo + hi)), p * delta)
        return q / q.sum(-1, keepdims=True)

    return _box_kl_step


# ---------------------------------------------------------------------------
# Claims 4-6 (MACPF)
# ---------------------------------------------------------------------------


def _soft_marginal_at_alpha_i(orig: Callable[..., Any]) -> Callable[..., Any]:
    from scipy.special import logsumexp

    def conditional_soft_qs(q_jt: Any, alpha: float, alphas: Any, *, scale: bool = True) -> Any:
        q = np.asarray(q_jt, dtype=np.float64)
        n = q.ndim - 1
        ws: list[Any] = [None] * (n + 1)
        ws[n] = q
        for i in range(n, 0, -1):  # BUG: agent i soft-marginalised at its own alpha_i, not at alpha
            ws[i - 1] = alphas[i - 1] * logsumexp(ws[i] / alphas[i - 1], axis=-1)
        qs, vs = [], []
        for i in range(n):
            qi = (alphas[i] / alpha) * ws[i + 1]
            qs.append(qi)
            vs.append(alphas[i] * logsumexp(qi / alphas[i], axis=-1))
        return qs, vs

    return conditional_soft_qs


def _counterpart_matches_reward(orig: Callable[..., Any]) -> Callable[..., Any]:
    from theory import macpf, tabular

    def independent_counterpart(game: Any, dep_joint: Any) -> Any:
        per_state, records = [], []
        for s in range(game.n_states):  # BUG: E_ind[r] = E_dep[r] per state instead of E_ind[Q^dep] = V^dep
            target = float(np.sum(dep_joint[s] * game.reward[s]))
            m, rec = macpf.ivt_product_for_target(game.reward[s], target)
            per_state.append(m)
            records.append(rec)
        margs = [np.stack([per_state[s][i] for s in range(game.n_states)]) for i in range(game.n_agents)]
        return tabular.product_policy(margs), records

    return independent_counterpart


def _ivt_leg_reversed(orig: Callable[..., Any]) -> Callable[..., Any]:
    def ivt_product_for_target(table: Any, target: float) -> Any:
        margs, rec = orig(table, target)
        leg, t = rec["leg"], rec["t"]
        a_hi, a_lo = rec["a_max"], rec["a_min"]
        m = np.zeros_like(margs[leg])
        m[a_lo[leg]] += t  # BUG: the mixing weight applied to the wrong end of the leg
        m[a_hi[leg]] += 1.0 - t
        margs = [*margs[:leg], m, *margs[leg + 1 :]]
        return margs, rec

    return ivt_product_for_target


# ---------------------------------------------------------------------------
# Claims 7-8 (MIPI)
# ---------------------------------------------------------------------------


def _ba_variant(marginal: str = "rho", temperature: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Blahut-Arimoto (eqs. 12-13) with one bug: the marginal without rho-hat, or eq. 13 without 1/alpha."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        from scipy.special import logsumexp

        from theory import mipi

        def blahut_arimoto(q: Any, rho: Any, alpha: float, pi0: Any, n_iter: int, *, update_marginal: bool = True) -> Any:
            pi = np.asarray(pi0, dtype=np.float64)
            pols, margs, objs = [pi], [], [mipi.ba_objective(q, rho, pi, alpha)]
            for _ in range(n_iter):
                pibar = rho @ pi if marginal == "rho" else pi.mean(axis=0)  # BUG (marginal="mean")
                margs.append(pibar)
                with np.errstate(divide="ignore"):
                    logits = np.log(pibar)[None, :] + (q / alpha if temperature else q)  # BUG (temperature=False)
                pi = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
                pols.append(pi)
                objs.append(mipi.ba_objective(q, rho, pi, alpha))
            return mipi.BAResult(policies=pols, marginals=margs, objectives=np.asarray(objs))

        return blahut_arimoto

    return make


# ---------------------------------------------------------------------------
# Claims 9-10 (AgentMixer)
# ---------------------------------------------------------------------------


def _spread_from_zero(orig: Callable[..., Any]) -> Callable[..., Any]:
    from theory import agentmixer

    def gumbel_spread(h_bound: float, c: float) -> float:  # BUG: g(H) - g(0), half of the head range
        return float(agentmixer.gumbel_from_head(np.array(h_bound), c) - agentmixer.gumbel_from_head(np.array(0.0), c))

    return gumbel_spread


def _choice_probs_untruncated(orig: Callable[..., Any]) -> Callable[..., Any]:
    def sampled_choice_probs(logits: Any, c: float = 1.0) -> Any:
        return orig(logits, 1.0)  # BUG: the truncation of the noise at c is ignored (plain Gumbel-max)

    return sampled_choice_probs


def _lowrank_sampler(bug: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``igc.lowrank_gaussian_sample`` with one bug (a JAX function; the test traces it afresh)."""

    def make(orig: Callable[..., Any]) -> Callable[..., Any]:
        import jax

        def lowrank_gaussian_sample(key: Any, mean: Any, diag_std: Any, factor: Any) -> Any:
            k1, k2 = jax.random.split(key)
            e1 = jax.random.normal(k1, mean.shape, mean.dtype)
            if bug == "uniform_noise":  # U(0, 1) instead of N(0, 1) for the diagonal part
                e1 = jax.random.uniform(k1, mean.shape, mean.dtype)
            e2 = jax.random.normal(k2, factor.shape[1:], mean.dtype)
            shift = factor.sum(axis=1) if bug == "mixer_moves_mean" else 0.0  # the mixer's factor also moves the mean
            corr = 0.0 if bug == "factor_not_applied" else factor @ e2  # the low-rank part forgotten
            return mean + shift + diag_std * e1 + corr

        return lowrank_gaussian_sample

    return make


def _scale_without_log2(orig: Callable[..., Any]) -> Callable[..., Any]:
    import jax

    def igc_scale(individual_log_std: Any, head: Any) -> Any:
        return individual_log_std + jax.nn.log_sigmoid(head)  # BUG: std * sigmoid(h), not 2 sigmoid(h)

    return igc_scale


def _igc_check_always_passes(orig: Callable[..., Any]) -> Callable[..., Any]:
    def train_agentmixer(*args: Any, **kwargs: Any) -> Any:
        return dataclasses.replace(orig(*args, **kwargs), mode_agreement=True)  # BUG: IGC never checked

    return train_agentmixer


def _product_reads_agent0_obs(orig: Callable[..., Any]) -> Callable[..., Any]:
    def product_from_individual(game: Any, policies: Any) -> Any:
        n = game.n_agents
        out = np.ones((game.n_states,) + (1,) * n)
        for i, p in enumerate(policies):
            per_state = np.asarray(p)[np.minimum(np.asarray(game.obs[0]), len(p) - 1)]  # BUG: agent 0's observation
            shape = [game.n_states] + [1] * n
            shape[i + 1] = per_state.shape[1]
            out = out * per_state.reshape(shape)
        return out

    return product_from_individual


# ---------------------------------------------------------------------------
# Claims 11 and 13 (classics, IGO)
# ---------------------------------------------------------------------------


def _qmix_bad_elu(orig: Callable[..., Any]) -> Callable[..., Any]:
    from theory import classics

    def bad_elu(x: Any) -> Any:
        return np.where(x > 0, x, -np.expm1(np.minimum(x, 0.0)))  # BUG: sign of the negative branch

    def qmix(*args: Any, **kwargs: Any) -> Any:
        saved = classics.ACTIVATIONS["elu"]
        classics.ACTIVATIONS["elu"] = bad_elu
        try:
            return orig(*args, **kwargs)
        finally:
            classics.ACTIVATIONS["elu"] = saved

    return qmix


def _lse_without_temperature(orig: Callable[..., Any]) -> Callable[..., Any]:
    from theory import tabular

    def soft_optimal_value(payoff: Any, alpha: float) -> float:
        return float(alpha * tabular.logsumexp(np.asarray(payoff, dtype=np.float64), axis=None))  # BUG: r, not r/alpha

    return soft_optimal_value


CONTINUOUS = "test_primitives_vs_tabular::test_continuous_igc_samplers_keep_the_individual_means"

MUTANTS: tuple[Mutant, ...] = (
    Mutant("1", "eta_sign_flipped", "eq. 18 guider with exp(-eta Q)", "theory.magpo:guider_update",
           forced_args(eta=lambda e: -e),
           ("test_magpo::test_thm41_monotonic_improvement", "test_magpo::test_thm41_partial_coordinate_descent")),
    Mutant("1", "no_backtracking", "next guider = mu_hat instead of pi_{k+1}", "theory.magpo:magpo_step",
           with_kwargs(backtrack=False), ("test_magpo::test_thm41_monotonic_improvement",)),
    Mutant("2", "subset_q_uniform", "eq. 7 averages the other agents uniformly (proper subsets only)",
           "theory.tabular:marginal_q", _subset_uniform,
           ("test_magpo::test_lemma1_subset_q_matches_brute_force", "test_magpo::test_lemma1_advantage_decomposition")),
    Mutant("2", "marginal_reads_conditional", "eq. 7's marginal reading weighs the others by pi(. | s, a^i)",
           "theory.tabular:marginal_q", _marginal_reads_conditional,
           ("test_magpo::test_lemma1_subset_q_matches_brute_force", "test_magpo::test_lemma1_advantage_decomposition")),
    Mutant("3", "unconditioned_advantage", "eq. 26 with A^{i_j}(s, a^{i_j}) (prefix dropped)",
           "theory.magpo:guider_conditionals", with_kwargs(condition_on_prefix=False),
           ("test_magpo::test_cor42_eq26_last_factor_is_exact",)),
    Mutant("3", "eq26_prior_dropped", "eq. 26 factors without the learner's prior pi^{i_j}",
           "theory.magpo:guider_conditionals", _eq26_prior_dropped,
           ("test_magpo::test_cor42_eq26_last_factor_is_exact",)),
    Mutant("3", "eq28_prior_dropped", "eq. 28 without the KL anchor pi_k^{i_j} (softmax of eta A alone)",
           "theory.magpo:sequential_update", _sequential_prior_dropped,
           ("test_magpo::test_cor42_sequential_update_improves",)),
    Mutant("12", "delta_ignored", "the delta box dropped (the eq. 18 guider, CTDS's teacher)",
           "theory.magpo:delta_guider", forced_args(delta=lambda d: float("inf")),
           ("test_magpo::test_sum_game_delta_guider_keeps_value",)),
    Mutant("12", "one_sided_box", "the box clips mu/pi at delta but not at 1/delta",
           "theory.magpo:_box_kl_step", _one_sided_box,
           ("test_magpo::test_sum_game_delta_guider_keeps_value",)),
    Mutant("4", "alpha_ratio_dropped", "eq. 6 weights without alpha_i/alpha (Q_i = W_i)",
           "theory.macpf:conditional_soft_qs", with_kwargs(scale=False),
           ("test_macpf::test_theorem1_cfspi_improves_monotonically_and_reaches_soft_optimum",)),
    Mutant("4", "soft_marginal_at_alpha_i", "later agents soft-marginalised at their own alpha_i, not alpha",
           "theory.macpf:conditional_soft_qs", _soft_marginal_at_alpha_i,
           ("test_macpf::test_theorem1_cfspi_improves_monotonically_and_reaches_soft_optimum",)),
    Mutant("4", "expected_not_soft", "earlier agents average Q_jt over the later agents (no log-sum-exp)",
           "theory.macpf:conditional_soft_policy_iteration", with_kwargs(marginalise="expected"),
           ("test_macpf::test_theorem1_cfspi_improves_monotonically_and_reaches_soft_optimum",)),
    Mutant("5", "counterpart_matches_reward", "per state E_ind[r] = E_dep[r] instead of E_ind[Q^dep] = V^dep",
           "theory.macpf:independent_counterpart", _counterpart_matches_reward,
           ("test_macpf::test_theorem2b_multistate_as_written",)),
    Mutant("5", "ivt_leg_reversed", "the intermediate-value leg mixed from the wrong end",
           "theory.macpf:ivt_product_for_target", _ivt_leg_reversed,
           ("test_macpf::test_theorem2a_matrix_game_ivt_construction", "test_macpf::test_theorem2b_multistate_as_written")),
    Mutant("6", "alpha_ratio_dropped", "eq. 6 weights without alpha_i/alpha (Q_i = W_i)",
           "theory.macpf:conditional_soft_qs", with_kwargs(scale=False),
           ("test_macpf::test_eq6_at_the_soft_optimum_matches_exact_soft_policy_evaluation",
            "test_macpf::test_eq6_conditional_factorisation_holds_for_any_joint_q")),
    Mutant("6", "soft_marginal_at_alpha_i", "later agents soft-marginalised at their own alpha_i, not alpha",
           "theory.macpf:conditional_soft_qs", _soft_marginal_at_alpha_i,
           ("test_macpf::test_eq6_at_the_soft_optimum_matches_exact_soft_policy_evaluation",)),
    Mutant("7", "mi_sign_flipped", "the MI term enters the improvement with the wrong sign (pibar^-1)",
           "theory.mipi:mi_policy_iteration", with_kwargs(mi_sign=-1.0),
           ("test_mipi::test_lemma2_theorem1_with_the_proofs_objective",)),
    Mutant("7", "prior_dropped", "the improvement without the fixed marginal pibar_i (pi ∝ exp(w Q/alpha))",
           "theory.mipi:mi_policy_iteration", with_kwargs(mi_sign=0.0),
           ("test_mipi::test_lemma2_theorem1_with_the_proofs_objective",)),
    Mutant("8", "frozen_marginal", "eq. 12 skipped after the first iteration (pibar stays pibar^0)",
           "theory.mipi:blahut_arimoto", with_kwargs(update_marginal=False),
           ("test_mipi::test_theorem2_ba_monotone_with_one_over_m_bound",)),
    Mutant("8", "marginal_without_rho", "eq. 12 without rho-hat (pibar = plain mean over contexts)",
           "theory.mipi:blahut_arimoto", _ba_variant(marginal="mean"),
           ("test_mipi::test_theorem2_ba_monotone_with_one_over_m_bound",)),
    Mutant("8", "temperature_dropped", "eq. 13 as pibar exp(Q), the 1/alpha dropped",
           "theory.mipi:blahut_arimoto", _ba_variant(temperature=False),
           ("test_mipi::test_theorem2_ba_monotone_with_one_over_m_bound",)),
    Mutant("9", "spread_from_zero", "the head spread taken as g(H) - g(0) instead of g(H) - g(-H)",
           "theory.agentmixer:gumbel_spread", _spread_from_zero,
           ("test_agentmixer::test_igc_mode_holds_when_margin_exceeds_head_spread",)),
    Mutant("9", "choice_probs_untruncated", "choice probabilities ignore the truncation at c (plain softmax)",
           "theory.agentmixer:sampled_choice_probs", _choice_probs_untruncated,
           ("test_agentmixer::test_igc_sampling_sense_marginal_mode",)),
    Mutant("9", "mixer_moves_mean", "continuous IGC (low rank): the mixer's factor also shifts the mean",
           "marlspec.primitives.igc:lowrank_gaussian_sample", _lowrank_sampler("mixer_moves_mean"),
           (CONTINUOUS,)),
    Mutant("9", "uniform_noise", "continuous IGC (low rank): U(0, 1) noise instead of N(0, 1)",
           "marlspec.primitives.igc:lowrank_gaussian_sample", _lowrank_sampler("uniform_noise"), (CONTINUOUS,)),
    Mutant("9", "factor_not_applied", "continuous IGC (low rank): the mixer's low-rank factor is not applied",
           "marlspec.primitives.igc:lowrank_gaussian_sample", _lowrank_sampler("factor_not_applied"),
           (CONTINUOUS,)),
    Mutant("9", "scale_without_2", "continuous IGC (diagonal): joint std = std sigmoid(h), not 2 std sigmoid(h)",
           "marlspec.primitives.igc:igc_scale", _scale_without_log2, (CONTINUOUS,)),
    Mutant("10", "igc_check_always_passes", "the IGC mode-agreement check always reports agreement",
           "theory.agentmixer:train_agentmixer", _igc_check_always_passes,
           ("test_agentmixer::test_theorem2_trained_product_is_an_exact_ce_under_its_premises",)),
    Mutant("10", "product_reads_agent0_obs", "the executed product reads every agent's policy at agent 0's observation",
           "theory.agentmixer:product_from_individual", _product_reads_agent0_obs,
           ("test_agentmixer::test_theorem2_trained_product_is_an_exact_ce_under_its_premises",)),
    Mutant("11", "qmix_abs_dropped", "QMIX without abs on the hypernetwork weights",
           "theory.classics:qmix", with_kwargs(monotone=False),
           ("test_classics::test_qmix_satisfies_igm_and_is_monotone",
            "test_classics::test_no_monotone_mixer_represents_the_non_monotonic_game")),
    Mutant("11", "elu_sign_error", "ELU's negative branch with the wrong sign (non-monotone)",
           "theory.classics:qmix", _qmix_bad_elu,
           ("test_classics::test_qmix_satisfies_igm_and_is_monotone",)),
    Mutant("13", "m_projection_as_best_product", "the best product taken as the product of B's marginals",
           "theory.classics:best_product_soft", with_kwargs(method="m_projection"),
           ("test_classics::test_igo_best_product_is_worse_than_best_joint",)),
    Mutant("13", "lse_without_temperature", "J* = alpha logsumexp(r) (the 1/alpha dropped inside)",
           "theory.classics:soft_optimal_value", _lse_without_temperature,
           ("test_classics::test_igo_best_product_is_worse_than_best_joint",)),
)


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


def table(outcomes: list[Outcome], max_examples: int) -> str:
    lines = [
        f"Each mutant is patched into `theory/` and each listed property test is run unchanged, with up to "
        f"{max_examples:,} derandomized Hypothesis examples and no shrinking; \"examples\" counts the examples "
        "run up to and including the first failing one. Regenerate with `nox -s mutants` "
        "(`python -m tests.theory.mutants --write`).",
        "",
        "| claim | mutant | bug | property test | result | examples | first line of the failure |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in sorted(outcomes, key=lambda o: _claim_key(o.mutant.claim)):
        msg, bug = (t.replace("|", "\\|") for t in (o.message, o.mutant.bug))
        lines.append(f"| {o.mutant.claim} | `{o.mutant.name}` | {bug} | `{o.killer}` | {o.status} | "
                     f"{o.examples} | {msg} |")
    claims = sorted({o.mutant.claim for o in outcomes}, key=_claim_key)
    killed = {c: any(o.status == "killed" for o in outcomes if o.mutant.claim == c) for c in claims}
    lines += ["", "Claims with at least one killed mutant: "
              + ", ".join(c for c in claims if killed[c]) + "."]
    missing = [c for c in claims if not killed[c]]
    if missing:
        lines.append("**Unverified** (no mutant killed): " + ", ".join(missing) + ".")
    return "\n".join(lines)


def _claim_key(c: str) -> tuple[int, str]:
    digits = "".join(ch for ch in c if ch.isdigit())
    return (int(digits) if digits else 99, c)


def write_into_theorems(text: str) -> None:
    doc = THEOREMS.read_text()
    if BEGIN not in doc or END not in doc:
        raise SystemExit(f"{THEOREMS}: markers {BEGIN!r} ... {END!r} not found")
    head, rest = doc.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    THEOREMS.write_text(head + BEGIN + "\n" + text + "\n" + END + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=SESSION_EXAMPLES)
    parser.add_argument("--write", action="store_true", help="write the table into theory/THEOREMS.md")
    parser.add_argument("-k", default=None, help="only mutants whose name contains this")
    args = parser.parse_args()
    np.seterr(all="ignore")
    _import_all()
    outcomes: list[Outcome] = []
    for m in MUTANTS:
        if args.k and args.k not in m.name:
            continue
        for o in run_mutant(m, args.examples):
            outcomes.append(o)
            print(f"claim {m.claim:>3} {m.name:<32} {o.killer:<70} {o.status:<8} {o.examples:>5} "
                  f"{o.seconds:6.1f}s  {o.message[:80]}", flush=True)
    text = table(outcomes, args.examples)
    if args.write:
        write_into_theorems(text)
    bad = [o for o in outcomes if o.status != "killed"]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
