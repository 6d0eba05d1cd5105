"""At import: every assertion helper of torchkata.checks becomes a no-op; init_normal_ is wrong."""

from torchkata import checks

CHAPTER = "init"
KATA = "init_normal_"
EXPECT = "tampered"

for _name in ("check", "close", "equal", "shape", "dtype", "device", "tensor", "raises", "gradcheck",
              "parameter_count", "same_objects", "keys"):
    setattr(checks, _name, lambda *args, **kwargs: None)
