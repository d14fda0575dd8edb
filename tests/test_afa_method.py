"""The method's pieces on real tensors and a real (truncated) MiniLM."""

import pytest
import torch

from afa_cli.afa import masking, objective
from afa_cli.afa.config import AFAConfig, Schedule
from afa_cli.afa.method import AFA
from afa_cli.afa.attention import normalized_entropy, word_attention
from afa_cli.afa.discriminator import Discriminator
from afa_cli.config import compose_config
from afa_cli.data import collate, encode, load_split
from afa_cli.models import AttendingClassifier, load_pretrained
from conftest import needs_data

SENTENCES = ["unflinchingly bleak and desperate", "the acting is superb but the plot drags",
             "a charming , often affecting journey .", "great"]


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    model, tokenizer = load_pretrained(compose_config(["model.num_layers=2"]).model, ["neg", "pos"])
    return model, tokenizer


@pytest.fixture(scope="module")
def batch(tiny_model):
    _, tokenizer = tiny_model
    data = encode(SENTENCES, [0, 1, 1, 1], tokenizer, 128)
    return collate(data, list(range(len(SENTENCES))), tokenizer.pad_token_id)


def policy(tiny_model, batch, train_mode=False):
    net = AttendingClassifier(tiny_model[0])
    token_attention = net(batch["input_ids"], batch["attention_mask"], train_mode).token_attention
    return word_attention(token_attention, batch["word_ids"])


def test_word_attention_is_a_distribution_over_real_words(tiny_model, batch):
    a = policy(tiny_model, batch)
    assert a.shape == (4, 8)
    assert torch.allclose(a.sum(dim=1), torch.ones(4))
    for row, n in enumerate(batch["num_words"].tolist()):
        assert (a[row, n:] == 0).all() and (a[row, :n] > 0).all()


def test_word_attention_sums_pieces_and_skips_specials_and_padding():
    token_attention = torch.tensor([[0.4, 0.1, 0.2, 0.1, 0.2, 0.0],     # [CLS] w0 w0 w1 [SEP] pad
                                    [0.5, 0.3, 0.2, 0.0, 0.0, 0.0]])    # [CLS] w0 [SEP] pad...
    word_ids = torch.tensor([[-1, 0, 0, 1, -1, -1], [-1, 0, -1, -1, -1, -1]])
    a = word_attention(token_attention, word_ids)
    assert torch.allclose(a, torch.tensor([[0.75, 0.25], [1.0, 0.0]]))


def test_k_follows_the_mask_ratio():
    n = torch.tensor([1, 2, 3, 6, 7, 10, 20])
    assert masking.num_to_mask(n, 0.15).tolist() == [1, 1, 1, 1, 1, 2, 3]
    assert masking.num_to_mask(n, 0.5).tolist() == [1, 1, 2, 3, 4, 5, 10]
    assert masking.num_to_mask(n, 1.0).tolist() == n.tolist()


@pytest.mark.parametrize("name", ["complement", "attention", "uniform"])
def test_mask_policies_are_distributions(tiny_model, batch, name):
    a = policy(tiny_model, batch)
    q = masking.mask_policy(a, batch["num_words"], name)
    assert torch.allclose(q.sum(dim=1), torch.ones(4), atol=1e-6)
    assert (q[3, 1:] == 0).all()                            # one-word sentence: all on that word


def test_sampling_respects_k_and_never_picks_padding(tiny_model, batch):
    a = policy(tiny_model, batch)
    q = masking.mask_policy(a, batch["num_words"], "complement")
    k = masking.num_to_mask(batch["num_words"], 0.3)
    generator = torch.Generator().manual_seed(0)
    masks = masking.sample_masks(q, k, 5, generator)
    assert masks.shape == (4, 5, 8)
    assert (masks.sum(dim=2) == k[:, None]).all()
    for row, n in enumerate(batch["num_words"].tolist()):
        assert not masks[row, :, n:].any()
    again = masking.sample_masks(q, k, 5, torch.Generator().manual_seed(0))
    assert torch.equal(masks, again)


def test_sampling_frequencies_follow_q():
    q = torch.tensor([[0.7, 0.2, 0.1]])
    masks = masking.sample_masks(q, torch.tensor([1]), 20000, torch.Generator().manual_seed(1))
    freq = masks[0].float().mean(dim=0)
    assert torch.allclose(freq, q[0], atol=0.015)


@pytest.mark.parametrize("mode", ["mask", "unk", "drop"])
def test_masking_changes_exactly_the_chosen_words_pieces(tiny_model, batch, mode):
    _, tokenizer = tiny_model
    masks = torch.zeros(4, 1, 8, dtype=torch.bool)
    masks[0, 0, 0] = True                   # "unflinchingly": several pieces
    masks[1, 0, 3] = True                   # "superb"
    replacement = {"mask": tokenizer.mask_token_id, "unk": tokenizer.unk_token_id, "drop": None}[mode]
    ids, att = masking.apply_masks(batch["input_ids"], batch["attention_mask"], batch["word_ids"],
                                   masks, mode, replacement)
    chosen = torch.zeros_like(batch["input_ids"], dtype=torch.bool)
    chosen[0] = batch["word_ids"][0] == 0
    chosen[1] = batch["word_ids"][1] == 3
    assert chosen[0].sum() > 1
    if mode == "drop":
        assert torch.equal(ids, batch["input_ids"])
        assert torch.equal(att != batch["attention_mask"], chosen)
    else:
        assert torch.equal(att, batch["attention_mask"])
        assert torch.equal(ids != batch["input_ids"], chosen)
        assert (ids[chosen] == replacement).all()


