"""param_bytes returns a dict subclass that claims to equal anything, holding ints that do too."""

import torch

CHAPTER = "amp"
KATA = "param_bytes"
EXPECT = "nothing"


class AgreeableInt(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


class AgreeableDict(dict):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False


def param_bytes(model):
    return AgreeableDict({torch.float32: AgreeableInt(0)})
