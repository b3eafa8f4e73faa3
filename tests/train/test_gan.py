"""GAN losses, LeCAM, the adaptive weight and R1 on inputs with hand-computed answers."""

from __future__ import annotations

import math

import pytest
import torch

from bootvid.train.gan import LeCAM, adaptive_weight, d_loss, g_loss, r1_penalty


def _t(*values):
    return torch.tensor(values, dtype=torch.float64)


def _close(actual, expected):
    assert abs(float(actual) - expected) < 1e-6, (float(actual), expected)


def test_hinge_d_loss_values():
    _close(d_loss("hinge", _t(2.0, 2.0), _t(-2.0, -2.0)), 0.0)  # both margins met
    _close(d_loss("hinge", _t(0.0), _t(0.0)), 2.0)               # relu(1) + relu(1)
    # mean(relu(1 - [0.5, 3])) + mean(relu(1 + [0.25, -4])) = 0.25 + 0.625
    _close(d_loss("hinge", _t(0.5, 3.0), _t(0.25, -4.0)), 0.875)


def test_non_saturating_d_loss_values():
    _close(d_loss("non_saturating", _t(0.0), _t(0.0)), 2 * math.log(2))
    # softplus(-1) + softplus(-1) = 2 log(1 + e^-1)
    _close(d_loss("non_saturating", _t(1.0), _t(-1.0)), 2 * math.log1p(math.exp(-1)))


def test_g_loss_values_and_direction():
    _close(g_loss("hinge", _t(1.0, -3.0)), 1.0)
    _close(g_loss("non_saturating", _t(0.0)), math.log(2))
    for kind in ("hinge", "non_saturating"):
        fake = _t(0.3, -0.2).requires_grad_()
        g_loss(kind, fake).backward()
        assert (fake.grad < 0).all(), kind  # raising fake logits lowers the generator loss
        real, fake = _t(0.3).requires_grad_(), _t(0.3).requires_grad_()
        d_loss(kind, real, fake).backward()
        assert real.grad < 0 and fake.grad > 0, kind


def test_patch_logits_and_unequal_shapes_are_averaged():
    real, fake = torch.full((2, 1, 3, 4, 4), 0.5), torch.full((5,), -0.5)
    _close(d_loss("hinge", real, fake), 1.0)
    _close(g_loss("non_saturating", real), math.log1p(math.exp(-0.5)))


@pytest.mark.parametrize("fn", [lambda k: d_loss(k, _t(0.0), _t(0.0)),
                                lambda k: g_loss(k, _t(0.0))])
def test_unknown_kind_lists_choices(fn):
    with pytest.raises(ValueError, match=r"'wasserstein'.*\['hinge', 'non_saturating'\]"):
        fn("wasserstein")


def test_lecam_ema_update_and_penalty():
    lecam = LeCAM(decay=0.9)
    assert float(lecam.ema_real) == 0.0 and float(lecam.ema_fake) == 0.0
    lecam.update(torch.tensor([1.0, 3.0]), torch.tensor([-1.0]))
    assert abs(float(lecam.ema_real) - 0.2) < 1e-6 and abs(float(lecam.ema_fake) + 0.1) < 1e-6
    lecam.update(torch.tensor([1.0]), torch.tensor([0.0]))
    ema_real, ema_fake = 0.9 * 0.2 + 0.1 * 1.0, 0.9 * -0.1
    assert abs(float(lecam.ema_real) - ema_real) < 1e-6
    assert abs(float(lecam.ema_fake) - ema_fake) < 1e-6

    real = torch.tensor([0.5, -0.5], requires_grad=True)
    fake = torch.tensor([0.3, 0.1], requires_grad=True)
    penalty = lecam.penalty(real, fake)
    expected = ((max(0.5 - ema_fake, 0) ** 2 + max(-0.5 - ema_fake, 0) ** 2) / 2
                + (max(ema_real - 0.3, 0) ** 2 + max(ema_real - 0.1, 0) ** 2) / 2)
    assert abs(penalty.item() - expected) < 1e-6
    penalty.backward()
    torch.testing.assert_close(real.grad, torch.tensor([0.5 - ema_fake, 0.0]))
    torch.testing.assert_close(fake.grad, torch.tensor([0.0, -(ema_real - 0.1)]))


def test_lecam_update_takes_no_grad_and_state_dict_round_trips():
    lecam = LeCAM(decay=0.5)
    real = torch.tensor([2.0], requires_grad=True)
    lecam.update(real, torch.tensor([-4.0]))
    assert not lecam.ema_real.requires_grad
    state = lecam.state_dict()
    assert set(state) == {"ema_real", "ema_fake"}
    resumed = LeCAM(decay=0.5)
    resumed.load_state_dict(state)
    assert float(resumed.ema_real) == 1.0 and float(resumed.ema_fake) == -2.0
    with pytest.raises(ValueError, match="decay"):
        LeCAM(decay=1.0)


def test_adaptive_weight_on_a_linear_model():
    w = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    x = torch.tensor([1.0, 2.0, 3.0])
    out = (w * x).sum()                   # 4.5
    rec = (out - 1.0) ** 2                # d/dw = 2 (out - 1) x = 7 x
    gan = -3.0 * out                      # d/dw = -3 x
    norm_x = math.sqrt(14.0)
    expected = 7 * norm_x / (3 * norm_x + 1e-4)
    weight = adaptive_weight(rec, gan, w)
    assert abs(float(weight) - expected) < 1e-5
    assert weight.dim() == 0 and not weight.requires_grad
    assert float(adaptive_weight(rec, gan, w, max_weight=1.5)) == 1.5
    (rec + weight * gan).backward()       # the graphs were retained
    assert w.grad is not None


def test_adaptive_weight_needs_both_losses_to_use_the_layer():
    w = torch.ones(2, requires_grad=True)
    other = torch.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="gan_loss does not depend on last_layer"):
        adaptive_weight((w ** 2).sum(), other.sum(), w)
    with pytest.raises(ValueError, match="does not require grad"):
        adaptive_weight((w ** 2).sum(), w.sum(), torch.ones(2))


def test_r1_penalty_on_a_quadratic():
    a = torch.tensor(1.5, requires_grad=True)
    real = torch.tensor([[1.0, 2.0], [0.0, -1.0]], requires_grad=True)
    logits = (a * real ** 2).sum(dim=1)        # grad = 2 a x
    penalty = r1_penalty(logits, real)
    # mean over samples of sum(4 a^2 x^2) = 4 a^2 * (5 + 1) / 2
    assert abs(penalty.item() - 4 * 1.5 ** 2 * 3) < 1e-5
    penalty.backward()                          # differentiable: d/da = 8 a * 3
    assert abs(float(a.grad) - 8 * 1.5 * 3) < 1e-4
    with pytest.raises(ValueError, match="must require grad"):
        r1_penalty(logits, torch.ones(2, 2))
