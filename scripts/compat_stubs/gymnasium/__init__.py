"""A stand-in for gymnasium (see ../README.md): ``make("CartPole-v1")`` only, with
gymnasium's CartPole dynamics (Euler integration, the same constants, termination and
500-step truncation) and its ``reset(seed=)``/``step`` API."""

from __future__ import annotations

import math
import os
from types import SimpleNamespace

import numpy as np

__all__ = ["make"]


class CartPoleEnv:
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_threshold = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def __init__(self, render_mode=None):
        threshold = float(os.environ.get("CORPUS_CARTPOLE_THRESHOLD", 475.0))
        self.spec = SimpleNamespace(id="CartPole-v1", reward_threshold=threshold,
                                    max_episode_steps=500)
        self.observation_space = SimpleNamespace(shape=(4,))
        self.action_space = SimpleNamespace(n=2)
        self.np_random = np.random.default_rng()
        self.state, self.steps = None, 0

    def reset(self, seed: int | None = None, options=None):
        if seed is not None:
            self.np_random = np.random.default_rng(seed)
        self.state = self.np_random.uniform(-0.05, 0.05, size=(4,))
        self.steps = 0
        return np.array(self.state, dtype=np.float32), {}

    def step(self, action: int):
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        total_mass = self.masspole + self.masscart
        polemass_length = self.masspole * self.length
        cos, sin = math.cos(theta), math.sin(theta)
        temp = (force + polemass_length * theta_dot ** 2 * sin) / total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * cos ** 2 / total_mass))
        x_acc = temp - polemass_length * theta_acc * cos / total_mass
        x, x_dot = x + self.tau * x_dot, x_dot + self.tau * x_acc
        theta, theta_dot = theta + self.tau * theta_dot, theta_dot + self.tau * theta_acc
        self.state = (x, x_dot, theta, theta_dot)
        self.steps += 1
        terminated = bool(abs(x) > self.x_threshold or abs(theta) > self.theta_threshold)
        truncated = self.steps >= self.spec.max_episode_steps
        return np.array(self.state, dtype=np.float32), 1.0, terminated, truncated, {}

    def render(self) -> None:
        return None

    def close(self) -> None:
        return None


def make(env_id: str, render_mode=None, **kwargs) -> CartPoleEnv:
    if env_id != "CartPole-v1":
        raise ValueError(f"the corpus stub of gymnasium has only CartPole-v1, not {env_id}")
    return CartPoleEnv(render_mode)
