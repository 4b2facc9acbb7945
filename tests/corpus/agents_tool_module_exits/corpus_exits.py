import sys
sys.exit(3)
def f(x: int) -> str:
    """Do.

    Args:
        x: a number
    """
    return ""
