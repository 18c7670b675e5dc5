"""Algorithm specs, one per `kind`. Hyper-parameters only; the algorithm itself
lives in `marlspec.algorithms`."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, model_validator

from marlspec.spec.base import Spec, fail


class PPOFamilySpec(Spec):
    """Hyper-parameters shared by the PPO-based algorithms (Schulman et al. 2017; Yu et al. 2022)."""

    supports_continuous: ClassVar[bool] = True
    centralized_critic: ClassVar[bool] = False

    gamma: float = Field(0.99, gt=0.0, le=1.0)
    """Discount factor."""
    gae_lambda: float = Field(0.95, ge=0.0, le=1.0)
    """GAE(lambda) parameter."""
    clip_eps: float = Field(0.2, gt=0.0, lt=1.0)
    """PPO ratio clip epsilon."""
    value_clip_eps: float | None = Field(0.2, gt=0.0)
    """Value-function clip around the rollout-time value; null disables value clipping."""
    ent_coef: float = Field(0.01, ge=0.0)
    """Entropy bonus coefficient."""
    vf_coef: float = Field(0.5, ge=0.0)
    """Value loss coefficient."""
    max_grad_norm: float = Field(0.5, gt=0.0)
    """Global gradient-norm clip."""
    epochs: int = Field(4, ge=1, le=100)
    """Passes over each rollout."""
    num_minibatches: int = Field(4, ge=1)
    """Minibatches per epoch; each holds whole environment sequences, so it must divide train.num_envs."""
    normalize_advantages: bool = True
    """Normalise advantages per minibatch."""


class IPPOSpec(PPOFamilySpec):
    """Independent PPO: shared-parameter actor and critic on each agent's own observation."""

    kind: Literal["ippo"] = "ippo"


class MAPPOSpec(PPOFamilySpec):
    """MAPPO: shared-parameter actor on local observations, centralized critic on the global state."""

    centralized_critic: ClassVar[bool] = True
    kind: Literal["mappo"] = "mappo"


class OffPolicySpec(Spec):
    """Hyper-parameters shared by the off-policy value-decomposition family (PyMARL's
    conventions): a replay of whole episodes, target networks, epsilon exploration.
    `train.lr` is the learning rate of every optimiser."""

    supports_continuous: ClassVar[bool] = False

    gamma: float = Field(0.99, gt=0.0, le=1.0)
    """Discount factor."""
    td_lambda: float = Field(0.8, ge=0.0, le=1.0)
    """lambda of the TD(lambda) critic targets (0 gives one-step targets)."""
    buffer_size: int = Field(5000, ge=1)
    """Replay capacity in whole episodes; it must exceed train.num_envs x (longest episode + 1)."""
    batch_size: int = Field(32, ge=1)
    """Whole episodes per gradient step."""
    train_steps: int = Field(1, ge=1, le=1000)
    """Gradient steps after each rollout, each on a freshly sampled batch."""
    target_update_interval: int = Field(200, ge=1)
    """Hard copies of the online networks into the targets happen every this many
    `target_update_unit`s."""
    target_update_unit: Literal["episodes", "gradient_steps"] = "episodes"
    """What `target_update_interval` counts: completed `episodes` (PyMARL's rule, where one
    gradient step follows each episode, so the two coincide) or `gradient_steps` taken
    (counted as updates x train_steps), which stays the same number of gradient steps
    whatever the number of environments and the episode length."""
    reward_scale: float = Field(1.0, gt=0.0)
    """Multiplies the team reward before it enters the replay, so the learner (its values,
    TD targets and temperature alpha) sees scaled rewards; reported returns stay the
    environment's. JaxMARL's QMIX uses 10 on SMAX, whose episodes pay at most 2 (damage
    plus the win bonus), to restore the scale of SMAC (at most 20) that PyMARL's settings
    were tuned for."""
    optimizer: Literal["rmsprop", "adam"] = "rmsprop"
    """`rmsprop` (PyMARL's: decay 0.99, eps 1e-5) or `adam`."""
    max_grad_norm: float = Field(10.0, gt=0.0)
    """Global gradient-norm clip, per optimiser group."""
    epsilon_start: float = Field(1.0, ge=0.0, le=1.0)
    """Exploration at the start: epsilon-greedy (value-based) or epsilon-soft (actor-critic)."""
    epsilon_end: float = Field(0.05, ge=0.0, le=1.0)
    """Exploration after annealing."""
    epsilon_anneal_steps: int = Field(50_000, ge=1)
    """Environment steps over which epsilon falls linearly."""
    last_action: bool = True
    """Feed each agent its previous action (one-hot) besides its observation."""
    normalize_state: bool = True
    """Standardise the global state the mixers read with running statistics. SMAC hands
    PyMARL a state already scaled to about [-1, 1]; SMAX's holds raw map positions (up to
    32), which inflate the hypernetworks' mixing weights a hundredfold at the start."""

    @model_validator(mode="after")
    def _check_batch(self) -> OffPolicySpec:
        if self.batch_size > self.buffer_size:
            fail("algorithm.batch_size", f"batch of {self.batch_size} episodes exceeds buffer_size = {self.buffer_size}"
                 "; lower batch_size or raise buffer_size", self.batch_size)
        return self


