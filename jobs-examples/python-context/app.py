"""Python jobs that talk to wasync while they run: their own job, live
annotations (on themselves and on another job), put, await-job, callbacks
and a composite."""

from typing import Any, Optional

import wasync_job as wj
from wasync_job import Await, Request, job


@job
def whoami() -> dict:
    """This job's id, function, arguments and attempt; sets annotation
    `stage` on itself while it runs."""
    me = wj.get_job()
    wj.set_live_annotation("stage", "running")
    return {"id": me.id, "function": me.function, "args": me.args, "attempt": me.attempt}


@job
def double(n: int) -> int:
    """Twice `n`."""
    return 2 * n


@job
def delegate(n: int, queue: Optional[str] = None):
    """Puts `double(n)` (in `queue`, if given, with no retries) and makes
    its result this job's."""
    return Await(wj.put("double", [n], queue=queue, retry="never"))


@job
def mark(other: str, name: str, value: Any) -> None:
    """Sets annotation `name` of job `other`."""
    wj.set_live_annotation(name, value, job=other)


@job
def wait_for(name: str, timeout_s: float = 10.0, other: Optional[str] = None) -> Any:
    """Waits up to `timeout_s` for annotation `name` (of this job, or of
    `other`); `"timed out"` if it never comes."""
    return wj.get_live_annotation(name, "timed out", timeout=timeout_s, poll=0.05, job=other)


@job
def with_callback(n: int):
    """Puts `double(n)` with a callback `record(outcome)` on success, and
    awaits the callback: `"recorded <2n>"`."""
    child = wj.put("double", [n])
    callback = wj.add_callback(child, Request("record"), on="success")
    return Await(callback)


@job
def record(outcome: Any) -> str:
    """A callback: gets its job's outcome appended to its arguments."""
    return f"recorded {outcome}"


@job
def total(outcomes: list[int]) -> int:
    """A postprocess: the sum of the parts' results."""
    return sum(outcomes)


@job
def fan_out(n: int):
    """`parallel(double(0..n), postprocess=total)`, awaited."""
    parts = [Request("double", [i]) for i in range(n)]
    return Await(wj.parallel(*parts, postprocess=Request("total", {})))


@job
def double_many(n: int) -> list:
    """`double(i)` for `i` in `0..n`, put in one `put_many`; their ids."""
    return [a.id for a in wj.put_many(Request("double", [i]) for i in range(n))]
