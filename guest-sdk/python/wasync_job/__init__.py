"""Write wasync jobs in Python.

A job module is plain Python: decorate job functions with :func:`job`,
return anything JSON can hold, raise to fail::

    from typing import Optional
    from wasync_job import job, put, Await, JobFailure

    @job
    def greet(name: str, greeting: Optional[str] = None) -> str:
        return f"{greeting or 'Hello'}, {name}!"

    @job
    def later(name: str):
        return Await(put("greet", [name]))       # this job's result is greet's

    @job
    def charge(order: str):
        raise JobFailure("invalid-order", f"no order {order}", permanent=True)

Arguments come positional (``["Ada"]``) or named (``{"name": "Ada"}``).
An exception becomes the job's error: kind = its class name, detail = its
traceback. Test jobs with :mod:`wasync_job.testing` in plain CPython; build
the folder into a component with ``python -m wasync_job build FOLDER -o
job.wasm`` (componentize-py with the project's WIT).
"""

from ._context import (
    PUT_MANY_MAX,
    CallbackOn,
    CompositeKind,
    JobInfo,
    PutAnswer,
    Request,
    Unique,
    add_callback,
    add_part,
    append_args,
    get_job,
    get_live_annotation,
    parallel,
    put,
    put_composite,
    put_held,
    put_many,
    serial,
    set_live_annotation,
)
from ._dispatch import Await, job, registered
from ._errors import BAD_ARGUMENTS, BAD_RESULT, UNKNOWN_FUNCTION, ContextError, JobFailure

__all__ = [
    "Await",
    "BAD_ARGUMENTS",
    "BAD_RESULT",
    "CallbackOn",
    "CompositeKind",
    "ContextError",
    "JobFailure",
    "JobInfo",
    "PUT_MANY_MAX",
    "PutAnswer",
    "Request",
    "Unique",
    "UNKNOWN_FUNCTION",
    "add_callback",
    "add_part",
    "append_args",
    "get_job",
    "get_live_annotation",
    "job",
    "parallel",
    "put",
    "put_composite",
    "put_held",
    "put_many",
    "registered",
    "serial",
    "set_live_annotation",
]