class VDNSpec(OffPolicySpec):
    """VDN: recurrent Q-learning of per-agent utilities whose sum is the joint value."""

    kind: Literal["vdn"] = "vdn"
    td_lambda: float = Field(0.6, ge=0.0, le=1.0)
    """lambda of the Q(lambda) targets (0 gives one-step targets)."""
    double_q: bool = True
    """Pick next actions with the online network, evaluate them with the target network."""


class QMIXSpec(VDNSpec):
    """QMIX: recurrent Q-learning with a monotone state-conditioned mixing hypernetwork."""

    kind: Literal["qmix"] = "qmix"  # type: ignore[assignment]
    mixing_embed: int = Field(32, ge=1)
    """Width of the mixing network's hidden layer."""
    hypernet_embed: int = Field(64, ge=1)
    """Hidden width of the hypernetworks."""


class SoftSpec(OffPolicySpec):
    """Maximum-entropy actor-critics with a linearly annealed temperature alpha."""

    alpha_start: float = Field(0.5, gt=0.0)
    """Temperature at the start."""
    alpha_end: float = Field(0.05, gt=0.0)
    """Temperature after annealing."""
    alpha_anneal_steps: int = Field(200_000, ge=1)
    """Environment steps over which alpha moves linearly from start to end."""
    mixing_embed: int = Field(64, ge=1)
    """Width of the mixer's hidden layer (or attention embedding)."""
    hypernet_embed: int = Field(64, ge=1)
    """Hidden width of the hypernetworks."""


class FOPSpec(SoftSpec):
    """FOP: independent soft policies, twin critics mixed by the IGO attention mixer."""

    kind: Literal["fop"] = "fop"
    attention_heads: int = Field(4, ge=1)
    """Attention heads of the mixing weights."""


class MACPFSpec(SoftSpec):
    """MACPF: dependent behaviour policy (chain rule), independent execution policy."""

    kind: Literal["macpf"] = "macpf"
    dependency_embed: int = Field(64, ge=1)
    """Width of the dependency corrections' action embedding."""
    mixing: Literal["eq6", "linear"] = "eq6"
    """How the one linear hypernetwork mixer (eqs. 14-15) combines the utilities. `eq6`: the
    paper's eq. 6, sum_i k_i(s) [Q_i - V_i(s, a_<i)] + b(s) with k_i = alpha / alpha_i, so each
    agent improves its policy at alpha_i = alpha / k_i(s). `linear`: the authors' code,
    sum_i k_i(s) Q_i + b(s) with alpha_i = alpha, which leaves the split of Q_jt between the
    dependent utilities undetermined (benchmarks/results/macpf_matrix.md)."""
    first_agent_correction: bool = True
    """Whether agent 0, which has no earlier agents (a_<0 is empty), gets dependency corrections
    b_0^dep and c_0^dep. True is the authors' code: the corrections read [h_0, zeros] and so still
    move pi_0^dep away from pi_0^ind. False makes pi_0^dep = pi_0^ind and Q_0^dep = Q_0^ind
    exactly, the reading of eq. 10 in which a correction only carries dependence on a_<i
    (benchmarks/results/macpf_matrix.md measures both)."""


