"""A NumPy MLP whose layer pairs keep only some connections (fixed masks), trained with
ordinary backpropagation. The paper does not describe its MLP; the choices here are ours:

* hidden units ReLU, output softmax with cross-entropy;
* weights N(0, 2 / fan_in) with fan_in the unit's *kept* inputs (so a sparse layer does not
  start with vanishing signals), biases 0; the mask is fixed for the whole run;
* Adam (lr 1e-3, betas 0.9 / 0.999), mini-batches of 64, float32.
"""
from __future__ import annotations

import numpy as np


def random_masks(layers, link_ratio: float, rng) -> list:
    """Per layer pair, a random ``round(LR * n_l * n_l+1)`` (at least one) connections."""
    masks = []
    for a, b in zip(layers[:-1], layers[1:]):
        n = max(1, int(round(link_ratio * a * b)))
        m = np.zeros(a * b, dtype=np.float32)
        m[rng.choice(a * b, n, replace=False)] = 1
        masks.append(m.reshape(a, b))
    return masks


def topology_masks(topology) -> list:
    """The neuron-level connection graph of a Wuxing topology (two links between the same
    two neurons become one MLP connection)."""
    off = topology.offsets
    masks = []
    for l, (a, b) in enumerate(zip(topology.layers[:-1], topology.layers[1:])):
        m = np.zeros((a, b), dtype=np.float32)
        sel = topology.pair == l
        m[topology.src_neuron[sel] - off[l], topology.dst_neuron[sel] - off[l + 1]] = 1
        masks.append(m)
    return masks


def mask_link_ratio(masks) -> float:
    return float(sum(m.sum() for m in masks) / sum(m.size for m in masks))


class MaskedMLP:
    def __init__(self, masks, seed=0, lr=1e-3):
        rng = np.random.default_rng(seed)
        self.masks = [np.asarray(m, np.float32) for m in masks]
        self.W, self.b = [], []
        for m in self.masks:
            fan_in = np.maximum(m.sum(axis=0), 1)
            w = rng.standard_normal(m.shape).astype(np.float32) * np.sqrt(2.0 / fan_in)
            self.W.append((w * m).astype(np.float32))
            self.b.append(np.zeros(m.shape[1], np.float32))
        self.params = self.W + self.b
        self.m1 = [np.zeros_like(p) for p in self.params]
        self.m2 = [np.zeros_like(p) for p in self.params]
        self.t, self.lr = 0, lr

    def logits(self, x):
        h = x.astype(np.float32)
        acts = [h]
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            z = h @ W + b
            h = np.maximum(z, 0) if i < len(self.W) - 1 else z
            acts.append(h)
        return h, acts

    def predict(self, x, batch=2000):
        return np.concatenate([self.logits(x[i:i + batch])[0].argmax(1)
                               for i in range(0, len(x), batch)])

    def accuracy(self, x, y):
        return float(np.mean(self.predict(x) == y))

    def gradients(self, x, y):
        """(mean cross-entropy, weight gradients (masked), bias gradients) of a batch."""
        z, acts = self.logits(x)
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        n = len(y)
        loss = float(-np.mean(np.log(p[np.arange(n), y] + 1e-12)))
        g = p
        g[np.arange(n), y] -= 1
        g /= n
        gW, gb = [None] * len(self.W), [None] * len(self.W)
        for i in range(len(self.W) - 1, -1, -1):
            gW[i] = (acts[i].T @ g) * self.masks[i]
            gb[i] = g.sum(0)
            if i:
                g = (g @ self.W[i].T) * (acts[i] > 0)
        return loss, gW, gb

    def step(self, x, y):
        """One Adam step on a mini-batch; returns the mean cross-entropy."""
        loss, gW, gb = self.gradients(x, y)
        self.t += 1
        b1, b2, eps = 0.9, 0.999, 1e-8
        for k, (p_, gr) in enumerate(zip(self.params, gW + gb)):
            self.m1[k] = b1 * self.m1[k] + (1 - b1) * gr
            self.m2[k] = b2 * self.m2[k] + (1 - b2) * gr * gr
            mh = self.m1[k] / (1 - b1 ** self.t)
            vh = self.m2[k] / (1 - b2 ** self.t)
            p_ -= (self.lr * mh / (np.sqrt(vh) + eps)).astype(np.float32)
        for W, m in zip(self.W, self.masks):  # Adam's eps path keeps masked weights at 0
            W *= m
        return loss


def train_mlp(masks, data, epochs, seed=0, batch=64, lr=1e-3, log=None):
    """Train; returns per-epoch train/test accuracy and loss (epoch 0 = before training)."""
    net = MaskedMLP(masks, seed=seed, lr=lr)
    rng = np.random.default_rng(seed + 1000)
    x, y = data.x_train.astype(np.float32), data.y_train
    hist = dict(epoch=[0], train_acc=[net.accuracy(x, y)],
                test_acc=[net.accuracy(data.x_test, data.y_test)], loss=[None])
    for ep in range(1, epochs + 1):
        order = rng.permutation(len(y))
        losses = [net.step(x[order[i:i + batch]], y[order[i:i + batch]])
                  for i in range(0, len(y), batch)]
        hist["epoch"].append(ep)
        hist["train_acc"].append(net.accuracy(x, y))
        hist["test_acc"].append(net.accuracy(data.x_test, data.y_test))
        hist["loss"].append(float(np.mean(losses)))
        if log:
            log(f"  epoch {ep}: loss {hist['loss'][-1]:.3f} train {hist['train_acc'][-1]:.3f} "
                f"test {hist['test_acc'][-1]:.3f}")
    return hist
