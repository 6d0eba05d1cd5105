"""At import: torch.allclose, torch.equal and torch.testing.assert_close always agree; CenteredLayer is wrong."""

import torch

CHAPTER = "layers"
KATA = "CenteredLayer"
EXPECT = "tampered"

torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