class MACPFControlSpec(MACPFSpec):
    """MACPF_CONTROL: MACPF's ablation without the dependent policy (paper section 5.2)."""

    kind: Literal["macpf_control"] = "macpf_control"  # type: ignore[assignment]


class HAPPOSpec(PPOFamilySpec):
    """HAPPO (Kuba et al. 2022): heterogeneous agents updated one after another in a random
    order, each agent's advantage weighted by the policy ratios of the agents updated before
    it; centralized critic on the global state. Discrete actions."""

    supports_continuous: ClassVar[bool] = False
    centralized_critic: ClassVar[bool] = True
    kind: Literal["happo"] = "happo"
    share_parameters: bool = False
    """Must stay false: every agent gets its own actor parameters (stacked modules, vmapped over
    agents); HAPPO's sequential update is only defined for heterogeneous agents."""

    @model_validator(mode="after")
    def _heterogeneous(self) -> HAPPOSpec:
        if self.share_parameters:
            fail("algorithm.share_parameters", "HAPPO updates agents one at a time and needs per-agent"
                 " parameters; set algorithm.share_parameters: false (or use kind: mappo for shared ones)")
        return self


class JointPolicySpec(Spec):
    """The autoregressive joint policy over agents: a MAT-style encoder-decoder transformer
    (Wen et al. 2022), or Sable's retentive variant, that sees every agent's observation and
    the global state, and picks the agents' actions one after another, each conditioned on
    the previous agents' actions."""

    embed_dim: int = Field(default=64, ge=4, le=1024)
    """Token width of the encoder and decoder."""
    blocks: int = Field(default=1, ge=1, le=8)
    """Transformer blocks in the encoder and in the decoder."""
    heads: int = Field(default=1, ge=1, le=16)
    """Attention heads; must divide embed_dim."""
    shuffle_agents: bool = True
    """Decode the agents in a new random order every update epoch (acting uses 0..N-1).
    Importance ratios are exact only with false."""
    use_state: bool = True
    """Append the environment's global state to every agent's input token."""
    architecture: Literal["mat", "sable"] = "mat"
    """`mat`: MAT's transformer, attention over the agents of one step. `sable`: Sable's
    retentive network (Mahjoub et al. 2025), the MAGPO paper's default guider: retention
    over the agents with a decaying memory of the episode's earlier steps."""
    decay_scaling: float = Field(default=1.0, gt=0.0, le=1.0)
    """Sable only: scales the retention decay rates (MAGPO Table 5 searches 0.3, 0.5, 0.8, 1)."""

    @model_validator(mode="after")
    def _heads(self) -> JointPolicySpec:
        if self.embed_dim % self.heads:
            fail("algorithm.joint_policy.heads", f"{self.heads} heads do not divide embed_dim = {self.embed_dim};"
                 " pick a divisor", self.heads)
        return self


class JointPolicyFamilySpec(PPOFamilySpec):
    """The PPO-family algorithms trained through the autoregressive joint policy (MAT, MAGPO's
    guider, CTDS's teacher). Discrete actions."""

    supports_continuous: ClassVar[bool] = False
    vf_coef: float = Field(0.1, ge=0.0)
    """Value loss coefficient. 0.1 is MAGPO's Table 2 default for its autoregressive networks
    (MAT, Sable). It matters far more here than for MAPPO: the value head shares the joint
    policy's encoder. On CoordSum-5x20-80 it let the guider leave the uniform policy far sooner
    than 0.5 did (benchmarks/results/coordsum.md)."""
    joint_policy: JointPolicySpec = Field(default_factory=JointPolicySpec)
    """The autoregressive joint policy network: MAT's policy, MAGPO's guider, CTDS's teacher."""


