"""The exact gradient (BPTT through the float model) and BSP against it."""
import numpy as np
import pytest

from wuxing.golden.config import RunConfig
from wuxing.golden.gradient import (Gradient, bsp_direction, cosine, finite_difference, loss,
                             loss_and_gradient)
from wuxing.golden.network import FloatModel, init_coefficients
from wuxing.golden.topology import Topology

SMALL = (8, 6, 4, 2)


def small_model(seed=0, **cfg):
    t = Topology(layers=SMALL, seed=seed)
    c = RunConfig(**cfg)
    return t, c, FloatModel(t, c, dtype=np.float64)


def test_forward_matches_float_model():
    t, cfg, m = small_model()
    C = init_coefficients(t, cfg, 1)
    x = np.random.default_rng(0).uniform(0, 1, (3, 8))
    y = Gradient(m).forward(C, x)
    np.testing.assert_allclose(y, m.outputs(m.forward(C, x)), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cfg", [
    dict(),                                                       # small signals
    dict(input_scale=30.0, state_lo=-2.0, state_hi=3.0),          # saturating states
    dict(output_mean=False, h_shift=1, steps=30, c_init_lo=1.0, c_init_hi=2.0),
])
def test_gradient_equals_central_differences(cfg):
    t, c, m = small_model(seed=2, **cfg)
    rng = np.random.default_rng(5)
    C = init_coefficients(t, c, 3)
    x = rng.uniform(0, 1 if cfg else 0.05, (3, 8))
    target = np.eye(2)[[0, 1, 0]]
    lo, g = loss_and_gradient(m, C, x, target)
    assert lo == pytest.approx(loss(m, C, x, target), rel=1e-12)
    fd = finite_difference(m, C, x, target, eps=1e-6)
    assert np.linalg.norm(fd) > 0
    assert np.linalg.norm(g - fd) / np.linalg.norm(fd) < 1e-5
    if cfg.get("state_lo") == -2.0:
        assert m.forward(C, x).overflow.any()  # the saturation was really exercised


def test_gradient_of_a_wrong_sign_is_caught():
    """The finite-difference check can fail: a perturbed gradient does not pass it."""
    t, c, m = small_model(seed=2)
    C = init_coefficients(t, c, 3)
    x = np.random.default_rng(5).uniform(0, 0.05, (1, 8))
    target = np.eye(2)[[1]]
    _, g = loss_and_gradient(m, C, x, target)
    fd = finite_difference(m, C, x, target)
    bad = g.copy()
    bad[0] = -bad[0] + 1e-3 * np.linalg.norm(g)
    assert np.linalg.norm(bad - fd) / np.linalg.norm(fd) > 1e-3


def mean_cosine(steps, n=10, topology_seed=0):
    """Mean over n single-sample batches of cos(BSP update, -dL/dC), inputs ~U(0, 0.05)."""
    t = Topology(layers=SMALL, seed=topology_seed)
    cfg = RunConfig(steps=steps, h_shift=2, kt=2.0 ** -4, step=2.0 ** -6)
    m = FloatModel(t, cfg, dtype=np.float64)
    grad = Gradient(m)
    cs = []
    for s in range(n):
        rng = np.random.default_rng(s)
        C = init_coefficients(t, cfg, s)
        x = rng.uniform(0, 0.05, (1, 8))
        target = np.eye(2)[[s % 2]]
        _, g, _ = grad.loss_and_gradient(C, x, target)
        res = m.forward(C, x)
        rev = m.reverse(C, m.error(m.outputs(res), target))
        update = m.bsp_update(C, res.S, rev.S) - C
        assert np.all(np.abs(C + update) < cfg.c_max)  # no clamp: the update is BSP's own
        cs.append(cosine(update, -g))
    return float(np.mean(cs))


def test_bsp_follows_the_gradient_at_T20():
    c20 = mean_cosine(80)  # T = 80 x 0.25 = 20
    assert c20 >= 0.9
    # too short a window: the signals have not crossed the network yet
    assert mean_cosine(16) < c20


def test_bsp_direction_is_g1():
    t, c, m = small_model()
    C = init_coefficients(t, c, 0)
    x = np.random.default_rng(1).uniform(0, 0.05, (4, 8))
    target = np.eye(2)[[0, 1, 1, 0]]
    res = m.forward(C, x)
    rev = m.reverse(C, m.error(m.outputs(res), target))
    s, r = m.link_ends(res.S, rev.S)
    np.testing.assert_allclose(bsp_direction(m, C, x, target), np.mean(s * r, axis=1))


def test_gradient_rejects_a_fixed_model():
    from wuxing.golden.network import FixedModel
    t, c, _ = small_model()
    with pytest.raises(TypeError):
        Gradient(FixedModel(t, c.replace(kt=1.0)))
