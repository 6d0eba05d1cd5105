"""MyAdamW is torch.optim.AdamW under another name."""

import torch

CHAPTER = "optim"
KATA = "MyAdamW"
EXPECT = "nothing"


class MyAdamW(torch.optim.AdamW):
    pass
