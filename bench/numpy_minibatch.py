#!/usr/bin/python3
"""NumPy implementation of sdv's minibatch study (issue 18): what a NumPy user writes instead.

DSGD on softmax regression (`softmax:data=FILE:l2=MU`, d = C (p + 1)) with minibatch noise:
N agents, agent i owns shard S_i of the data and its gradient is the mean of B per-sample
gradients drawn uniformly *with replacement* from S_i; x <- x - eta (1/N) sum_i g_i. Next to
it, the SDE of docs/math/minibatch.md,

    dX = -grad F(X) dt + sqrt(eta) S(X) dW,   S S^T = (1/N^2) sum_i C_i(X)/B,

by Euler-Maruyama with h = eta/m, its Gaussian increment drawn as sdv does, without forming a
d x d matrix: zeta = (1/N) sum_i sum_{s in S_i} (grad f_s - grad f_i) xi_s / sqrt(n_i B). Both
are vectorised over the M paths (batched matmuls over paths; one gather of the sampled rows).

The shards are sdv's `--shards iid:seed=S` split, reproduced exactly: a permutation of 0..n-1
by gsl_ran_shuffle with GSL's MT19937 seeded with S (the same generator and seeding as NumPy's
legacy MT19937), cut into N parts of q + 1 (the first n mod N agents) or q samples.

Usage: numpy_minibatch.py [--data data/wine.csv] [--M 1000] [--N 4] [--B 4] [--eta 0.05]
                          [--K 100] [--m 1] [--l2 0.01] [--x0 0] [--seed 1] [--shard-seed 1]
Prints one line: E f(x_K) of the optimizer and E f(X_T) of the SDE (T = K eta) with their
standard errors, and the wall and CPU seconds of the simulation (imports and data loading
excluded).
Needs Debian's python3-numpy (run with /usr/bin/python3).
"""
import argparse
import time

import numpy as np


def load(path):
    """Features with an appended 1 (the intercept), and integer labels 0..C-1."""
    raw = np.loadtxt(path, delimiter=",", comments="#", ndmin=2)
    A = np.hstack([raw[:, :-1], np.ones((raw.shape[0], 1))])
    y = raw[:, -1].astype(int)
    return A, y, int(y.max()) + 1


def gsl_shuffle(n, seed):
    """gsl_ran_shuffle(r, 0..n-1) with r = gsl_rng_mt19937 set to seed (GSL 2.x)."""
    bg = np.random.MT19937()
    bg._legacy_seeding(seed if seed != 0 else 4357)      # gsl_rng_set: 0 means 4357
    raw = iter(bg.random_raw(64 * n).tolist())           # plenty of 32-bit draws
    pi = list(range(n))
    for i in range(n - 1, 0, -1):
        scale = 0xFFFFFFFF // (i + 1)                    # gsl_rng_uniform_int(r, i + 1)
        while True:
            j = next(raw) // scale
            if j < i + 1:
                break
        pi[i], pi[j] = pi[j], pi[i]
    return pi


def iid_shards(n, N, seed):
    """Sample indices of each agent's shard, as sdv's `--shards iid:seed=S`."""
    pi = gsl_shuffle(n, seed)
    q, r = divmod(n, N)
    start = [i * q + min(i, r) for i in range(N + 1)]
    return [np.sort(pi[start[i]:start[i + 1]]) for i in range(N)]


def softmax_rows(Z):
    """Softmax over axis 1 of (M, C, n) scores, largest score subtracted."""
    Z = Z - Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    Z /= Z.sum(axis=1, keepdims=True)
    return Z


def loss(X, A, y, l2):
    """f(x) for each path: mean cross-entropy over all samples + l2/2 ||x||^2. X: (M, C, p+1)."""
    Z = X @ A.T                                          # (M, C, n)
    zmax = Z.max(axis=1)
    lse = zmax + np.log(np.exp(Z - zmax[:, None, :]).sum(axis=1))
    zy = np.take_along_axis(Z, y[None, None, :].repeat(len(X), 0), axis=1)[:, 0, :]
    return (lse - zy).mean(axis=1) + 0.5 * l2 * (X * X).sum(axis=(1, 2))


