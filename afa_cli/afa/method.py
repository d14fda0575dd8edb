"""One AFA step around the target's ordinary classification step (AFA_SPEC.md, steps 2-9).

The training loop owns the model and calls `Forward` to run it; this module owns everything the
method adds: the masker's generator, the discriminator and its optimizer, rewards and losses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from afa_cli.afa import masking, objective
from afa_cli.afa.config import AFAConfig, Policy, Reward, RewardPass, Schedule
from afa_cli.afa.attention import entropy, normalized_entropy, word_attention, word_mask
from afa_cli.afa.discriminator import Discriminator


@dataclass
class Forward:
    """What one forward pass of the target gives the method."""

    logits: torch.Tensor                    # [N, C]
    pooled: torch.Tensor                    # [N, D] hidden state at the query position
    token_attention: torch.Tensor | None    # [N, T] query row, heads averaged


# forward(input_ids [N, T], attention_mask [N, T], train_mode, read_attention) -> Forward;
# read_attention=False: token_attention is None and no layer computes weights (the fast path)
ForwardFn = Callable[[torch.Tensor, torch.Tensor, bool, bool], Forward]
# gather_rows(rows [n, ...]) -> (every process's rows [N, ...], where this process's rows start)
GatherFn = Callable[[torch.Tensor], tuple[torch.Tensor, int]]


def single_process(rows: torch.Tensor) -> tuple[torch.Tensor, int]:
    return rows, 0


class AFA:
    def __init__(self, cfg: AFAConfig, hidden_size: int, replacement_id: int | None, seed: int,
                 device: torch.device | str = "cpu", gather_rows: GatherFn = single_process,
                 rank: int = 0):
        self.cfg = cfg
        self.replacement_id = replacement_id
        self.device = torch.device(device)
        # Under data parallelism the batch statistics (the advantages' baseline and scale) and
        # D's training batch span every process's rows, as in one process with the global batch;
        # D then takes the same steps on every process and stays identical without syncing.
        self.gather_rows = gather_rows
        # The masker and D draw from their own random streams, so that switching AFA on with
        # zero weights leaves the target's training bit for bit identical to afa=off.
        # Each data-parallel process masks its own rows with its own stream; D starts the same
        # everywhere.
        self.generator = torch.Generator().manual_seed(seed + 7919 + 1_000_003 * rank)
        self.discriminator = None
        self.d_optimizer = None
        if cfg.reward == Reward.discriminator:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + 104_729)
                self.discriminator = Discriminator(hidden_size, cfg.d_hidden).to(self.device)
            self.d_optimizer = torch.optim.AdamW(self.discriminator.parameters(), lr=cfg.d_lr)
        self._d_features: tuple[torch.Tensor, torch.Tensor] | None = None

    def active(self, step: int) -> bool:
        """An AFA step (masks, reward, discriminator) rather than a plain one: always, or in
        alternating blocks, the cross-tuning AD-DROP needs when masking high-attribution words."""
        if self.cfg.schedule == Schedule.always:
            return True
        return (step // self.cfg.alternate_every) % 2 == 0

    def policy_active(self, step: int) -> bool:
        return (self.cfg.policy != Policy.uniform and self.cfg.pg_weight > 0
                and step >= self.cfg.warmup_steps)

    def target_loss(self, forward: ForwardFn, batch: dict, original: Forward,
                    step: int) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """The method's terms of the target loss, λ·L_pg − β·H(a) + γ·CE(f(x̃), y), or None
        when they are all off; also remembers the features D trains on in `update_discriminator`.
        The statistics stay on the device (0-dim tensors): reading them would wait for it."""
        cfg = self.cfg
        num_words = batch["num_words"]                                    # [B]
        attention = word_attention(original.token_attention.float(), batch["word_ids"],
                                   batch.get("word_slots"))               # [B, W]
        q = masking.mask_policy(attention, num_words, cfg.policy)         # [B, W]
        k = masking.num_to_mask(num_words, cfg.mask_ratio)                # [B]
        masks = masking.sample_masks(q.detach(), k, cfg.num_masks, self.generator)  # [B, M, W]
        masked_ids, masked_att = masking.apply_masks(
            batch["input_ids"], batch["attention_mask"], batch["word_ids"], masks,
            cfg.mask_with, self.replacement_id)                           # [B·M, T]

        # x̃ through the target in the same (train) mode as x, without moving the global RNG.
        needs_grad = cfg.masked_ce_weight > 0
        with torch.random.fork_rng(devices=[]), torch.set_grad_enabled(needs_grad):
            masked = forward(masked_ids, masked_att, True, False)
        reward_original, reward_masked = original, masked
        if cfg.reward_pass == RewardPass.eval:
            with torch.no_grad():
                both = forward(torch.cat([batch["input_ids"], masked_ids]),
                               torch.cat([batch["attention_mask"], masked_att]), False, False)
            n = batch["input_ids"].shape[0]
            reward_original = Forward(both.logits[:n], both.pooled[:n], None)
            reward_masked = Forward(both.logits[n:], both.pooled[n:], None)

        stats: dict[str, torch.Tensor] = {}
        rewards = self._rewards(reward_original, reward_masked, masks.shape[0], stats)  # [B, M]
        valid = word_mask(num_words, attention.shape[1])
        mask_entropy = entropy(q.detach() * valid)
        stats.update(self._attention_stats(attention.detach(), num_words))
        stats["mask_entropy"] = mask_entropy.mean()

        terms = []
        if self.policy_active(step):
            # attention policy: masking what the model attends to is good when D detects it.
            signed = -rewards if cfg.policy == Policy.attention else rewards
            every_signed, start = self.gather_rows(signed)                # [B_global, M]
            every_advantage = objective.advantages(every_signed, cfg.adv_eps, cfg.normalize_advantage)
            advantage = every_advantage[start:start + signed.shape[0]]   # [B, M] this process's
            loss_pg = objective.policy_loss(advantage, masking.log_prob(q, masks))
            terms.append(cfg.pg_weight * loss_pg)
            if cfg.entropy_weight > 0:
                terms.append(-cfg.entropy_weight * entropy(attention).mean())
            stats.update(loss_pg=loss_pg.detach(), adv_std=every_advantage.std(correction=0))
        if needs_grad:
            labels = batch["labels"].repeat_interleave(cfg.num_masks)
            loss_masked = F.cross_entropy(masked.logits.float(), labels)
            terms.append(cfg.masked_ce_weight * loss_masked)
            stats["loss_masked_ce"] = loss_masked.detach()
        stats["reward_mean"] = rewards.mean()
        return (sum(terms) if terms else None), stats

    def _rewards(self, original: Forward, masked: Forward, batch: int,
                 stats: dict[str, torch.Tensor]) -> torch.Tensor:
        cfg = self.cfg
        match cfg.reward:
            case Reward.discriminator:
                d_in_original = original.pooled.detach()                 # [B, D]
                d_in_masked = masked.pooled.detach()                     # [B·M, D]
                self._d_features = (self.gather_rows(d_in_original)[0],
                                    self.gather_rows(d_in_masked)[0])
                with torch.no_grad():
                    reward = objective.discriminator_reward(self.discriminator(d_in_masked))
            case Reward.divergence:
                reward = objective.divergence_reward(original.logits.detach(),
                                                     masked.logits.detach(), cfg.num_masks)
            case Reward.random:
                reward = objective.random_reward(batch * cfg.num_masks, self.generator)
            case _:
                raise ValueError(f"unknown reward {cfg.reward!r}; expected one of "
                                 f"{', '.join(Reward)}")
        return reward.float().to(self.device).reshape(batch, cfg.num_masks)

    @staticmethod
    def _attention_stats(attention: torch.Tensor, num_words: torch.Tensor) -> dict[str, torch.Tensor]:
        """Over the texts of more than one word (NaN when there is none)."""
        top1 = attention.max(dim=1).values
        return {
            "attn_entropy": normalized_entropy(attention, num_words).nanmean(),
            "attn_top1": torch.where(num_words > 1, top1, torch.full_like(top1, float("nan"))).nanmean(),
        }

    def update_discriminator(self) -> dict[str, torch.Tensor]:
        """Step φ `d_steps` times on the features of the last `target_loss` call."""
        if self.discriminator is None or self._d_features is None:
            return {}
        original, masked = self._d_features
        self._d_features = None
        for _ in range(self.cfg.d_steps):
            logits_original = self.discriminator(original)
            logits_masked = self.discriminator(masked)
            loss = objective.discriminator_loss(logits_original, logits_masked)
            self.d_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.d_optimizer.step()
        return {
            "loss_d": loss.detach(),
            "d_acc_original": (logits_original > 0).float().mean(),
            "d_acc_masked": (logits_masked <= 0).float().mean(),
        }

    def state_dict(self) -> dict:
        state = {"generator": self.generator.get_state()}
        if self.discriminator is not None:
            state["discriminator"] = self.discriminator.state_dict()
            state["d_optimizer"] = self.d_optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        if self.discriminator is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.d_optimizer.load_state_dict(state["d_optimizer"])
