"""The recurrent actor-critic of RecurrentPPO (sb3-contrib's ``RecurrentActorCriticPolicy``).

observation -> [encoder] -> features -> [LSTM actor]  -> [actor MLP]  -> [action head] -> distribution
                                     -> [LSTM critic] -> [critic MLP] -> [value head]  -> value

As in sb3-contrib, the critic has an LSTM of its own (``enable_critic_lstm=True``, the default),
shares the actor's without sending gradients into it (``shared_lstm=True``), or has a linear
layer in its place (both False). ``recurrent_cell="gru"`` (a Ballast addition) uses GRUs instead.

The hidden state is explicit: every method takes it and the env copies whose episode starts at
this step (their state is reset to zeros first), as sb3-contrib's. A state is a tuple of tensors
of shape ``(n_lstm_layers, batch, lstm_hidden_size)``: ``(h, c)`` for an LSTM, ``(h,)`` for a GRU;
:class:`RNNStates` holds the actor's and the critic's.

Training reads a minibatch as sequences (:mod:`ballast.buffers.sequences`): every sequence starts
from a known state and holds no episode start, so each recurrent layer runs once over the padded
batch, with autograd (there is no hand-written backward pass for these layers).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from ballast.buffers.sequences import RNNStates, Sequences, State, one_step, sequences_from_breaks
from ballast.errors import ConfigurationError, ObservationError
from ballast.policies.actor_critic import ActorCriticPolicy, Obs, PolicyOutput
from ballast.policies.config import PolicyConfig
from ballast.policies.mlp import StackedMLP
from ballast.policies.sb3_arguments import LrSchedule, given_arguments, policy_config
from ballast.registry import register_policy

__all__ = ["RNNStates", "RecurrentActorCriticCnnPolicy", "RecurrentActorCriticPolicy",
           "RecurrentMultiInputActorCriticPolicy", "reset_states"]


def reset_states(state: State, episode_starts: torch.Tensor) -> State:
    """``state`` with the columns of the env copies whose episode starts set to zero."""
    keep = (1.0 - episode_starts.to(state[0].dtype)).view(1, -1, 1)
    return tuple(part * keep for part in state)


@register_policy
class RecurrentActorCriticPolicy(ActorCriticPolicy):
    """sb3-contrib's recurrent actor-critic (see the module docstring), with its constructor arguments."""

    #: Whether the policy carries a hidden state between steps (read by collection, predict and export).
    recurrent: ClassVar[bool] = True

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: LrSchedule | None = None,
        net_arch: Any = None,
        activation_fn: Any = None,
        ortho_init: bool | None = None,
        use_sde: bool = False,
        log_std_init: float | None = None,
        full_std: bool | None = None,
        use_expln: bool | None = None,
        squash_output: bool | None = None,
        features_extractor_class: Any = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        share_features_extractor: bool | None = None,
        normalize_images: bool | None = None,
        optimizer_class: Any = None,
        optimizer_kwargs: dict[str, Any] | None = None,
        lstm_hidden_size: int | None = None,
        n_lstm_layers: int | None = None,
        shared_lstm: bool | None = None,
        enable_critic_lstm: bool | None = None,
        lstm_kwargs: dict[str, Any] | None = None,
        *,
        recurrent_cell: str | None = None,
        policy_name: str | None = None,
        config: PolicyConfig | None = None,
        normalize_observations: bool = False,
        encoder: nn.Module | None = None,
        residual: Any = None,
    ) -> None:
        """sb3-contrib's arguments in its order (None: as ``config`` says, or sb3-contrib's default),
        then Ballast's: ``recurrent_cell`` ("lstm" or "gru") and those of :class:`ActorCriticPolicy`."""
        policy_name = policy_name or self.default_policy_name
        config = policy_config(config, given_arguments(locals(), "recurrent"), "recurrent", policy_name)
        if config.shared_lstm and config.enable_critic_lstm:
            raise ConfigurationError(
                "shared_lstm=True and enable_critic_lstm=True both given: choose a shared LSTM (shared_lstm=True, "
                "enable_critic_lstm=False), a separate one (the default) or none for the critic (both False)")
        if config.shared_lstm and not config.share_features_extractor:
            raise ConfigurationError("shared_lstm=True needs share_features_extractor=True: an LSTM shared by actor "
                                     "and critic reads one encoder's features")
        super().__init__(observation_space, action_space, lr_schedule, use_sde=use_sde, policy_name=policy_name,
                         config=config, normalize_observations=normalize_observations, encoder=encoder,
                         residual=residual)
        cfg = self.config
        self.shared_lstm, self.enable_critic_lstm = cfg.shared_lstm, cfg.enable_critic_lstm
        self.lstm_kwargs = dict(cfg.lstm_kwargs)
        self.lstm_actor = self._make_cell()
        self.lstm_critic = self._make_cell() if cfg.enable_critic_lstm else None
        # No critic LSTM: a linear layer gives the critic's MLP inputs of the LSTM's output size.
        self.critic = (nn.Linear(self.features_dim, cfg.lstm_hidden_size)
                       if not (cfg.shared_lstm or cfg.enable_critic_lstm) else None)
        #: sb3-contrib's shape of one env copy's state (``predict`` starts from zeros of it).
        self.lstm_hidden_state_shape = (cfg.n_lstm_layers, 1, cfg.lstm_hidden_size)

    def _make_cell(self) -> nn.Module:
        cfg = self.config
        cls = nn.LSTM if cfg.recurrent_cell == "lstm" else nn.GRU
        return cls(self.features_dim, cfg.lstm_hidden_size, num_layers=cfg.n_lstm_layers, **cfg.lstm_kwargs)

    def _build_mlp_extractor(self) -> None:
        """The actor's and the critic's hidden layers, on the recurrent layers' outputs."""
        cfg = self.config
        self.actor_mlp = StackedMLP(cfg.lstm_hidden_size, list(cfg.net_arch.get("pi", [])), cfg.activation_fn, 1)
        self.critic_mlp = StackedMLP(cfg.lstm_hidden_size, list(cfg.net_arch.get("vf", [])), cfg.activation_fn, 1)

    # --- the state -------------------------------------------------------------------------------
    @property
    def state_parts(self) -> int:
        """Tensors per state: 2 for an LSTM (``h``, ``c``), 1 for a GRU (``h``)."""
        return 2 if self.config.recurrent_cell == "lstm" else 1

    def initial_state(self, n: int, device: torch.device | str | None = None) -> RNNStates:
        """Zero states for ``n`` env copies (the state at every episode start)."""
        cfg = self.config
        zeros = torch.zeros(cfg.n_lstm_layers, n, cfg.lstm_hidden_size, device=device or self.device)
        part = tuple(zeros.clone() for _ in range(self.state_parts))
        return RNNStates(part, tuple(p.clone() for p in part))

    # --- the networks over sequences ---------------------------------------------------------------
    def _run(self, cell: nn.Module, features: torch.Tensor, sequences: Sequences, state: State,
             final: bool) -> tuple[torch.Tensor, State | None]:
        """The cell's outputs for the rows of ``sequences`` from ``state`` (one column per sequence),
        and, when ``final``, the state after each sequence's last row."""
        padded = sequences.pad(features)
        packed = final and sequences.max_len > 1
        if packed:  # the state after each sequence's own last step, not after the padding
            lengths = torch.bincount(sequences.seq, minlength=sequences.n_seq).cpu()
            padded = nn.utils.rnn.pack_padded_sequence(padded, lengths, enforce_sorted=False)
        given = state if self.state_parts == 2 else state[0]
        out, new = cell(padded, given)
        if packed:
            out = nn.utils.rnn.pad_packed_sequence(out)[0]
        new_state = (tuple(new) if self.state_parts == 2 else (new,)) if final else None
        return sequences.unpad(out), new_state

    def recurrent_latents(self, obs: Obs, sequences: Sequences, state: RNNStates, final: bool = False
                          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, RNNStates | None]:
        """``(features, latent_pi, latent_vf, states after the sequences or None)`` for (normalised)
        observations laid out as ``sequences``, each starting from its column of ``state``."""
        features = self.encoder(obs)
        vf_features = features if self.vf_encoder is None else self.vf_encoder(obs)
        out_pi, state_pi = self._run(self.lstm_actor, features, sequences, state.pi, final)
        if self.lstm_critic is not None:
            out_vf, state_vf = self._run(self.lstm_critic, vf_features, sequences, state.vf, final)
        elif self.shared_lstm:
            # sb3-contrib: the critic reads the actor's LSTM without sending gradients into it.
            out_vf, state_vf = out_pi.detach(), None if state_pi is None else tuple(s.detach() for s in state_pi)
        else:
            out_vf, state_vf = self.critic(vf_features), state_pi
        states = RNNStates(state_pi, state_vf) if final else None
        return features, self.actor_mlp(out_pi)[0], self.critic_mlp(out_vf)[0], states

    def sequence_outputs(self, obs: Obs, sequences: Sequences, state: RNNStates, action_masks: Any = None
                         ) -> PolicyOutput:
        """Every intermediate output for (normalised) observations laid out as ``sequences`` (one row
        per step), each sequence starting from its column of ``state``; the update's forward pass."""
        features, latent_pi, latent_vf, _ = self.recurrent_latents(obs, sequences, state)
        return self._output(features, latent_pi, latent_vf, action_masks)

    def _output(self, features: torch.Tensor, latent_pi: torch.Tensor, latent_vf: torch.Tensor,
                action_masks: Any) -> PolicyOutput:
        distribution = self.action_head(latent_pi)
        if action_masks is not None:
            distribution = distribution.masked(action_masks)
        return PolicyOutput(features, latent_pi, latent_vf, distribution, self.value_head(latent_vf).squeeze(-1))

    def step(self, obs: Obs, state: RNNStates, action_masks: Any = None
             ) -> tuple[PolicyOutput, RNNStates]:
        """One step of ``n`` env copies from ``state`` (already reset where episodes start): the
        outputs and the next state."""
        n = state.pi[0].shape[1]
        features, latent_pi, latent_vf, new_state = self.recurrent_latents(obs, one_step(n, features_device(obs)),
                                                                           state, final=True)
        return self._output(features, latent_pi, latent_vf, action_masks), new_state

    def values_after(self, obs: Obs, state: RNNStates) -> torch.Tensor:
        """V(obs) of one step from ``state`` (reset where episodes start), shape ``(n,)``."""
        return self.step(obs, state)[0].values

    # --- sb3-contrib's methods -------------------------------------------------------------------------
    def _sb3_layout(self, n_rows: int, state: State, episode_starts: torch.Tensor) -> tuple[Sequences, State]:
        """sb3-contrib's batch layout: ``state`` has one column per sequence of ``n_rows / n_seq``
        consecutive rows, and ``episode_starts`` resets it inside; as :class:`Sequences` (cut at
        each episode start) and their initial states."""
        n_seq = state[0].shape[1]
        length = n_rows // n_seq
        starts = episode_starts.reshape(-1).bool()
        block_start = torch.arange(n_rows, device=starts.device) % length == 0
        sequences = sequences_from_breaks(block_start | starts)
        first = sequences.starts
        keep = (block_start[first] & ~starts[first]).to(state[0].dtype).view(1, -1, 1)
        return sequences, tuple(part[:, first // length] * keep for part in state)

    def forward(self, obs: Obs, lstm_states: RNNStates, episode_starts: torch.Tensor, deterministic: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, RNNStates]:
        """sb3-contrib's ``forward`` for one step of ``n`` env copies (normalised observations):
        ``(actions, values (n, 1), log_probs, next states)``."""
        initial = RNNStates(reset_states(lstm_states.pi, episode_starts), reset_states(lstm_states.vf, episode_starts))
        out, states = self.step(obs, initial)
        dist = out.distribution
        actions = dist.mode() if deterministic else dist.sample()
        return actions, out.values.unsqueeze(-1), dist.log_prob(actions), states

    def get_distribution(self, obs: Obs, lstm_states: State, episode_starts: torch.Tensor) -> tuple[Any, State]:
        """sb3-contrib's: the actor's distribution and its next state (normalised observations)."""
        sequences, initial = self._sb3_layout(_rows(obs), lstm_states, episode_starts)
        features = self.encoder(obs)
        latent, state = self._run(self.lstm_actor, features, sequences, initial, final=True)
        return self.action_head(self.actor_mlp(latent)[0]), _last_per_block(state, sequences, lstm_states)

    def predict_values(self, obs: Obs, lstm_states: State | None = None, episode_starts: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """sb3-contrib's: V(obs) of shape ``(batch, 1)`` from the critic's state ``lstm_states``."""
        if lstm_states is None:
            raise ConfigurationError("a recurrent policy's predict_values needs lstm_states (the critic's state) "
                                     "and episode_starts, as sb3-contrib's")
        n_rows = _rows(obs)
        if episode_starts is None:
            episode_starts = torch.zeros(n_rows, device=lstm_states[0].device)
        sequences, initial = self._sb3_layout(n_rows, lstm_states, episode_starts)
        both = RNNStates(initial, initial)
        return self.recurrent_latents_values(obs, sequences, both).unsqueeze(-1)

    def recurrent_latents_values(self, obs: Obs, sequences: Sequences, state: RNNStates) -> torch.Tensor:
        """V of each row for (normalised) observations laid out as ``sequences``, shape ``(rows,)``."""
        _, _, latent_vf, _ = self.recurrent_latents(obs, sequences, state)
        return self.value_head(latent_vf).squeeze(-1)

    def evaluate_actions(self, obs: Obs, actions: torch.Tensor, lstm_states: RNNStates | None = None,
                         episode_starts: torch.Tensor | None = None, action_masks: Any = None
                         ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """sb3-contrib's ``(values (batch, 1), log_prob, entropy)`` for a batch of ``n_seq`` sequences of
        equal length laid out one after the other, ``lstm_states`` holding their initial states."""
        if lstm_states is None or episode_starts is None:
            raise ConfigurationError("a recurrent policy's evaluate_actions needs lstm_states and episode_starts, "
                                     "as sb3-contrib's")
        sequences, pi = self._sb3_layout(_rows(obs), lstm_states.pi, episode_starts)
        _, vf = self._sb3_layout(_rows(obs), lstm_states.vf, episode_starts)
        out = self.sequence_outputs(obs, sequences, RNNStates(pi, vf), action_masks)
        return out.values.unsqueeze(-1), out.distribution.log_prob(actions), out.distribution.entropy()

    def latents(self, obs: Obs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(features, latent_pi, latent_vf)`` of one step of each observation from a zero state."""
        n = _rows(obs)
        return self.recurrent_latents(obs, one_step(n, features_device(obs)),
                                      self.initial_state(n, features_device(obs)))[:3]

    def outputs(self, obs: Obs, action_masks: Any = None) -> PolicyOutput:
        """One step of each observation from a zero state (a recurrent policy's outputs depend on its
        state: the update reads :meth:`sequence_outputs`, acting :meth:`step`)."""
        return self.step(obs, self.initial_state(_rows(obs), features_device(obs)), action_masks)[0]

    def act(self, obs: Obs, deterministic: bool = False, action_masks: Any = None) -> torch.Tensor:
        """Env actions for raw observations, each from a zero state (see :meth:`predict` for the state)."""
        network_obs, base = self.normalize_with_base(obs)
        dist = self.outputs(network_obs, action_masks).distribution
        return self.env_actions(dist.mode() if deterministic else dist.sample(), base)

    def act_from_state(self, obs: Obs, state: State, deterministic: bool = False, action_masks: Any = None
                       ) -> tuple[torch.Tensor, State]:
        """Env actions for raw observations of ``n`` env copies from the actor's ``state`` (already
        reset to zeros where an episode starts), and the actor's next state.

        This is the one acting step :meth:`predict` runs and :mod:`ballast.export` exports: the
        critic's recurrent layer is not needed to act, so it is not run. Written with plain
        indexing (no iteration over the cell's outputs) so ``torch.fx`` can trace it for MATLAB. A
        residual policy's base runs here too, on the raw observations, so an export carries it.
        """
        network_obs, base = self.normalize_with_base(obs)
        features = self.encoder(network_obs)
        given = state if self.state_parts == 2 else state[0]
        out, new = self.lstm_actor(features.unsqueeze(0), given)  # one time step, time-first as nn.LSTM reads it
        dist = self.action_head(self.actor_mlp(out[0])[0])
        if action_masks is not None:
            dist = dist.masked(action_masks)
        actions = self.env_actions(dist.mode() if deterministic else dist.sample(), base)
        return actions, ((new[0], new[1]) if self.state_parts == 2 else (new,))

    def predict(self, observation: Any, state: tuple[np.ndarray, ...] | None = None, episode_start: Any = None,
                deterministic: bool = False, action_masks: Any = None, *, check_finite: bool = True
                ) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """sb3-contrib's ``predict``: the env action(s) and the actor's next state.

        ``state``: the actor's state from the previous call, a tuple of arrays of shape
        ``(n_lstm_layers, n_envs, lstm_hidden_size)`` (``(h, c)``; ``(h,)`` with GRUs), or None for
        zeros; ``episode_start``: one flag per env copy, True where an episode starts (its state is
        reset to zeros first). Returns ``(actions, next state)``, the state as float32 arrays.
        """
        obs, batched = self.obs_to_tensor(observation, check_finite=check_finite)
        n = _rows(obs)
        masks = None if action_masks is None else self._mask_tensor(action_masks, obs, batched)
        given = self._state_tensors(state, n)
        starts = torch.zeros(n) if episode_start is None else torch.as_tensor(
            np.asarray(episode_start, dtype=np.float32).reshape(-1))
        if starts.numel() != n:
            raise ObservationError(f"episode_start has {starts.numel()} entries for {n} observations; give one flag "
                                   "per env copy")
        self.set_training_mode(False)
        with torch.inference_mode():
            initial = reset_states(given, starts.to(self.device))
            actions, next_state = self.act_from_state(obs, initial, deterministic, masks)
        actions = self.actions_to_numpy(actions)
        if not batched:
            actions = actions.squeeze(axis=0) if isinstance(actions, np.ndarray) else actions[0]
        return actions, tuple(part.cpu().numpy() for part in next_state)

    def _state_tensors(self, state: Any, n: int) -> State:
        """``predict``'s ``state`` as tensors on the policy's device, checked (None: zeros)."""
        if state is None:
            return self.initial_state(n).pi
        shape = (self.config.n_lstm_layers, n, self.config.lstm_hidden_size)
        parts = tuple(state) if isinstance(state, (tuple, list)) else ()
        if len(parts) != self.state_parts or any(np.shape(p) != shape for p in parts):
            got = [np.shape(p) for p in parts] if parts else type(state).__name__
            raise ObservationError(
                f"state must be the tuple predict returned: {self.state_parts} array(s) of shape {shape} "
                f"({'(h, c)' if self.state_parts == 2 else '(h,)'}), got {got}; pass state=None to start from zeros")
        return tuple(torch.as_tensor(np.asarray(p), dtype=torch.float32, device=self.device) for p in parts)


def _rows(obs: Obs) -> int:
    return len(next(iter(obs.values()))) if isinstance(obs, dict) else len(obs)


def features_device(obs: Obs) -> torch.device:
    """The device of a batch of (tensor) observations."""
    return (next(iter(obs.values())) if isinstance(obs, dict) else obs).device


def _last_per_block(state: State, sequences: Sequences, given: State) -> State:
    """The state after each block of sb3-contrib's layout (``given``: one column per block): the final
    state of the block's last sequence."""
    n_blocks = given[0].shape[1]
    if sequences.n_seq == n_blocks:
        return state
    ends = torch.cat([sequences.starts[1:], sequences.starts.new_tensor([len(sequences.time)])]) - 1
    length = len(sequences.time) // n_blocks
    last_of_block = torch.zeros(n_blocks, dtype=torch.long, device=ends.device).scatter_reduce(
        0, ends // length, torch.arange(sequences.n_seq, device=ends.device), "amax")
    return tuple(part[:, last_of_block] for part in state)


@register_policy
class RecurrentActorCriticCnnPolicy(RecurrentActorCriticPolicy):
    """sb3-contrib's ``RecurrentActorCriticCnnPolicy`` (``CnnLstmPolicy``): the NatureCNN encoder by default."""

    default_policy_name: ClassVar[str] = "CnnPolicy"


@register_policy
class RecurrentMultiInputActorCriticPolicy(RecurrentActorCriticPolicy):
    """sb3-contrib's ``RecurrentMultiInputActorCriticPolicy`` (``MultiInputLstmPolicy``): an encoder per key."""

    default_policy_name: ClassVar[str] = "MultiInputPolicy"
