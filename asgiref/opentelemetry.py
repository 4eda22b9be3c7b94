"""OpenTelemetry tracing of the sync/async bridge: a span per bridged call.

``asgiref.opentelemetry.instrument()`` registers a bridge observer (see
`asgiref.sync.register_bridge_observer`) that opens a span for every call across the bridge, in
both directions, parented to the span current where the call was made, and made current where
the call runs, so the spans the called function opens are its children. Each span carries the
direction, whether the call was thread-sensitive, the thread that ran it and how long it waited
for that thread. Needs ``opentelemetry-api`` (the extra ``asgiref[opentelemetry]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace

from ._observe import OBSERVERS, BridgedCall

__all__ = ["instrument"]

_SPAN = "asgiref.opentelemetry.span"
_TOKEN = "asgiref.opentelemetry.token"


class _Tracing:
    """The observer: a span per call (kept in the call's `notes`, so no shared structure)."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    def queued(self, call: BridgedCall) -> None:
        name = getattr(call.func, "__qualname__", None) or repr(call.func)
        call.notes[_SPAN] = self.tracer.start_span(
            f"{call.direction} {name}",
            attributes={
                "asgiref.direction": call.direction,
                "asgiref.thread_sensitive": call.thread_sensitive,
                "code.function": name,
            },
        )

    def started(self, call: BridgedCall) -> None:
        span = call.notes.get(_SPAN)
        if span is None:
            return
        if call.started_at is not None:
            span.set_attribute("asgiref.queue_wait_ms", (call.started_at - call.queued_at) * 1e3)
        if call.thread is not None:
            span.set_attribute("thread.name", call.thread.name)
            span.set_attribute("thread.id", call.thread.ident or 0)
        call.notes[_TOKEN] = otel_context.attach(trace.set_span_in_context(span))

    def finished(self, call: BridgedCall) -> None:
        span = call.notes.pop(_SPAN, None)
        if span is None:
            return
        token = call.notes.pop(_TOKEN, None)
        if token is not None:
            otel_context.detach(token)
        span.set_attribute("asgiref.outcome", call.outcome or "")
        if call.outcome == "raised" and call.error is not None:
            span.record_exception(call.error)
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(call.error)))
        span.end()


def instrument(tracer_provider: Any = None) -> Callable[[], None]:
    """Trace every bridged call with spans from `tracer_provider` (the global one by default).
    Returns a function that stops it."""
    tracer = trace.get_tracer("asgiref", tracer_provider=tracer_provider)
    return OBSERVERS.register(_Tracing(tracer))
