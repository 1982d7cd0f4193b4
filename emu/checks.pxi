# Argument checks shared by the public calls: a bad value is an EmuError
# naming the argument, never a silent truncation or an OverflowError.

def _check_int(name, value, lo, hi):
    """value as an int in [lo, hi], or EmuError naming `name`."""
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        raise EmuError(f"{name} must be an integer, not {value!r}")
    v = value.__index__()
    if not lo <= v <= hi:
        raise EmuError(f"{name} {v:#x} is out of range ({lo:#x}..{hi:#x})")
    return v