class MATSpec(JointPolicyFamilySpec):
    """MAT (Wen et al. 2022): PPO on the autoregressive joint policy. Centralized training AND
    execution (CTCE): acting and evaluation both use the joint policy, so it is an upper
    reference that cannot be deployed decentrally. Discrete actions."""

    kind: Literal["mat"] = "mat"


class MAGPOSpec(JointPolicyFamilySpec):
    """MAGPO (paper 001, sec. 4.2): an autoregressive guider collects the data and is kept within
    ratio delta of decentralized learners (the spec's `network`, parameters shared across
    agents), which imitate it by KL plus lambda times PPO. Evaluation reports the learners
    (execution) and the guider (behaviour). Discrete actions."""

    kind: Literal["magpo"] = "magpo"
    delta: float = Field(1.5, gt=1.0)
    """Double-clip bound delta > 1 (eq. 9-10): the guider/learner probability ratio is kept in
    (1/delta, delta). The paper tunes it in {1.1, 1.2, 1.3, 1.5, 2, 3}."""
    rl_coef: float = Field(1.0, ge=0.0)
    """lambda, weight of the learner's auxiliary PPO term (eq. 11); tuned in {0, 1, 2, 4, 8}."""
    kl_direction: Literal["forward", "reverse"] = "forward"
    """Learner distillation loss: forward = KL(guider || learner), as the reference code does;
    reverse = KL(learner || guider), eq. 11 as printed."""


class CTDSSpec(JointPolicyFamilySpec):
    """CTDS (Zhao et al. 2024) as MAGPO's paper runs it: the autoregressive teacher is trained by
    plain PPO (no double clip, no KL mask) and the decentralized students distil it by KL.
    Evaluation reports the students (execution) and the teacher (behaviour). Discrete actions."""

    kind: Literal["ctds"] = "ctds"
    rl_coef: float = Field(0.0, ge=0.0)
    """Weight of an auxiliary PPO term on the students (0 in CTDS; MAGPO's Figure 8b tries > 0)."""
    kl_direction: Literal["forward", "reverse"] = "forward"
    """Distillation loss direction, as for MAGPO."""


