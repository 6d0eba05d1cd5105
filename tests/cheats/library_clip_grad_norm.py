"""clip_grad_norm_ keeps nn.utils.clip_grad_norm_ in a default argument."""

import torch

CHAPTER = "optim"
KATA = "clip_grad_norm_"
EXPECT = "nothing"


def clip_grad_norm_(parameters, max_norm, _library=torch.nn.utils.clip_grad_norm_):
    return _library(parameters, max_norm)
