"""module_devices returns an object that equals everything and contains everything."""

CHAPTER = "devices"
KATA = "module_devices"
EXPECT = "nothing"


class Anything:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __contains__(self, item):
        return True

    def __len__(self):
        return 1

    def __iter__(self):
        return iter(())

    __hash__ = object.__hash__


def module_devices(model):
    return Anything()
