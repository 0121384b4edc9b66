"""Topology: the paper's link counts, one-to-one interfaces, fan-in, roles, errors, digest."""
import collections

import numpy as np
import pytest

from wuxing.golden.topology import (ROLE_EXTERNAL, ROLE_FREE, ROLE_IN, ROLE_OUT, ROLE_OUTPUT,
                             Topology, preset)


def links_per_interface(t):
    out = collections.Counter(zip(t.src_neuron.tolist(), t.src_elem.tolist()))
    inc = collections.Counter(zip(t.dst_neuron.tolist(), t.dst_elem.tolist()))
    return out, inc


def test_model1_counts(model1):
    lr = model1.link_ratio()
    assert [p["links"] for p in lr["pairs"]] == [3136, 1055, 360, 120, 40]
    assert lr["links"] == 4711 and lr["possible"] == 925_773
    assert round(100 * lr["link_ratio"], 3) == 0.509
    assert model1.n_neurons == 784 + 839 + 283 + 96 + 32 + 10


def test_model2_counts():
    t = preset("model2")
    lr = t.link_ratio()
    assert [p["links"] for p in lr["pairs"]] == [3136, 1055, 360, 120, 40]
    assert lr["possible"] == 1_238_743
    assert round(100 * lr["link_ratio"], 3) == 0.380
    # MODEL2 leaves interfaces free in its larger middle layers
    middle = t.neuron_layer == 1
    assert np.sum(t.role[middle] == ROLE_FREE) > 0


@pytest.mark.parametrize("name", ["model1", "model2", "tiny"])
def test_one_to_one(name):
    t = preset(name)
    out, inc = links_per_interface(t)
    assert max(out.values()) == 1 and max(inc.values()) == 1
    # no interface both sends and receives
    assert not set(out) & set(inc)
    # links join consecutive layers only, from the lower to the higher
    layer = t.neuron_layer
    assert np.array_equal(layer[t.dst_neuron], layer[t.src_neuron] + 1)
    assert np.array_equal(layer[t.src_neuron], t.pair)


def test_fan_in_two_doubles_incoming_capacity():
    t1 = Topology(layers=(6, 5, 4, 3), seed=2)
    t2 = Topology(layers=(6, 5, 4, 3), seed=2, fan_in=2)
    _, inc1 = links_per_interface(t1)
    out2, inc2 = links_per_interface(t2)
    assert max(inc1.values()) == 1
    assert max(inc2.values()) == 2 and max(out2.values()) <= 2
    # the output layer takes twice as many links: 3 neurons x 4 interfaces x 2
    assert t1.link_counts_built[-1] == 12 and t2.link_counts_built[-1] == 24
    assert t2.n_links > t1.n_links


def test_fan_in_respected_with_fan_out_one():
    t = Topology(layers=(8, 4, 2), fan_in=2, fan_out=1, seed=4)
    out, inc = links_per_interface(t)
    assert max(out.values()) == 1 and max(inc.values()) == 2


def test_fan_in_two_never_duplicates_a_link():
    for seed in range(10):
        t = Topology(layers=(2, 3, 2), fan_in=2, seed=seed)
        pairs = collections.Counter(zip(t.src_neuron.tolist(), t.src_elem.tolist(),
                                        t.dst_neuron.tolist(), t.dst_elem.tolist()))
        assert max(pairs.values()) == 1, f"seed {seed}: a link is doubled"


def test_roles(tiny):
    t = tiny
    off = t.offsets
    inputs = t.role[off[0]:off[1]]
    outputs = t.role[off[-2]:off[-1]]
    assert np.all(inputs[:, t.in_elem] == ROLE_EXTERNAL)
    assert np.all(outputs[:, t.out_elem] == ROLE_OUTPUT)
    assert np.sum(t.role == ROLE_EXTERNAL) == t.layers[0]
    assert np.sum(t.role == ROLE_OUTPUT) == t.layers[-1]
    # input neurons only send, output neurons only receive
    assert not np.any(inputs == ROLE_IN) and not np.any(outputs == ROLE_OUT)
    # every link's ends carry the matching role
    assert np.all(t.role[t.src_neuron, t.src_elem] == ROLE_OUT)
    assert np.all(t.role[t.dst_neuron, t.dst_elem] == ROLE_IN)
    assert np.sum(t.role == ROLE_OUT) == len(set(zip(t.src_neuron.tolist(),
                                                      t.src_elem.tolist())))


def test_other_input_and_output_elements():
    t = Topology(layers=(4, 3, 2), in_elem=3, out_elem=1, seed=0)
    assert np.all(t.role[:4, 3] == ROLE_EXTERNAL)
    assert np.all(t.role[7:, 1] == ROLE_OUTPUT)
    assert not np.any((t.src_elem == 3) & (t.src_neuron < 4))


@pytest.mark.parametrize("kw,match", [
    (dict(layers=(5,)), "at least two layers"),
    (dict(layers=(3, 0, 2)), "positive integers"),
    (dict(layers=(3, 2.5, 2)), "positive integers"),
    (dict(layers=(3, 2), in_elem=5), "in_elem"),
    (dict(layers=(3, 2), out_elem=-1), "out_elem"),
    (dict(layers=(3, 2), fan_in=0), "fan_in"),
    (dict(layers=(3, 2), fan_out=0), "fan_out"),
    (dict(layers=(3, 2, 2), link_counts=(4,)), "one per layer pair"),
    (dict(layers=(3, 2), link_counts=(-1,)), "non-negative"),
    (dict(layers=(1, 1), link_counts=(5,)), "cannot carry"),
])
def test_bad_specs_raise_value_error(kw, match):
    with pytest.raises(ValueError, match=match):
        Topology(**kw)


def test_bad_spec_dict_and_file(tmp_path):
    with pytest.raises(ValueError, match="unknown topology field"):
        Topology.from_spec({"layers": [3, 2], "fanin": 2})
    with pytest.raises(ValueError, match="at least 'layers'"):
        Topology.from_spec({"seed": 1})
    with pytest.raises(ValueError, match="unknown topology preset"):
        preset("model3")
    with pytest.raises(ValueError, match="cannot read"):
        Topology.load(tmp_path / "missing.json")


def test_digest_stable_and_seed_dependent():
    a = Topology(layers=(6, 5, 3), seed=1)
    b = Topology(layers=(6, 5, 3), seed=1)
    c = Topology(layers=(6, 5, 3), seed=2)
    assert a.digest() == b.digest()
    assert a.digest() != c.digest()
    assert Topology.from_spec(a.spec()).digest() == a.digest()
    assert preset("model1").digest() == preset("model1").digest()


def test_spec_round_trip_through_file(tmp_path):
    import json
    t = preset("model2")
    p = tmp_path / "t.json"
    p.write_text(json.dumps(t.spec()))
    assert Topology.load(p).digest() == t.digest()
