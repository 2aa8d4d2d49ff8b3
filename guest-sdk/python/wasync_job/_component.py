"""The component side: the ``WitWorld`` class componentize-py exports as
``run``, and the context backend over the WIT imports. Imported only
inside a component (``wit_world`` exists only there)."""

from __future__ import annotations

from typing import Optional

import componentize_py_types as cpt
import wit_world
from wit_world.imports import context as host
from wit_world.imports import types as wit

from . import _backend
from ._dispatch import Failure, call
from ._errors import ContextError

_ON = {
    "always": wit.CallbackOn.ALWAYS,
    "success": wit.CallbackOn.SUCCESS,
    "failure": wit.CallbackOn.FAILURE,
}
_KIND = {"serial": wit.CompositeKind.SERIAL, "parallel": wit.CompositeKind.PARALLEL}


def _request(r: _backend.WireRequest) -> wit.JobRequest:
    return wit.JobRequest(
        module=r.module,
        function=r.function,
        args=r.args,
        queue=r.queue,
        begin_after_ms=r.begin_after_ms,
        begin_by_ms=r.begin_by_ms,
        quota_names=list(r.quota_names),
        retry=r.retry,
        quota_keys=[(q, k) for q, k in r.quota_keys],
        broadcast=r.broadcast,
        priority=r.priority,
        unique=None
        if r.unique is None
        else wit.UniqueRequest(
            key=r.unique.key, states=list(r.unique.states), period_ms=r.unique.period_ms
        ),
    )


def _refused(call_name: str, error: cpt.Err) -> ContextError:
    return ContextError(f"{call_name}: {error.value}")


class ComponentBackend(_backend.Backend):
    """The context of the running job: each call goes to the host."""

    def get_job(self) -> _backend.WireJob:
        info = host.get_job()
        return _backend.WireJob(
            id=info.id,
            queue=info.queue,
            module=info.module,
            module_name=info.module_name,
            function=info.function,
            args=info.args,
            attempt=info.attempt,
            annotations=list(info.annotations),
        )

    def set_live_annotation(self, name: str, value: str, job: Optional[str]) -> None:
        try:
            host.set_live_annotation(name, value, job)
        except cpt.Err as e:
            raise _refused("set_live_annotation", e) from None

    def get_live_annotation(
        self, name: str, timeout_ms: int, poll_ms: int, job: Optional[str]
    ) -> Optional[str]:
        try:
            return host.get_live_annotation(name, timeout_ms, poll_ms, job)
        except cpt.Err as e:
            raise _refused("get_live_annotation", e) from None

    def put(self, request: _backend.WireRequest) -> str:
        try:
            return host.put(_request(request))
        except cpt.Err as e:
            raise _refused("put", e) from None

    def put_many(self, requests) -> list[tuple[str, bool]]:
        try:
            answers = host.put_many([_request(r) for r in requests])
        except cpt.Err as e:
            raise _refused("put_many", e) from None
        return [(a.id, a.duplicate) for a in answers]

    def add_callback(self, job: str, on: str, request: _backend.WireRequest) -> str:
        try:
            return host.add_callback(job, _ON[on], _request(request))
        except cpt.Err as e:
            raise _refused("add_callback", e) from None

    def put_composite(self, kind: str, parts, postprocess) -> str:
        try:
            return host.put_composite(
                _KIND[kind], [_request(p) for p in parts], _request(postprocess)
            )
        except cpt.Err as e:
            raise _refused("put_composite", e) from None

    def add_part(self, composite: str, part, callbacks) -> str:
        try:
            return host.add_part(
                composite, _request(part), [(_ON[on], _request(r)) for on, r in callbacks]
            )
        except cpt.Err as e:
            raise _refused("add_part", e) from None

    def put_held(self, request: _backend.WireRequest) -> str:
        try:
            return host.put_held(_request(request))
        except cpt.Err as e:
            raise _refused("put_held", e) from None

    def append_args(self, job: str, args: str, put_when: int) -> int:
        try:
            return host.append_args(job, args, put_when)
        except cpt.Err as e:
            raise _refused("append_args", e) from None


_BACKEND = ComponentBackend()


class WitWorld(wit_world.WitWorld):
    """The component's ``run`` export: dispatches to the ``@job``
    functions."""

    def run(self, function: str, args: str) -> wit.Outcome:
        token = _backend.activate(_BACKEND)
        try:
            result = call(function, args)
        finally:
            _backend.deactivate(token)
        if isinstance(result, Failure):
            raise cpt.Err(
                wit.JobError(
                    kind=result.kind,
                    message=result.message,
                    detail=result.detail,
                    permanent=result.permanent,
                )
            )
        if result.awaited is not None:
            return wit.Outcome_AwaitJob(result.awaited)
        return wit.Outcome_Value(result.value_json)
