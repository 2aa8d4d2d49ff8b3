"""Registration of job functions and the call of one by name with JSON
arguments, exactly as the component's ``run`` export does it.

Arguments arrive as a JSON array (positional) or object (named). They are
bound to the function's parameters with :mod:`inspect`; a parameter whose
annotation is ``Optional[...]`` (or ``X | None``) may be left out even
without a default and is then ``None``. Annotated parameters of the simple
JSON types (``int``, ``float``, ``str``, ``bool``, ``list``, ``dict`` and
their ``Optional``/``list[...]``/``dict[str, ...]`` forms) are checked, so
a wrong type is reported as ``bad-arguments`` naming the parameter instead
of failing somewhere inside the job.
"""

from __future__ import annotations

import inspect
import json
import traceback
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable, Optional, Union

from ._errors import BAD_ARGUMENTS, BAD_RESULT, UNKNOWN_FUNCTION, JobFailure

_REGISTRY: dict[str, Callable[..., Any]] = {}


@dataclass(frozen=True)
class Await:
    """Return ``Await(job_id)`` from a job to make its result that job's
    result, once it completes (zc.async's "returning a job")."""

    job_id: str


@dataclass(frozen=True)
class Outcome:
    """What a job returned: a JSON value (as text), or a job to await."""

    value_json: Optional[str] = None
    awaited: Optional[str] = None

    @property
    def value(self) -> Any:
        """The value, decoded from JSON (``None`` for an await)."""
        return None if self.value_json is None else json.loads(self.value_json)


@dataclass(frozen=True)
class Failure:
    """A failed call: the WIT ``job-error`` fields."""

    kind: str
    message: str
    detail: Optional[str]
    permanent: bool


def job(fn: Optional[Callable[..., Any]] = None, *, name: Optional[str] = None):
    """Registers ``fn`` as a job function, under its own name or ``name``.

    The function stays a plain function that can be called as usual. Use it
    bare (``@job``) or with a name (``@job(name="greet-v2")``). A second
    function with a name already taken is refused with ``ValueError``.
    """

    def register(f: Callable[..., Any]) -> Callable[..., Any]:
        key = name or f.__name__
        if key in _REGISTRY and _REGISTRY[key] is not f:
            raise ValueError(f"two job functions are named {key!r}")
        _REGISTRY[key] = f
        return f

    return register(fn) if fn is not None else register


def registered() -> list[str]:
    """The names of the registered job functions, in registration order."""
    return list(_REGISTRY)


def call(function: str, args_json: str) -> Union[Outcome, Failure]:
    """Calls job function ``function`` with ``args_json`` and turns what
    happens into an :class:`Outcome` or a :class:`Failure`."""
    fn = _REGISTRY.get(function)
    if fn is None:
        names = ", ".join(_REGISTRY) or "none"
        return Failure(
            UNKNOWN_FUNCTION,
            f"no job function `{function}` in this module (it has: {names})",
            None,
            True,
        )
    try:
        args = json.loads(args_json)
    except ValueError as e:
        return Failure(BAD_ARGUMENTS, f"the arguments are not JSON: {e}", None, True)
    try:
        positional, named = bind(fn, args)
    except JobFailure as e:
        return Failure(e.kind, e.message, e.detail, e.permanent)
    try:
        result = fn(*positional, **named)
    except BaseException as e:  # noqa: BLE001 - every error becomes a job-error
        return failure_of(e)
    if isinstance(result, Await):
        return Outcome(awaited=result.job_id)
    try:
        return Outcome(value_json=json.dumps(result, allow_nan=False))
    except (TypeError, ValueError) as e:
        return Failure(
            BAD_RESULT,
            f"the result of `{function}` cannot be turned into JSON: {e}",
            None,
            True,
        )


def failure_of(error: BaseException) -> Failure:
    """The job-error for an exception: kind is the class name, detail the
    traceback; permanent when the exception says so (a ``permanent``
    attribute that is true, as :class:`JobFailure` has)."""
    tb = error.__traceback__
    # The first frame is this module's call of the job function.
    if tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    detail = "".join(traceback.format_exception(type(error), error, tb))
    if isinstance(error, JobFailure):
        return Failure(error.kind, error.message, error.detail or detail, error.permanent)
    kind = type(error).__name__
    message = str(error) or kind
    return Failure(kind, message, detail, bool(getattr(error, "permanent", False)))