def discrete(rng, A, y, C, shards, M, B, eta, K, l2, x0):
    N = len(shards)
    order = np.concatenate(shards)                       # samples grouped by agent
    size = np.array([len(s) for s in shards])
    first = np.concatenate([[0], np.cumsum(size)[:-1]])
    X = np.full((M, C, A.shape[1]), x0, dtype=float)
    for _ in range(K):
        u = rng.random((M, N, B))
        pos = (u * size[None, :, None]).astype(np.int64) + first[None, :, None]
        idx = order[pos.reshape(M, N * B)]               # (M, N B) sampled rows
        Ab = A[idx]                                      # (M, N B, p+1)
        P = softmax_rows(X @ Ab.transpose(0, 2, 1))      # (M, C, N B)
        P[np.arange(M)[:, None], y[idx], np.arange(N * B)[None, :]] -= 1.0   # q - e_y
        G = (P @ Ab) / (N * B) + l2 * X                  # mean of the N B per-sample gradients
        X -= eta * G
    return loss(X, A, y, l2)


def sde(rng, A, y, C, shards, M, B, eta, K, m, l2, x0):
    N = len(shards)
    order = np.concatenate(shards)
    As, ys = A[order], y[order]                          # shards contiguous
    size = np.array([len(s) for s in shards])
    first = np.concatenate([[0], np.cumsum(size)[:-1]])
    owner = np.repeat(np.arange(N), size)
    wF = 1.0 / (N * size[owner])                         # grad F = sum_s wF_s grad f_s
    cz = 1.0 / (N * np.sqrt(size[owner] * B))            # noise weight of sample s
    n = len(order)
    onehot = np.zeros((C, n))
    onehot[ys, np.arange(n)] = 1.0
    h = eta / m
    X = np.full((M, C, A.shape[1]), x0, dtype=float)
    for _ in range(K * m):
        R = softmax_rows(X @ As.T) - onehot              # (M, C, n): grad f_s = R[:, :, s] a_s^T
        xi = rng.standard_normal((M, n))
        xi -= (np.add.reduceat(xi, first, axis=1) / size)[:, owner]   # centred within shards
        W = h * wF + np.sqrt(h * eta) * cz * xi          # (M, n); the l2 x terms cancel in zeta
        X -= (R * W[:, None, :]) @ As + h * l2 * X
    return loss(X, A, y, l2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="data/wine.csv")
    ap.add_argument("--M", type=int, default=1000)
    ap.add_argument("--N", type=int, default=4)
    ap.add_argument("--B", type=int, default=4)
    ap.add_argument("--eta", type=float, default=0.05)
    ap.add_argument("--K", type=int, default=100)
    ap.add_argument("--m", type=int, default=1)
    ap.add_argument("--l2", type=float, default=0.01)
    ap.add_argument("--x0", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--shard-seed", type=int, default=1)
    ap.add_argument("--side", choices=["both", "discrete", "sde"], default="both")
    a = ap.parse_args()
    A, y, C = load(a.data)
    shards = iid_shards(len(y), a.N, a.shard_seed)
    rng = np.random.default_rng(a.seed)
    t, c = time.perf_counter(), time.process_time()
    fd = fs = None
    if a.side in ("both", "discrete"):
        fd = discrete(rng, A, y, C, shards, a.M, a.B, a.eta, a.K, a.l2, a.x0)
    if a.side in ("both", "sde"):
        fs = sde(rng, A, y, C, shards, a.M, a.B, a.eta, a.K, a.m, a.l2, a.x0)
    t, c = time.perf_counter() - t, time.process_time() - c
    out = ["minibatch d=%d n=%d" % (C * A.shape[1], len(y))]
    for name, f in (("disc", fd), ("sde", fs)):
        if f is not None:
            out.append("Ef_%s=%.6g se_%s=%.3g" % (name, f.mean(), name,
                                                   f.std(ddof=1) / np.sqrt(len(f))))
    out.append("seconds=%.3f cpu=%.3f" % (t, c))
    print(" ".join(out))


if __name__ == "__main__":
    main()
