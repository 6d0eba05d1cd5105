"""jacobian keeps torch.autograd.functional.jacobian in a default argument."""

import torch

CHAPTER = "autograd"
KATA = "jacobian"
EXPECT = "nothing"


def jacobian(f, x, _library=torch.autograd.functional.jacobian):
    return _library(f, x)
