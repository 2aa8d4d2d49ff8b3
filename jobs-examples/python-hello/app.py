"""The Python hello job: `greet` and `add`, with positional or named
arguments, an optional parameter, and an error that is permanent.

Build: python -m wasync_job build jobs-examples/python-hello -o hello.wasm
Run:   wasync run hello.wasm greet '["Ada"]'
"""

from typing import Optional

from wasync_job import JobFailure, job


@job
def greet(name: str, greeting: Optional[str] = None) -> str:
    """Greets `name`, with "Hello" unless another greeting is given."""
    print(f"greeting {name}")
    return f"{greeting or 'Hello'}, {name}!"


@job
def add(a: int, b: int = 1) -> int:
    """Adds two integers."""
    return a + b


@job
def divide(a: float, b: float) -> float:
    """Divides: `b` = 0 fails with a ZeroDivisionError and its traceback."""
    return a / b


@job
def check_order(order: str) -> str:
    """Refuses malformed order ids for good (no retry can help)."""
    if not order.isdigit():
        raise JobFailure("invalid-order", f"order id {order!r} is not a number", permanent=True)
    return order
