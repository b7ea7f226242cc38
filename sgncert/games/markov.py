"""Tabular Markov games and entropy-regularised normal-form games with softmax policies,
and their Fisher (mirror) geometry.

Player i has logits theta_i(s, .) in R^{A_i} per state s, pi_i(.|s) = softmax(theta_i(s, .)).
With the joint policy pi(a|s) = prod_i pi_i(a_i|s), P_pi(s, s') = sum_a pi(a|s) P(s'|s, a)
and the discounted state occupancy d_s = (1 - gamma)(I - gamma P_pi^T)^{-1} mu0,

    f_i(theta) = -( sum_{s,a} d_s(s) pi(a|s) r_i(s, a) + tau sum_s H(pi_i(.|s)) ).

(The entropy is summed over states without occupancy weights, as in the reference
experiment.) A normal-form game is the one-state case with gamma = 0.

Fisher geometry. G_i = blockdiag_s(diag(pi_i(.|s)) - pi_i pi_i^T) is singular: softmax is
invariant to adding a constant to theta_i(s, .). We quotient that direction out: U (A x A-1)
is an orthonormal basis of the complement of the all-ones vector, G~_{i,s} = U^T G_{i,s} U
is positive definite, and E_i = blockdiag_s(U G~_{i,s}^{-1/2}). The Fisher-normalised
Jacobian K = E^T J E (E = blockdiag_i E_i) has blocks G~_i^{-1/2} J~_ij G~_j^{-1/2}; the
SGN constants of the Fisher geometry are the Euclidean ones of K (mu_i from sym K_ii, L_ij = ||K_ij||,
beta(w) = ||W^{1/2} K W^{-1/2}||, the Lipschitz constant of the natural-gradient field
G^+ F in M = blockdiag(w_i G_i), with G^+ J as its Jacobian: exact at the equilibrium,
a local linearisation elsewhere). Natural policy gradient: theta_i <- theta_i - h G_i^+ grad_i f_i. See docs/theory.md §8.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


def gauge_basis(A: int) -> np.ndarray:
    """Orthonormal basis U (A x (A-1)) of the complement of the all-ones vector (Helmert)."""
    U = np.zeros((A, A - 1))
    for k in range(1, A):
        U[:k, k - 1] = 1.0
        U[k, k - 1] = -float(k)
        U[:, k - 1] /= math.sqrt(k * (k + 1))
    return U


@dataclass(frozen=True)
class MarkovModel:
    """Resolved tabular game: S states, actions per player, discount, entropy, mu0, and
    functions of the params returning P [S, A_1..A_N, S] and r_i [S, A_1..A_N]."""

    names: tuple[str, ...]
    states: int
    actions: tuple[int, ...]
    discount: float
    entropy: float
    initial: np.ndarray
    transitions: Callable[[Mapping], Any]
    rewards: tuple[Callable[[Mapping], Any], ...]

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(self.states * a for a in self.actions)

    @property
    def reduced_dims(self) -> tuple[int, ...]:
        return tuple(self.states * (a - 1) for a in self.actions)


def policies(model: MarkovModel, x: Mapping):
    """pi_i(.|s) and log pi_i(.|s), each (S, A_i), from the logits dict."""
    import jax

    logits = [x[n].reshape(model.states, a) for n, a in zip(model.names, model.actions)]
    return [jax.nn.softmax(t, axis=1) for t in logits], [jax.nn.log_softmax(t, axis=1) for t in logits]


def joint_policy(pis, S: int):
    """pi(s, a_1, ..., a_N) = prod_i pi_i(a_i|s)."""
    joint = pis[0]
    for k, p in enumerate(pis[1:], start=1):
        joint = joint[..., None] * p.reshape((S,) + (1,) * k + (p.shape[1],))
    return joint


def markov_costs(model: MarkovModel):
    """costs(x, p) -> {name: f_i} for the entropy-regularised Markov game (JAX)."""
    import jax.numpy as jnp

    S, N, gamma, tau = model.states, len(model.names), model.discount, model.entropy
    mu0 = jnp.asarray(model.initial)
    action_axes = tuple(range(1, N + 1))

    def costs(x, p):
        pis, logs = policies(model, x)
        joint = joint_policy(pis, S)
        P = jnp.asarray(model.transitions(p))
        P_pi = jnp.sum(joint[..., None] * P, axis=action_axes)  # (S, S')
        d_s = (1.0 - gamma) * solve_column_dominant(jnp.eye(S) - gamma * P_pi.T, mu0)
        d = d_s.reshape((S,) + (1,) * N) * joint
        out = {}
        for name, pi, lg, reward in zip(model.names, pis, logs, model.rewards):
            entropy = -jnp.sum(pi * lg)
            out[name] = -(jnp.sum(d * jnp.asarray(reward(p))) + tau * entropy)
        return out

    return costs


UNROLL_STATES = 16  # solve_column_dominant: Python loops up to this size, lax.fori_loop above


def solve_column_dominant(A, b):
    """x = A^{-1} b for a strictly column diagonally dominant A (n x n), by Gaussian
    elimination without pivoting in plain jax.numpy (differentiable, vmap-able).

    A = I - gamma P_pi^T with P_pi row-stochastic and gamma < 1 has column j's off-diagonal
    sum gamma (1 - P_jj) < 1 - gamma P_jj = A_jj, so partial pivoting would pick these
    same pivots and the elimination is stable. Not ``jnp.linalg.solve``: jaxlib's batched
    LAPACK calls wait on XLA's thread pool and can deadlock when several run at once
    (docs/theory.md §2)."""
    import jax
    import jax.numpy as jnp

    n = A.shape[0]
    rows = jnp.arange(n)
    M = jnp.concatenate([A, jnp.reshape(b, (n, 1))], axis=1)

    def eliminate(k, M):
        factors = jnp.where(rows > k, M[:, k] / M[k, k], 0.0)
        return M - factors[:, None] * M[k][None, :]

    def substitute(i, x):
        k = n - 1 - i
        return x.at[k].set((c[k] - U[k] @ x) / U[k, k])  # x[k] is still 0 in U[k] @ x

    x = jnp.zeros(n, dtype=M.dtype)
    if n <= UNROLL_STATES:  # a few states: straight-line code compiles fastest
        for k in range(n - 1):
            M = eliminate(k, M)
        U, c = M[:, :n], M[:, n]
        for i in range(n):
            x = substitute(i, x)
        return x
    M = jax.lax.fori_loop(0, n - 1, eliminate, M)
    U, c = M[:, :n], M[:, n]
    return jax.lax.fori_loop(0, n, substitute, x)


def fisher_transform(model: MarkovModel, offsets: tuple[int, ...]):
    """X -> E(X) = blockdiag_i blockdiag_s(U G~_{i,s}^{-1/2}), in NumPy with host LAPACK:
    a point (d,) gives (d, d_reduced), a batch (B, d) gives (B, d, d_reduced)."""
    S = model.states
    bases = [gauge_basis(a) for a in model.actions]
    d_red = sum(S * (a - 1) for a in model.actions)

    def transform(X):
        X = np.asarray(X, dtype=np.float64)
        single = X.ndim == 1
        X = np.atleast_2d(X)
        B = X.shape[0]
        E = np.zeros((B, X.shape[1], d_red))
        col = 0
        for o, a, U in zip(offsets, model.actions, bases):
            logits = X[:, o : o + S * a].reshape(B, S, a)
            z = np.exp(logits - logits.max(axis=2, keepdims=True))
            pi = z / z.sum(axis=2, keepdims=True)  # (B, S, a)
            G = pi[..., :, None] * np.eye(a) - pi[..., :, None] * pi[..., None, :]
            Gr = np.einsum("ai,xsab,bj->xsij", U, G, U)  # (B, S, a-1, a-1), positive definite
            lam, V = np.linalg.eigh(Gr)
            inv_sqrt = np.einsum("xsij,xsj,xskj->xsik", V, 1.0 / np.sqrt(lam), V)
            per_state = np.einsum("ai,xsij->xsaj", U, inv_sqrt)  # (B, S, a, a-1)
            r = a - 1
            for s_ in range(S):
                E[:, o + s_ * a : o + (s_ + 1) * a, col + s_ * r : col + (s_ + 1) * r] = per_state[:, s_]
            col += S * r
        return E[0] if single else E

    return transform


def natural_gradient(model: MarkovModel, offsets, F_batch):
    """(X (B, d), p) -> G^+ F(X) (B, d): the quotient pseudo-inverse E E^T F, since
    E E^T = U G~^{-1} U^T. ``F_batch(X, p)`` is the pseudo-gradient of a batch (e.g. the
    caller's jit of vmap(F)); E is computed on the host (:func:`fisher_transform`)."""
    transform = fisher_transform(model, offsets)

    def field(X, p):
        X = np.asarray(X, dtype=np.float64)
        E = transform(X)
        F = np.asarray(F_batch(X, p))
        return np.einsum("xij,xkj,xk->xi", E, E, F)

    return field


def gauge_matrix(model: MarkovModel) -> np.ndarray:
    """B (d x d_reduced) = blockdiag_i blockdiag_s(U): coordinates with the softmax gauge fixed."""
    from scipy.linalg import block_diag

    return block_diag(*[np.kron(np.eye(model.states), gauge_basis(a)) for a in model.actions])


def reduced_fisher(model: MarkovModel, offsets: tuple[int, ...]) -> Callable[[Any], Any]:
    """x (d,) -> G~(x) (d_reduced x d_reduced) = blockdiag_i blockdiag_s(U^T G_{i,s} U), in
    JAX. Each probability is written ``pi_a = 1 / sum_b exp(theta_b - theta_a)``: the same
    number as softmax, but a program that interval arithmetic encloses without the
    dependency of ``exp(theta_a - max) / sum`` (docs/theory.md §14)."""
    import jax.numpy as jnp

    S = model.states
    bases = [jnp.asarray(gauge_basis(a)) for a in model.actions]
    d_red = sum(S * (a - 1) for a in model.actions)

    def G(x: Any) -> Any:
        out = jnp.zeros((d_red, d_red), dtype=x.dtype)
        col = 0
        for o, a, U in zip(offsets, model.actions, bases):
            logits = x[o : o + S * a].reshape(S, a)
            pi = 1.0 / jnp.sum(jnp.exp(logits[:, None, :] - logits[:, :, None]), axis=2)  # (S, a)
            Gs = pi[:, :, None] * jnp.eye(a) - pi[:, :, None] * pi[:, None, :]
            Gr = jnp.einsum("ai,sab,bj->sij", U, Gs, U)
            r = a - 1
            for s_ in range(S):
                out = out.at[col + s_ * r : col + (s_ + 1) * r, col + s_ * r : col + (s_ + 1) * r].set(Gr[s_])
            col += S * r
        return out

    return G


def _tight_softmax(theta: Any) -> Any:
    """softmax over the last axis as ``pi_a = 1 / sum_b exp(theta_b - theta_a)``: each
    theta occurs with one sign per entry, so interval arithmetic encloses it tightly."""
    import jax.numpy as jnp

    return 1.0 / jnp.sum(jnp.exp(theta[..., None, :] - theta[..., :, None]), axis=-1)


def normal_form_pseudo_gradient(model: MarkovModel, offsets: tuple[int, ...]) -> Callable[[Any, Mapping], Any]:
    """F of an entropy-regularised normal-form game (one state, no discount) in closed form,

        F_i(theta) = G_i (tau theta_i - u_i),   u_i(a_i) = E_{a_-i ~ pi_-i} r_i(a_i, a_-i),

    with G_i = diag(pi_i) - pi_i pi_i^T: the gradient of the costs in exact arithmetic
    (the entropy's gradient is -G_i log pi_i = -G_i theta_i, as G_i 1 = 0), written for
    interval arithmetic (docs/theory.md §14)."""
    import jax.numpy as jnp

    if model.states != 1:
        raise ValueError("normal_form_pseudo_gradient: a normal-form game has one state")
    N, tau = len(model.names), model.entropy

    def F(x: Any, p: Mapping) -> Any:
        thetas = [x[o : o + a] for o, a in zip(offsets, model.actions)]
        pis = [_tight_softmax(t) for t in thetas]
        out = []
        for i in range(N):
            u = jnp.asarray(model.rewards[i](p))[0]  # (A_1, ..., A_N)
            for j in reversed(range(N)):  # contract every other player's axis, last first
                if j != i:
                    u = jnp.tensordot(u, pis[j], axes=([j], [0]))
            G = jnp.diag(pis[i]) - pis[i][:, None] * pis[i][None, :]
            out.append(G @ (tau * thetas[i] - u))
        return jnp.concatenate(out)

    return F
