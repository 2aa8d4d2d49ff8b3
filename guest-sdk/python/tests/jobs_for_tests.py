"""Job functions the SDK's tests run through the fake context."""

from typing import Optional

import wasync_job as wj
from wasync_job import Await, JobFailure, Request, job


@job
def greet(name: str, greeting: Optional[str] = None) -> str:
    return f"{greeting or 'Hello'}, {name}!"


@job
def add(a: int, b: int = 1) -> int:
    return a + b


@job
def maybe(note: Optional[str], count: int = 2) -> list:
    return [note, count]


@job(name="sum-all")
def sum_all(*numbers: float) -> float:
    return sum(numbers)


@job
def tags(names: list[str], extra: dict[str, int]) -> int:
    return len(names) + sum(extra.values())


@job
def boom(x: int) -> float:
    return x / 0


class BadOrder(ValueError):
    permanent = True


@job
def bad_order(order: str) -> None:
    raise BadOrder(f"order {order} is malformed")


@job
def refuse() -> None:
    raise JobFailure("quota", "over quota", detail="3 of 3 used", permanent=False)


@job
def not_json() -> object:
    return object()


@job
def whoami() -> dict:
    me = wj.get_job()
    wj.set_live_annotation("stage", {"step": 1})
    return {"id": me.id, "function": me.function, "args": me.args, "attempt": me.attempt}


@job
def delegate(name: str):
    return Await(wj.put("greet", [name], queue="fast", retry="never", quota_names=["q"]))


@job
def hand_off(n: int):
    composite = wj.parallel(
        Request("add", [n, 1]), Request("add", {"a": n, "b": 2}), postprocess="total"
    )
    wj.add_callback(composite, Request("alert", {"level": "high"}), on="failure")
    return Await(composite)


@job
def total(*outcomes: int) -> int:
    return sum(outcomes)


@job
def wait_for(name: str, other: Optional[str] = None):
    return wj.get_live_annotation(name, "absent", timeout=0.5, job=other)


@job
def gather(n: int) -> int:
    held = wj.put_held("total")
    count = 0
    for i in range(n):
        count = wj.append_args(held, [i], put_when=n)
    return count


@job
def mark_other(other: str) -> None:
    wj.set_live_annotation("seen", True, job=other)


@job
def extend(composite: str) -> str:
    return wj.add_part(composite, "add", [("success", Request("greet", ["part"]))])


@job
def fan_out(n: int) -> list:
    answers = wj.put_many(Request("add", [i]) for i in range(n))
    return [a.id for a in answers]


@job
def put_these(requests: list) -> list:
    answers = wj.put_many(Request(function, args) for function, args in requests)
    return [a.duplicate for a in answers]


@job
def many_with_broadcast() -> list:
    return [a.id for a in wj.put_many(["add", Request("add", [1], broadcast=True)])]


@job
def many_with_a_bad_request() -> list:
    return [a.id for a in wj.put_many([Request("add", [1]), Request("add", "oops")])]


@job
def shout(function: str) -> str:
    return wj.put(function, [], broadcast=True, priority=3, quota_keys={"tenants": "acme"})
