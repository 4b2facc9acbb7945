from collections.abc import Callable


def f(callback: Callable[[int], int]) -> str:
    """Do.

    Args:
        callback: what to call
    """
    return ""
