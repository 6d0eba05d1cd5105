"""Realistic mistakes in chapter 11, training, that the public checks alone must catch."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from torchkata.mutants import mutant


@mutant("train_epoch", "no optimizer.zero_grad(): every step adds onto the gradients of all earlier batches")
def train_epoch(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for inputs, targets in loader:
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(inputs)
        count += len(inputs)
    return total / count


@mutant("train_epoch", "the mean of the batch losses, so a short last batch counts as much as a full one")
def train_epoch(model, loader, loss_fn, optimizer):
    model.train()
    losses = []
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(inputs), targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


@mutant("fit", "keeps model.state_dict() itself as the best weights: it aliases the live parameters")
def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, patience):
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": 0}
    best_loss, best_state, stale = float("inf"), model.state_dict(), 0
    for epoch in range(epochs):
        history["train_loss"].append(train_epoch(model, train_loader, loss_fn, optimizer))
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if val_loss < best_loss:
            best_loss, best_state, stale = val_loss, model.state_dict(), 0
            history["best_epoch"] = epoch
        else:
            stale += 1
            if stale >= patience:
                break
    model.load_state_dict(best_state)
    return history


@mutant("train_digits", "returns the accuracy as a percentage (e.g. 97.2) instead of a fraction in [0, 1]")
def train_digits():
    digits = load_digits()
    X = torch.tensor(digits.data, dtype=torch.float32) / 16.0
    y = torch.tensor(digits.target, dtype=torch.int64)
    order = torch.randperm(len(X))
    test, train = order[: len(X) // 5], order[len(X) // 5 :]
    train_loader = DataLoader(TensorDataset(X[train], y[train]), batch_size=64, shuffle=True)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(15):
        train_epoch(model, train_loader, nn.CrossEntropyLoss(), optimizer)
    with torch.no_grad():
        accuracy = (model(X[test]).argmax(1) == y[test]).float().mean().item()
    return model, accuracy * 100


@mutant("evaluate", "no torch.no_grad(): every evaluation batch builds an autograd graph")
def evaluate(model, loader, loss_fn):
    was_training = model.training
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    for inputs, targets in loader:
        outputs = model(inputs)
        total_loss += loss_fn(outputs, targets).item() * len(inputs)
        correct += int((outputs.argmax(dim=1) == targets).sum())
        count += len(inputs)
    model.train(was_training)
    return total_loss / count, correct / count
