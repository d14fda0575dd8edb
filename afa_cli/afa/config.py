"""The AFA method's settings, each written once: its type, its default and what it means.

`setting` puts a field's help and checks in its metadata, where the config schema reads them.
The choices are str Enums whose member names are their values, so that a choice compares equal to
its string and is saved as that string."""

from dataclasses import dataclass, field, fields
from enum import StrEnum


def setting(default, help: str, **checks):
    """A dataclass field with `help` and `checks` in its metadata: bounds gt, ge, lt, le (as in
    value > gt) and length_of=<the sibling key giving the length of a list>. A list or dict
    default is copied for every instance."""
    metadata = {"help": help, **checks}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


class Policy(StrEnum):
    """q_θ, the distribution the masker draws words from."""

    complement = "complement"    # (1 − a_i)/(n − 1): mask what the model ignores
    attention = "attention"      # a_i: mask what the model attends to
    uniform = "uniform"          # 1/n, independent of θ


class Reward(StrEnum):
    discriminator = "discriminator"  # D fails to tell the masked copy from the original
    divergence = "divergence"        # −KL(p(x) || p(x̃)), no discriminator
    random = "random"                # N(0, 1): the control


class RewardPass(StrEnum):
    train = "train"    # the training pass's outputs (dropout on, no extra cost)
    eval = "eval"      # one extra no-grad pass in eval mode


class Schedule(StrEnum):
    always = "always"          # every training step is an AFA step
    alternate = "alternate"    # blocks of alternate_every AFA steps, then as many plain ones


class MaskWith(StrEnum):
    auto = "auto"      # mask when the tokenizer has a mask token, else unk; the run records which
    mask = "mask"      # the tokenizer's mask token
    unk = "unk"        # its unknown token (decoders have no mask token)
    drop = "drop"      # hide the word's pieces from attention


@dataclass
class AFAConfig:
    policy: Policy = setting(Policy.complement, "which words the masker draws")
    reward: Reward = setting(Reward.discriminator, "what rewards a mask")
    reward_pass: RewardPass = setting(RewardPass.train, "which forward pass the reward reads")
    mask_ratio: float = setting(0.15, "ρ: k = max(1, ⌊ρ·n + ½⌋) of n words", gt=0, le=1)
    num_masks: int = setting(1, "M masks per sentence; M > 1 uses a leave-one-out baseline", ge=1)
    mask_with: MaskWith = setting(MaskWith.auto, "what takes the place of a masked word")
    pg_weight: float = setting(0.1, "λ, weight of the policy-gradient loss")
    entropy_weight: float = setting(0.01, "β, bonus on the attention entropy (with the policy "
                                          "gradient)")
    masked_ce_weight: float = setting(0.0, "γ, cross-entropy on the masked copies")
    normalize_advantage: bool = setting(True, "divide the advantages by their spread")
    adv_eps: float = setting(0.1, "floor of the advantages' spread", gt=0)
    warmup_steps: int = setting(50, "discriminator-only steps before the policy gradient starts")
    d_hidden: int = setting(256, "hidden units of the discriminator")
    d_lr: float = setting(1e-3, "learning rate of the discriminator")
    d_steps: int = setting(1, "discriminator steps per training step")
    schedule: Schedule = setting(Schedule.always, "which steps are AFA steps: always, or "
                                                  "alternate blocks of AFA and plain steps")
    alternate_every: int = setting(50, "with schedule=alternate: steps per block", ge=1)

    def __post_init__(self):
        # Raises on an unknown choice; accepts the plain strings of a saved run config.
        for f in fields(self):
            if isinstance(f.default, StrEnum):
                setattr(self, f.name, type(f.default)(getattr(self, f.name)))
