"""Turn-level credit for multi-turn episodes (env.credit = turn).

Each model turn k of an episode gets its discounted return-to-go
    G_k = sum_{j >= k} discount^(j - k) * r_j
(r_j: the reward of the environment step that followed model turn j), normalised like a
GRPO outcome advantage with the statistics of the group's episode returns G_0:
    A_k = (G_k - mean_group(G_0)) / (std_group(G_0) + eps)
and every token of turn k carries A_k; environment tokens carry 0 (they are masked anyway).
With one reward at the end and discount 1 this is exactly the outcome advantage.

Where it comes from: reward-to-go is REINFORCE's causality argument (Williams 1992; Sutton &
Barto ch. 13): a turn is not credited with rewards that came before it, e.g. the cost of a
clarifying question asked earlier. Turn-level (utterance-level, not token-level) returns
follow ArCHer (Zhou et al., 2024; seed 001), whose high-level critic aggregates reward over
utterances; GiGPO (Feng et al., 2025) normalises step returns within groups of identical
states; the multi-turn agent study of seeds 003/004 finds dense turn-level rewards speed
training. RLCoDe / CoDeTr (seed 000) treats an episode's delayed reward as a weighted sum
of per-step contributions and LEARNS the weights (in-sequence attention).
Departures: no learned critic (ArCHer), no anchor-state groups (GiGPO), and no learned
contribution weights (CoDeTr): a reward that arrives only at the end is spread over the
turns by the fixed geometric weights discount^(K-1-k). The baseline is the group's mean
episode return, as in GRPO, so a turn's advantage is its return-to-go measured against
what the group's episodes earned in total; with discount < 1 that also favours shorter
episodes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from focusrl.types import Sample


def returns_to_go(rewards: Sequence[float], discount: float) -> list[float]:
    """G_k for each turn k: rewards (K,) -> (K,)."""
    out, running = [0.0] * len(rewards), 0.0
    for k in range(len(rewards) - 1, -1, -1):
        running = rewards[k] + discount * running
        out[k] = running
    return out


def assign_turn_advantages(samples: Sequence[Sample], discount: float,
                           normalize_std: bool = True, eps: float = 1e-6) -> None:
    """Set `sample.token_advantages` (one per response token) from the episodes' per-turn
    rewards (`meta['env_turn_rewards']`) and turn spans (`meta['env_turn_spans']`)."""
    groups: dict[int, list[Sample]] = defaultdict(list)
    for s in samples:
        groups[s.group_id].append(s)
    for members in groups.values():
        g0 = [returns_to_go(_rewards(s), discount)[0] if _rewards(s) else 0.0 for s in members]
        mean = sum(g0) / len(g0)
        std = (sum((g - mean) ** 2 for g in g0) / max(len(g0) - 1, 1)) ** 0.5
        scale = 1.0 / (std + eps) if normalize_std else 1.0
        for s in members:
            adv = [0.0] * len(s.response_ids)
            rtg = returns_to_go(_rewards(s), discount)
            for k, (start, end) in enumerate(s.meta["env_turn_spans"]):
                # a turn cut by a limit has no reward of its own: it gets the return after it
                a = ((rtg[k] if k < len(rtg) else 0.0) - mean) * scale
                adv[start:end] = [a] * (end - start)
            s.token_advantages = adv


def _rewards(s: Sample) -> list[float]:
    if "env_turn_rewards" not in s.meta:
        raise ValueError(f"sample of prompt {s.prompt_id!r} is not an episode (no "
                         "meta['env_turn_rewards']); env.credit=turn needs env.name set.")
    return s.meta["env_turn_rewards"]
