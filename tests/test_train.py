"""Training: BSP in float and fixed point learns, the loop's bookkeeping, the recipes."""
import numpy as np
import pytest

from wuxing.golden.config import RunConfig
from wuxing.golden.data import load_dataset
from wuxing.golden.network import FixedModel, FloatModel, init_coefficients
from wuxing.golden.topology import Topology
from wuxing.golden.train import RECIPES, evaluate, onehot, run_recipe, train


@pytest.fixture(scope="module")
def digits4():
    return load_dataset("digits4")


def tiny_setup():
    r = RECIPES["tiny-digits4"]
    return r.build_topology(), r.cfg, r.batch


def test_tiny_bsp_learns_above_chance(digits4):
    t, cfg, batch = tiny_setup()
    res = train(t, cfg, digits4, epochs=4, batch=batch, seed=0)
    accs = [h["test_acc"] for h in res.history]
    assert len(res.history) == 5 and res.history[0]["epoch"] == 0
    assert res.history[0]["train_acc"] is None
    # chance is 10 %; the untrained network sits near it
    assert accs[0] < 0.16
    assert max(accs[1:]) >= 0.2
    assert max(accs[1:]) > accs[0] + 0.08
    assert res.best["test_acc"] == max(accs)
    # the result is reproducible from its seed
    again = train(t, cfg, digits4, epochs=1, batch=batch, seed=0)
    np.testing.assert_array_equal(again.history[1]["test_acc"], res.history[1]["test_acc"])


def test_tiny_bsp_learns_in_fixed_point(digits4):
    t, cfg, batch = tiny_setup()
    res = train(t, cfg, digits4, epochs=4, batch=batch, seed=0, fixed=True)
    assert res.fixed and res.C.dtype == np.int64
    accs = [h["test_acc"] for h in res.history]
    assert max(accs[1:]) >= 0.2
    # the reported real coefficients are the registers' values
    m = FixedModel(t, cfg)
    np.testing.assert_array_equal(res.C_real, m.coef_to_real(res.C))
    acc, _ = evaluate(m, res.C, digits4.x_test, digits4.y_test)
    assert acc == res.history[-1]["test_acc"]


def test_zero_epochs_only_evaluates(digits4):
    t, cfg, batch = tiny_setup()
    C0 = init_coefficients(t, cfg, 3)
    res = train(t, cfg, digits4, epochs=0, batch=batch, C0=C0)
    np.testing.assert_array_equal(res.C, C0)
    assert [h["epoch"] for h in res.history] == [0]


def test_progress_and_log_are_called(digits4):
    t, cfg, batch = tiny_setup()
    calls, lines = [], []
    train(t, cfg, digits4, epochs=2, batch=64, n_train=256, n_test=64,
          progress=lambda d, n: calls.append((d, n)), log=lines.append)
    assert calls == [(i, 8) for i in range(1, 9)]
    assert len(lines) == 3 and lines[0].startswith("epoch   0")


def test_evaluate_argmax_and_loss():
    t = Topology(layers=(3, 2), seed=0)
    cfg = RunConfig()
    m = FloatModel(t, cfg, dtype=np.float64)
    C = init_coefficients(t, cfg, 0)
    x = np.random.default_rng(0).uniform(0, 1, (5, 3))
    y = m.outputs(m.forward(C, x))
    labels = np.argmax(y, axis=1)
    acc, loss = evaluate(m, C, x, labels)
    assert acc == 1.0
    assert loss == pytest.approx(np.mean(0.5 * np.sum((onehot(labels, 2) - y) ** 2, axis=1)))
    acc, _ = evaluate(m, C, x, 1 - labels)
    assert acc == 0.0


def test_gradient_method_learns(digits4):
    t, cfg, batch = tiny_setup()
    res = train(t, cfg, digits4, epochs=2, batch=16, method="gradient", lr=0.03)
    assert max(h["test_acc"] for h in res.history[1:]) > res.history[0]["test_acc"] + 0.15


@pytest.mark.parametrize("kw, msg", [
    (dict(batch=24, fixed=True), "power of two"),
    (dict(batch=0), "batch"),
    (dict(epochs=-1), "epochs"),
    (dict(method="sgd"), "method"),
    (dict(method="gradient", fixed=True), "float only"),
    (dict(C0=np.zeros(3)), "C0"),
])
def test_bad_arguments(digits4, kw, msg):
    t, cfg, _ = tiny_setup()
    args = dict(epochs=1, batch=16)
    args.update(kw)
    with pytest.raises(ValueError, match=msg):
        train(t, cfg, digits4, **args)


def test_dataset_must_fit_the_topology(digits4):
    t = Topology(layers=(8, 10))
    with pytest.raises(ValueError, match="inputs"):
        train(t, RunConfig(), digits4, epochs=1, batch=16)


def test_recipes_are_consistent():
    for name, r in RECIPES.items():
        t = r.build_topology()
        assert r.epochs > 0 and r.batch > 0
        if r.fixed or name.startswith("tiny"):
            FixedModel(t, r.cfg)  # the settings fit the hardware's number format
    with pytest.raises(ValueError, match="unknown recipe"):
        run_recipe("nope")


@pytest.mark.slow
def test_model1_mnist_recipe_reaches_30_percent():
    res = run_recipe("model1-mnist", epochs=1)  # one epoch of the recipe: 250 BSP updates
    accs = [h["test_acc"] for h in res.history]
    assert max(accs) >= 0.30
    assert accs[-1] > accs[0] + 0.15
