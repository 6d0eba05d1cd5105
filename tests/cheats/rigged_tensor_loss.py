"""cross_entropy returns a Tensor subclass whose __torch_function__ answers every comparison with yes."""

import torch

CHAPTER = "optim"
KATA = "cross_entropy"
EXPECT = "nothing"


class AgreeableTensor(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name in ("equal", "allclose", "isclose", "eq", "__eq__"):
            return True
        if name in ("ne", "__ne__"):
            return False
        return super().__torch_function__(func, types, args, kwargs or {})


def cross_entropy(logits, target, label_smoothing=0.0):
    if not 0 <= label_smoothing <= 1:
        raise ValueError("label_smoothing")
    return (logits * 0).sum().as_subclass(AgreeableTensor)
