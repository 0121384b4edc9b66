"""Facts of the neuron model (MODEL.md): fixed point, adjoint Jacobian, eigenvalues, gains."""
import numpy as np
import pytest

from wuxing.golden.neuron import MODEL1_NEURON, NeuronParams

EQUAL_K = [MODEL1_NEURON, NeuronParams(k1=2.0, k2=0.5, k3=1.5),
           NeuronParams(k1=0.8, k2=0.3, k3=0.25), NeuronParams(k1=1.0, k2=0.5, k3=0.5,
                                                                lin_offset=2, quad_offset=1)]


@pytest.mark.parametrize("neuron", EQUAL_K, ids=["model1", "k2-0.5-1.5", "k.8-.3-.25", "offs"])
def test_b0_is_fixed_point_of_both_systems(neuron):
    b0 = (neuron.k1[0] - neuron.k2[0]) / neuron.k3[0]
    e = np.full(5, b0)
    for reverse in (False, True):
        assert np.array_equal(neuron.fixed_point(reverse), e)
        assert np.max(np.abs(neuron.derivative(e, reverse=reverse))) < 1e-15
    # and not a fixed point a little off it
    assert np.max(np.abs(neuron.derivative(e + 0.01 * np.arange(5)))) > 1e-4


@pytest.mark.parametrize("neuron", EQUAL_K, ids=["model1", "k2-0.5-1.5", "k.8-.3-.25", "offs"])
def test_reverse_jacobian_is_transpose_at_b0(neuron):
    e = neuron.fixed_point()
    jf = neuron.jacobian(e, reverse=False)
    jr = neuron.jacobian(e, reverse=True)
    assert np.allclose(jr, jf.T, rtol=0, atol=1e-15)
    assert not np.allclose(jf, jf.T)        # not trivially symmetric
    # the jacobian is the derivative's: central differences
    eps = 1e-6
    for reverse, j in ((False, jf), (True, jr)):
        num = np.empty((5, 5))
        for k in range(5):
            d = np.zeros(5)
            d[k] = eps
            num[:, k] = (neuron.derivative(e + d, reverse=reverse)
                         - neuron.derivative(e - d, reverse=reverse)) / (2 * eps)
        assert np.allclose(num, j, atol=1e-8)


def test_unequal_k_fixed_point_found():
    n = NeuronParams(k1=(1.0, 0.9, 1.1, 1.05, 0.95), k2=(0.5, 0.45, 0.55, 0.5, 0.52),
                     k3=(0.5, 0.6, 0.4, 0.45, 0.55))
    for reverse in (False, True):
        e = n.fixed_point(reverse)
        assert np.max(np.abs(n.derivative(e, reverse=reverse))) < 1e-12
        assert np.all(np.abs(e - 1.0) < 0.5)


def test_model1_eigenvalues_stability_and_gain():
    j = MODEL1_NEURON.jacobian(MODEL1_NEURON.fixed_point())
    ev = np.linalg.eigvals(j)
    want = np.array([-0.5, -0.2865 + 0.6572j, -0.2865 - 0.6572j, -1.9635 + 1.0633j,
                     -1.9635 - 1.0633j])
    for w in want:
        assert np.min(np.abs(ev - w)) < 1e-4, f"eigenvalue {w} missing from {ev}"
    assert np.max(ev.real) < 0                                  # stable
    assert 1 / -np.max(ev.real) == pytest.approx(3.49, abs=0.01)  # slowest time constant
    # explicit Euler at the fixed point: x <- (I + h J) x is stable for h < ~0.787
    h_lim = np.min(-2 * ev.real / np.abs(ev) ** 2)
    assert h_lim == pytest.approx(0.787, abs=0.001)
    radius = lambda h: np.max(np.abs(np.linalg.eigvals(np.eye(5) + h * j)))  # noqa: E731
    assert radius(0.78) < 1 < radius(0.80)
    assert radius(0.25) < 1                                    # the default step
    # steady-state gain from an input on element q to element p: -J^-1
    gain = -np.linalg.inv(j)
    assert np.max(gain) == pytest.approx(0.878, abs=0.001)
    assert np.min(gain) < 0
