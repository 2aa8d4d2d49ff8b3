"""zc.async's usage document, from "Callbacks" to "Parallelized Work", as
Python jobs (the same functions as the Rust `usage` example): a network
call and a string scribbler, a bad function and its failure handler, the
hand-written parallel example (callbacks collecting results into a held
postprocess job), and the parts of the `serial` / `parallel` examples."""

from typing import Any

import wasync_job as wj
from wasync_job import Await, JobFailure, Request, job

# ----- Callbacks -----


@job
def imaginary_network_call() -> str:
    """zc.async's `imaginaryNetworkCall`."""
    return "200 OK"


@job
def scribble(string: str) -> str:
    """`I_scribble_on_strings`."""
    return string + ": SCRIBBLED"


@job
def bad_bad_function() -> int:
    """`I_am_a_bad_bad_function`: fails with a NameError."""
    return foo  # noqa: F821  (the document's bug, on purpose)


@job
def handle_name_errors(failure: dict) -> str:
    """`I_handle_NameErrors`: handles a failure of guest kind `NameError`
    (`failure.trap(NameError)`); anything else fails again."""
    if failure.get("guest_kind") == "NameError":
        return "I handled a name error"
    raise JobFailure("Untrapped", f"not a NameError: {failure}")


@job
def network_call_with_callback() -> str:
    """The network call with its scribbler added from inside the job, on
    itself, for success only."""
    wj.add_callback(wj.get_job().id, Request("scribble"), on="success")
    return "200 OK"


# ----- Returning jobs: the hand-written parallel example -----


@job
def job_a() -> int:
    return 7


@job
def job_b() -> int:
    return 14


@job
def job_c() -> int:
    return 21


@job
def postprocess(a: int, b: int, c: int) -> int:
    """The document's `postprocess(*results)`."""
    return a + b + c


@job
def callback(job: str, result: int) -> int:
    """Appends `result` to the held postprocess job; puts it at three."""
    return wj.append_args(job, [result], put_when=3)


@job
def main_job():
    """Holds a postprocess job, puts `job_a..c` each with a callback that
    collects its result into it, and returns it: 42."""
    held = wj.put_held("postprocess")
    for function in ("job_a", "job_b", "job_c"):
        part = wj.put(function)
        wj.add_callback(part, Request("callback", [held]))
    return Await(held)


# ----- serial and parallel -----


@job
def job_zero() -> int:
    return 0


@job
def job_one() -> int:
    return 1


@job
def job_two() -> int:
    return 2


@job
def results(outcomes: list) -> list:
    """A postprocess returning the parts' outcomes as they came."""
    return outcomes


@job(name="sum")
def sum_(outcomes: list[int]) -> int:
    """A postprocess summing the parts' results."""
    return sum(outcomes)


@job
def tagged(extra_info: str, outcomes: list) -> list:
    """The footnotes' partial postprocess: `(extra_info, results)`."""
    return [extra_info, outcomes]


@job
def tagged_sum(extra_info: str, outcomes: list[int]) -> list:
    return [extra_info, sum(outcomes)]


@job
def first_job(main_job: str) -> str:
    """Adds `second_job` to composite `main_job`, with a callback
    `schedule_third` added with it."""
    wj.add_part(main_job, "second_job", [("always", Request("schedule_third", [main_job]))])
    return "first"


@job
def second_job() -> str:
    return "second"


@job
def third_job() -> str:
    return "third"


@job
def schedule_third(main_job: str, ignored: Any) -> None:
    """Adds `third_job` to the composite."""
    wj.add_part(main_job, "third_job")


@job
def composite_from_inside(kind: str):
    """`serial`/`parallel(job_a, job_b, job_c, postprocess=sum)` put from
    inside a job, awaited: 42."""
    if kind not in ("serial", "parallel"):
        raise JobFailure("bad-arguments", f"kind `{kind}`", permanent=True)
    parts = [Request(f) for f in ("job_a", "job_b", "job_c")]
    return Await(wj.put_composite(kind, parts, Request("sum", {})))