def bind(fn: Callable[..., Any], args: Any) -> tuple[list[Any], dict[str, Any]]:
    """Binds JSON ``args`` to ``fn``'s parameters; raises a permanent
    ``bad-arguments`` :class:`JobFailure` naming what does not fit."""
    signature = inspect.signature(fn)
    try:
        hints = typing.get_type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable annotations are not checked
        hints = {}
    params = list(signature.parameters.values())
    positional_kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    var_positional = any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params)
    var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    given: dict[str, Any] = {}
    extra_positional: list[Any] = []
    extra_named: dict[str, Any] = {}
    if isinstance(args, list):
        slots = [p for p in params if p.kind in positional_kinds]
        if len(args) > len(slots) and not var_positional:
            raise _bad(f"`{fn.__name__}` takes at most {len(slots)} arguments, got {len(args)}")
        for param, value in zip(slots, args):
            given[param.name] = value
        extra_positional = args[len(slots):]
    elif isinstance(args, dict):
        by_name = {p.name: p for p in params}
        for key, value in args.items():
            param = by_name.get(key)
            if param is None or param.kind in (
                inspect.Parameter.VAR_POSITIONAL,
                inspect.Parameter.VAR_KEYWORD,
            ):
                if not var_keyword:
                    raise _bad(f"`{fn.__name__}` has no parameter `{key}`")
                extra_named[key] = value
            elif param.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise _bad(f"argument `{key}` of `{fn.__name__}` is positional-only")
            else:
                given[key] = value
    else:
        raise _bad("the arguments must be a JSON array (positional) or object (named)")

    positional: list[Any] = []
    named: dict[str, Any] = {}
    for param in params:
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        hint = hints.get(param.name)
        if param.name in given:
            value = given[param.name]
            _check(value, hint, param.name)
        elif param.default is not inspect.Parameter.empty:
            # Left to Python; later positional ones go by name.
            continue
        elif _is_optional(hint):
            value = None
        else:
            raise _bad(f"missing argument `{param.name}` of `{fn.__name__}`")
        as_positional = param.kind is inspect.Parameter.POSITIONAL_ONLY or (
            isinstance(args, list) and param.name in given
        )
        if as_positional:
            positional.append(value)
        else:
            named[param.name] = value
    positional += extra_positional
    named.update(extra_named)
    return positional, named


def _bad(message: str) -> JobFailure:
    return JobFailure(BAD_ARGUMENTS, message, permanent=True)


def _is_optional(hint: Any) -> bool:
    return hint is not None and type(None) in typing.get_args(hint) and _is_union(hint)


def _is_union(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    return origin is Union or origin is types.UnionType


_SIMPLE = {int: "int", float: "float", str: "str", bool: "bool", list: "list", dict: "dict"}


def _fits(value: Any, hint: Any) -> bool:
    """Whether JSON-decoded ``value`` fits the annotation ``hint``; hints
    other than the simple JSON types are not checked."""
    if hint is None or hint is Any:
        return True
    if hint is type(None):
        return value is None
    if _is_union(hint):
        return any(_fits(value, h) for h in typing.get_args(hint))
    origin = typing.get_origin(hint)
    if origin in (list, dict):
        if not isinstance(value, origin):
            return False
        params = typing.get_args(hint)
        if origin is list and params:
            return all(_fits(v, params[0]) for v in value)
        if origin is dict and len(params) == 2:
            return all(_fits(v, params[1]) for v in value.values())
        return True
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint in (str, list, dict):
        return isinstance(value, hint)
    return True


def _check(value: Any, hint: Any, name: str) -> None:
    if not _fits(value, hint):
        expected = _SIMPLE.get(hint) or getattr(hint, "__name__", None) or str(hint)
        raise _bad(
            f"argument `{name}`: expected {expected}, got {type(value).__name__} {json.dumps(value)[:80]}"
        )
