"""A plain PyTorch GAN on a 2-D mixture of Gaussians. Runs under torch and ember.run."""

import json

import numpy as np
import torch
import torch.nn as nn


def mlp(sizes, final=None):
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    if final is not None:
        layers.append(final)
    return nn.Sequential(*layers)


def main():
    rng = np.random.default_rng(0)
    gen = mlp([4, 32, 32, 2])
    disc = mlp([2, 32, 32, 1])
    with torch.no_grad():
        for p in list(gen.parameters()) + list(disc.parameters()):
            p.copy_(torch.from_numpy(rng.normal(0, 0.3, tuple(p.shape)).astype(np.float32)))
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(disc.parameters(), lr=2e-3, betas=(0.5, 0.999))
    bce = nn.BCEWithLogitsLoss()
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.0], [0.0, -2.0]], dtype=np.float32)
    history = []
    for _step in range(30):
        real = torch.from_numpy(centers[rng.integers(0, 4, 64)]
                                + 0.1 * rng.standard_normal((64, 2)).astype(np.float32))
        z = torch.from_numpy(rng.standard_normal((64, 4)).astype(np.float32))
        fake = gen(z)
        d_loss = bce(disc(real), torch.ones(64, 1)) + bce(disc(fake.detach()), torch.zeros(64, 1))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = bce(disc(fake), torch.ones(64, 1))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        history.append([d_loss.item(), g_loss.item()])
    print(json.dumps({"losses": history}))


if __name__ == "__main__":
    main()