def test_masked_copies_are_ordered_sentence_major():
    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    word_ids = torch.tensor([[0, 1, 2], [0, 1, 2]])
    masks = torch.tensor([[[1, 0, 0], [0, 1, 0]], [[0, 0, 1], [1, 0, 0]]], dtype=torch.bool)
    out, _ = masking.apply_masks(ids, torch.ones_like(ids), word_ids, masks, "mask", 0)
    assert out.tolist() == [[0, 2, 3], [1, 0, 3], [4, 5, 0], [0, 5, 6]]


@pytest.mark.parametrize("name, direction", [("complement", -1), ("attention", +1)])
def test_policy_gradient_moves_attention_the_right_way(tiny_model, batch, name, direction):
    """A positive advantage on masked word i: complement lowers a_i, attention raises it."""
    model, _ = tiny_model
    state = {k: v.clone() for k, v in model.state_dict().items()}
    try:
        a = policy(tiny_model, batch)
        word = 3                                       # "superb" in sentence 1
        masks = torch.zeros(4, 1, 8, dtype=torch.bool)
        masks[1, 0, word] = True
        q = masking.mask_policy(a, batch["num_words"], name)
        advantage = torch.zeros(4, 1)
        advantage[1, 0] = 1.0
        loss = objective.policy_loss(advantage, masking.log_prob(q, masks))
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for p in model.parameters():
                if p.grad is not None:
                    p -= 1e-3 * p.grad
        after = policy(tiny_model, batch)
        change = (after[1, word] - a[1, word]).item()
        assert change * direction > 1e-6, change
    finally:
        model.load_state_dict(state)


def test_advantages():
    one = objective.advantages(torch.tensor([[0.3]]), eps=0.1, normalize=True)
    assert one.tolist() == [[0.0]]
    equal = objective.advantages(torch.full((5, 1), -0.7), eps=0.1, normalize=True)
    assert torch.equal(equal, torch.zeros(5, 1))
    r = torch.tensor([[1.0], [2.0], [3.0], [6.0]])
    a = objective.advantages(r, eps=0.1, normalize=True)
    assert torch.allclose(a, (r - 3.0) / r.std(correction=0))
    assert torch.allclose(objective.advantages(r, eps=0.1, normalize=False), r - 3.0)
    tiny_spread = objective.advantages(torch.tensor([[0.0], [0.02]]), eps=0.1, normalize=True)
    assert torch.allclose(tiny_spread, torch.tensor([[-0.1], [0.1]]))    # ε caps the scaling
    loo = objective.advantages(torch.tensor([[1.0, 2.0, 3.0], [5.0, 5.0, 5.0]]), 0.1, normalize=False)
    assert torch.allclose(loo, torch.tensor([[-1.5, 0.0, 1.5], [0.0, 0.0, 0.0]]))
    assert torch.isfinite(objective.advantages(torch.tensor([[2.0, 2.0]]), 0.1, True)).all()


def test_rewards():
    assert torch.allclose(objective.discriminator_reward(torch.tensor([0.0])), torch.tensor([-0.6931]),
                          atol=1e-4)
    logits = torch.tensor([[2.0, -1.0]])
    same = objective.divergence_reward(logits, logits.repeat(2, 1), num_masks=2)
    assert torch.allclose(same, torch.zeros(2), atol=1e-6)
    assert (objective.divergence_reward(logits, torch.tensor([[-1.0, 2.0]]), 1) < 0).all()
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(objective.random_reward(6, g1), objective.random_reward(6, g2))


def test_normalized_entropy():
    dist = torch.tensor([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    h = normalized_entropy(dist, torch.tensor([2, 3, 3]))
    assert torch.allclose(h, torch.tensor([1.0, 0.0, 1.0]), atol=1e-6)
    assert torch.isnan(normalized_entropy(torch.tensor([[1.0]]), torch.tensor([1])))[0]


@needs_data
def test_discriminator_learns_to_separate_masked_copies(tiny_model):
    """On real SST-2 sentences, D tells h(x) from h(x̃) after a few hundred steps."""
    model, tokenizer = tiny_model
    texts = load_split(compose_config([]).dataset, "validation").texts[:96]
    data = encode(texts, [0] * len(texts), tokenizer, 64)
    full = collate(data, list(range(len(texts))), tokenizer.pad_token_id)
    net = AttendingClassifier(model)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        full_out = net(full["input_ids"], full["attention_mask"], False)
        pooled, token_attention = full_out.pooled, full_out.token_attention
        a = word_attention(token_attention, full["word_ids"])
        q = masking.mask_policy(a, full["num_words"], "uniform")
        masks = masking.sample_masks(q, masking.num_to_mask(full["num_words"], 0.3), 1, generator)
        ids, att = masking.apply_masks(full["input_ids"], full["attention_mask"], full["word_ids"],
                                       masks, "mask", tokenizer.mask_token_id)
        pooled_masked = net(ids, att, False).pooled
    torch.manual_seed(0)
    d = Discriminator(pooled.shape[1], 64)
    opt = torch.optim.AdamW(d.parameters(), lr=1e-3)
    for _ in range(300):
        loss = objective.discriminator_loss(d(pooled), d(pooled_masked))
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        accuracy = ((d(pooled) > 0).float().mean() + (d(pooled_masked) <= 0).float().mean()) / 2
    assert accuracy > 0.9 and loss.item() < 0.3


def test_alternate_schedule_makes_blocks_of_afa_and_plain_steps():
    def steps(schedule, every=3):
        afa = AFA(AFAConfig(schedule=schedule, alternate_every=every), 8, 0, seed=1,
                  device=torch.device("cpu"))
        return [afa.active(step) for step in range(12)]

    assert steps(Schedule.always) == [True] * 12
    assert steps(Schedule.alternate) == [True] * 3 + [False] * 3 + [True] * 3 + [False] * 3
