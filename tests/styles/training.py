"""Chapter 11 solved in other styles: tensor sums, inference_mode, per-module mode restore, a folded bias."""

import contextlib
import numbers
import random
from collections import defaultdict

import numpy as np
import torch
from sklearn import datasets
from sklearn.model_selection import train_test_split
from torch import nn


def set_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    for seeder in (random.seed, np.random.seed, torch.manual_seed):
        seeder(int(seed))


def train_epoch(model, loader, loss_fn, optimizer):
    model.train()
    total, count = torch.zeros((), dtype=torch.float64), 0
    for inputs, targets in loader:
        model.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.detach().double() * targets.shape[0]
        count += targets.shape[0]
    if count == 0:
        raise ValueError("the loader yielded no batches")
    return (total / count).item()


@contextlib.contextmanager
def _eval_mode(model):
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training


def evaluate(model, loader, loss_fn):
    loss_sum, correct, count = 0.0, 0, 0
    with _eval_mode(model), torch.inference_mode():
        for inputs, targets in loader:
            outputs = model(inputs)
            loss_sum += float(loss_fn(outputs, targets)) * len(targets)
            correct += int((outputs.max(dim=1).indices == targets).sum())
            count += len(targets)
    if not count:
        raise ValueError("the loader yielded no batches")
    return loss_sum / count, correct / count


def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, patience):
    if epochs < 1 or patience < 1:
        raise ValueError(f"epochs and patience must be at least 1, got epochs={epochs}, patience={patience}")
    history = defaultdict(list)
    best_loss, best_state, best_epoch, stale = float("inf"), None, 0, 0
    epoch = 0
    while epoch < epochs and stale < patience:
        history["train_loss"].append(train_epoch(model, train_loader, loss_fn, optimizer))
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best_loss:
            best_loss, best_epoch, stale = val_loss, epoch, 0
            best_state = {key: value.detach().clone() for key, value in model.state_dict().items()}
        else:
            stale += 1
        epoch += 1
    model.load_state_dict(best_state)
    history["best_epoch"] = best_epoch
    return history


class LinearRegressionManual:
    """Weight and bias folded into one vector theta, used on X with a column of ones appended."""

    def __init__(self, n_features, lr):
        self.n_features, self.lr = n_features, lr
        self.theta = torch.zeros(n_features + 1, requires_grad=True)  # the contract starts at zero

    def _design(self, X):
        if X.dim() != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must have shape (N, {self.n_features}), got {tuple(X.shape)}")
        return torch.cat([X, X.new_ones(X.shape[0], 1)], dim=1)

    def predict(self, X):
        return self._design(X) @ self.theta

    def fit(self, X, y, epochs):
        design = self._design(X)
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must have shape ({X.shape[0]},), got {tuple(y.shape)}")
        losses = []
        for _ in range(epochs):
            loss = (design @ self.theta - y).pow(2).mean()
            (gradient,) = torch.autograd.grad(loss, [self.theta])
            with torch.no_grad():
                self.theta.sub_(self.lr * gradient)
            losses.append(loss.item())
        return losses


class LinearRegressionModule(nn.Module):
    def __init__(self, n_features):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_features, 1), nn.Flatten(start_dim=0))

    def forward(self, X):
        return self.net(X)


def train_digits():
    X, y = datasets.load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.2, stratify=y, random_state=0)
    X_train, X_test = (torch.as_tensor(a, dtype=torch.float32) for a in (X_train, X_test))
    y_train, y_test = (torch.as_tensor(a, dtype=torch.int64) for a in (y_train, y_test))
    model = nn.Sequential(nn.Linear(64, 96), nn.Tanh(), nn.Linear(96, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(300):  # full-batch steps: the training set is small
        optimizer.zero_grad()
        loss_fn(model(X_train), y_train).backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (model(X_test).argmax(dim=1) == y_test).float().mean().item()
    return model, accuracy