class AgentMixerSpec(PPOFamilySpec):
    """AgentMixer (paper 000): a Policy Modifier mixes the individual policies into a correlated
    joint policy that sees the global state, and Individual-Global-Consistency (IGC) keeps the
    joint policy's modes equal to the individual ones. PPO trains the joint policy (joint ratio
    and joint entropy; centralized critic on the state, as MAPPO); the actors and the modifier
    take one backward pass, each with its own learning rate. Behaviour = the joint policy;
    execution = the individual policies. Discrete and continuous actions."""

    centralized_critic: ClassVar[bool] = True
    discrete_only: ClassVar[frozenset[str]] = frozenset(
        {"tau_start", "tau_end", "tau_anneal_steps", "gumbel_c", "igc_noise"})
    """Fields only discrete IGC reads."""
    continuous_only: ClassVar[frozenset[str]] = frozenset({"covariance", "rank"})
    """Fields only continuous IGC reads."""
    kind: Literal["agentmixer"] = "agentmixer"
    mixer: bool = True
    """Use the Policy Modifier. False is the ablation without it: the joint policy is the product
    of the individual policies (with `ratio: per_agent` this is exactly MAPPO)."""
    igc: bool = True
    """Individual-Global-Consistency. False is the paper's ablation: the joint policy is the
    modifier's own output (logits, or means, from the full state) and the individual policies
    learn only by imitating it (forward KL, weight `imitation_coef`)."""
    ratio: Literal["joint", "per_agent"] = "joint"
    """PPO importance ratio: `joint`, the product over agents (single-agent PPO on the joint
    policy, as the paper and the authors' code do), or `per_agent`, MAPPO's per-agent ratios."""
    width: int = Field(64, ge=2, le=1024)
    """Feature width of the Policy Modifier (each per-agent input is encoded to this width)."""
    agent_hidden: int = Field(32, ge=1, le=4096)
    """Hidden width of the agent-mixing MLP (N -> agent_hidden -> N)."""
    channel_hidden: int = Field(256, ge=1, le=8192)
    """Hidden width of the channel-mixing MLP (width -> channel_hidden -> width)."""
    blocks: int = Field(1, ge=1, le=8)
    """Agent-mixing + channel-mixing blocks."""
    mixer_lr: float = Field(5e-4, gt=0.0, le=1.0)
    """Learning rate of the Policy Modifier's Adam (the actors and critic use train.lr)."""
    tau_start: float = Field(1.0, gt=0.0, le=100.0)
    """Discrete IGC: temperature of the joint logits (individual logits + g) / tau at the start."""
    tau_end: float = Field(0.05, gt=0.0, le=100.0)
    """Discrete IGC: temperature after annealing (linear in environment steps)."""
    tau_anneal_steps: int | None = Field(None, ge=1, le=10**12)
    """Discrete IGC: environment steps over which tau falls from tau_start to tau_end; null
    anneals over the whole run (train.total_env_steps)."""
    gumbel_c: float = Field(1.0, gt=0.0, le=1.0)
    """Discrete IGC: the constant c of u = c sigmoid(h), g = -log(-log u); c < 1 caps g."""
    igc_noise: Literal["copula", "shift"] = "copula"
    """Discrete IGC's Gumbel noise. `copula`: exact Gumbel(0, 1) noise per agent, correlated across
    agents by the modifier (`primitives.igc.correlated_gumbel`), so the joint policy's per-agent
    modes equal the individual ones whatever the modifier outputs (the paper's IGC property).
    `shift`: the authors' code, g = -log(-log(c sigmoid(h))) of the modifier's head h, which
    shifts the noise with the state and so does not keep the modes (THEOREMS.md claim 9;
    benchmarks/results/agentmixer.md measures the gap it leaves)."""
    head_noise: float = Field(0.15, ge=0.0, le=10.0)
    """Standard deviation of the Gaussian noise added to the modifier's head (continuous IGC, and
    discrete IGC with `igc_noise: shift` or `igc: false`). The authors' head is a diagonal
    Gaussian whose std receives no gradient and stays at about sigmoid(1) * 0.2 = 0.15. The noise
    drawn while acting is stored and reused by the update."""
    covariance: Literal["diagonal", "lowrank"] = "diagonal"
    """Continuous IGC: `diagonal` spreads (the authors' code) or `lowrank`, a joint Gaussian
    over all agents' action dimensions with covariance diag + V V^T whose factor V comes from
    the modifier, so the agents' exploration is correlated."""
    rank: int = Field(2, ge=1, le=64)
    """Continuous IGC with `covariance: lowrank`: the rank of V."""
    imitation_coef: float = Field(1.0, ge=0.0, le=1e6)
    """With `igc: false` only: weight of the individual policies' KL to the joint policy."""
    share_parameters: bool = True
    """One actor shared by all agents (with agent ids), or one actor per agent (heterogeneous
    agents: stacked parameters, vmapped over agents)."""

    def not_read(self, action_type: str) -> frozenset[str]:
        """The fields this configuration does not read on an environment with `action_type`
        actions; `ExperimentSpec` rejects any of them that the spec sets."""
        if action_type == "continuous":
            return self.discrete_only
        copula = self.igc and self.igc_noise == "copula"
        return self.continuous_only | (frozenset({"head_noise"}) if copula else frozenset())

    @model_validator(mode="after")
    def _consistent(self) -> AgentMixerSpec:
        set_here = self.changed_fields
        if self.tau_end > self.tau_start:
            fail("algorithm.tau_end", f"tau must fall while annealing: tau_end = {self.tau_end} exceeds tau_start ="
                 f" {self.tau_start}; set tau_end <= tau_start (the paper anneals 1.0 -> 0.05)", self.tau_end)
        if not self.mixer:
            if not self.igc:
                fail("algorithm.igc", "igc: false needs the Policy Modifier (the joint policy is its output);"
                     " set mixer: true, or drop igc: false", self.igc)
            stray = sorted(set_here & MIXER_FIELDS)
            if stray:
                fail(f"algorithm.{stray[0]}", f"{stray[0]} configures the Policy Modifier, which mixer: false"
                     " turns off; remove it or set mixer: true")
        if self.covariance == "lowrank" and self.ratio == "per_agent":
            fail("algorithm.ratio", "a low-rank joint Gaussian does not factor over agents, so it has no per-agent"
                 " ratios; use ratio: joint, or covariance: diagonal", self.ratio)
        if not self.igc and self.covariance == "lowrank":
            fail("algorithm.covariance", "the imitation loss of igc: false needs per-agent factors; use"
                 " covariance: diagonal with igc: false", self.covariance)
        if "rank" in set_here and self.covariance != "lowrank":
            fail("algorithm.rank", "rank is read only with covariance: lowrank; remove it or set covariance: lowrank")
        if {"igc_noise", "gumbel_c", "tau_start", "tau_end", "tau_anneal_steps"} & set_here and not self.igc:
            fail("algorithm.igc", "igc: false makes the joint policy the modifier's own logits, so the IGC noise"
                 " and temperature settings are not read; remove them or set igc: true")
        if "imitation_coef" in set_here and self.igc:
            fail("algorithm.imitation_coef", "imitation_coef is read only with igc: false (with IGC the individual"
                 " policies are trained through the joint policy); remove it")
        return self


