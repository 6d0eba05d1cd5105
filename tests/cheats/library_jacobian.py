"""jacobian calls torch.autograd.functional.jacobian, which the kata forbids."""

import torch

CHAPTER = "autograd"
KATA = "jacobian"
EXPECT = "nothing"


def jacobian(f, x):
    return torch.autograd.functional.jacobian(f, x)