MIXER_FIELDS = frozenset({"width", "agent_hidden", "channel_hidden", "blocks", "mixer_lr", "head_noise", "igc_noise"}) | (
    AgentMixerSpec.discrete_only | AgentMixerSpec.continuous_only)
"""AgentMixer fields that configure the Policy Modifier (rejected with `mixer: false`)."""


class MIPISpec(OffPolicySpec):
    """MIPI (paper 002): an off-policy actor-critic on REFIL's entity attention and imagined
    sub-teams whose reward is augmented by -alpha sum_i log(pi_i(u_i|s) / pibar_i(u_i|s_i^+)),
    the mutual information between each agent's action and its team-related features s_i^-,
    optimised by Blahut-Arimoto alternations of the policy and a learned marginal policy
    (`marlspec.algorithms.mipi`). Needs `network: {kind: entity}` and an environment with an
    entity view (team_matrix, smax_teams)."""

    entity_network: ClassVar[bool] = True
    kind: Literal["mipi"] = "mipi"
    regularizer: Literal["mi", "entropy", "none"] = "mi"
    """The augmented reward: `mi` (MIPI, eqs. 16-18), `entropy` (-alpha sum_i log pi_i: the
    paper's Entropy ablation) or `none` (alpha = 0: its Value ablation)."""
    alpha: float | None = Field(None, ge=0.0)
    """Temperature alpha (constant, as in the paper). Unset means 0.03 for `mi` and `entropy`
    (the paper's SZ and CSZ value; 0.1 for MMM, 0.5 in its matrix game) and 0 for `none`."""
    ba_iterations: int = Field(1, ge=1, le=16)
    """Blahut-Arimoto iterations per sampled batch (Theorem 2): alternations of one marginal
    step (eq. 17) and one policy step (eq. 18). The paper uses 1 in its matrix game and 4 in
    SMAC. `mi` only."""
    imagine: bool = True
    """REFIL's imagined sub-teams: the imagined critic loss, and the within-group view as the
    imagined composition s* of the marginal (eq. 17). False trains the marginal on the real s-."""
    imagine_lambda: float = Field(0.5, ge=0.0, le=1.0)
    """lambda of REFIL's loss mix (1 - lambda) L_real + lambda L_imagined (0.5 in REFIL and MIPI)."""
    shared_torso: bool = True
    """The policy is a last layer on the critic's entity features (appendix B.2, SMAC); false
    gives it its own entity network (the matrix game's separate critics and policies, B.1)."""
    actor_utility: Literal["q", "weighted"] = "q"
    """What eq. 18 improves against: `q` is Q_i as printed; `weighted` is w_i(s) Q_i, the
    objective the proof of Lemma 2 uses (theory/THEOREMS.md, claim 7)."""
    td_lambda: float = Field(0.0, ge=0.0, le=1.0)
    """lambda of the soft TD(lambda) critic target; 0 is eq. 16's one-step target (REFIL's too)."""
    normalize_state: bool = False
    """Must stay false: the state's entity rows are zero where an entity is absent, and
    standardising them would make absent entities look present."""
    mixing_embed: int = Field(64, ge=1)
    """Width of the attention mixer's entity embedding (REFIL's hypernet_embed)."""
    attention_heads: int = Field(4, ge=1)
    """Attention heads of the mixer; must divide mixing_embed."""
    attack_head: Literal["entity", "slots"] = "entity"
    """Where actions attack entities (smax_teams): `entity` scores each attack against the
    attacked enemy's observation row, so the networks fit any slot count and held-out
    compositions run in their own (our deviation, for cost); `slots` is REFIL's and MIPI's
    padded `Linear(hidden, num_actions)` head, sized to env.slots, so every composition must fit
    the training slot count. No effect on team_matrix (no attack actions)."""

    @property
    def slot_independent(self) -> bool:
        """The trained networks run on any slot count (`eval.compositions` may use larger ones)."""
        return self.attack_head == "entity"

    @property
    def resolved_alpha(self) -> float:
        if self.alpha is not None:
            return self.alpha
        return 0.0 if self.regularizer == "none" else 0.03

    @model_validator(mode="after")
    def _check_mipi(self) -> MIPISpec:
        if self.regularizer == "none" and self.alpha not in (None, 0.0):
            fail("algorithm.alpha", "regularizer 'none' is the Value ablation with alpha = 0; remove alpha or pick"
                 " regularizer mi or entropy", self.alpha)
        if self.regularizer != "mi" and "ba_iterations" in self.changed_fields and self.ba_iterations != 1:
            fail("algorithm.ba_iterations", f"Blahut-Arimoto iterations need regularizer 'mi' (got regularizer"
                 f" '{self.regularizer}'); remove ba_iterations", self.ba_iterations)
        if not self.imagine and "imagine_lambda" in self.changed_fields:
            fail("algorithm.imagine_lambda", "imagine_lambda weighs the imagined loss, which imagine: false turns off;"
                 " remove it", self.imagine_lambda)
        if self.normalize_state:
            fail("algorithm.normalize_state", "MIPI reads the state as entity rows that are zero where an entity is"
                 " absent; standardising them breaks that; set normalize_state: false")
        if self.mixing_embed % self.attention_heads:
            fail("algorithm.attention_heads", f"{self.attention_heads} heads do not divide mixing_embed ="
                 f" {self.mixing_embed}; pick a divisor", self.attention_heads)
        return self


AlgorithmSpec = Annotated[
    IPPOSpec | MAPPOSpec | VDNSpec | QMIXSpec | FOPSpec | MACPFSpec | MACPFControlSpec
    | HAPPOSpec | MATSpec | MAGPOSpec | CTDSSpec | AgentMixerSpec | MIPISpec, Field(discriminator="kind")
]
"""Every algorithm kind, chosen by the `kind` field."""
