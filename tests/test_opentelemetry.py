"""`asgiref.opentelemetry`: a span per bridged call, in the right place of the trace."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from asgiref.opentelemetry import instrument
from asgiref.sync import async_to_sync, sync_to_async


@pytest.fixture
def traced() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    stop = instrument(provider)
    yield provider, exporter
    stop()


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {span.name: span for span in spans}


@pytest.mark.asyncio
async def test_a_sync_to_async_call_is_a_span_between_the_callers_and_the_functions(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    tracer = provider.get_tracer("test")

    def load_profile() -> str:
        with tracer.start_as_current_span("query"):
            return threading.current_thread().name

    with tracer.start_as_current_span("view"):
        thread_name = await sync_to_async(load_profile)()
    spans = by_name(exporter.get_finished_spans())
    (bridge,) = [span for name, span in spans.items() if name.endswith("<locals>.load_profile")]
    assert bridge.name.startswith("sync_to_async ")
    assert bridge.parent is not None
    assert bridge.parent.span_id == spans["view"].context.span_id
    query = spans["query"]
    assert query.parent is not None
    assert query.parent.span_id == bridge.context.span_id
    attributes = dict(bridge.attributes or {})
    assert attributes["asgiref.direction"] == "sync_to_async"
    assert attributes["asgiref.thread_sensitive"] is True
    assert attributes["thread.name"] == thread_name
    assert float(attributes["asgiref.queue_wait_ms"]) >= 0  # type: ignore[arg-type]
    assert attributes["asgiref.outcome"] == "returned"


def test_an_async_to_sync_call_is_traced_too(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    provider, exporter = traced
    tracer = provider.get_tracer("test")

    async def fetch() -> None:
        with tracer.start_as_current_span("fetch inside"):
            pass

    with tracer.start_as_current_span("sync caller"):
        async_to_sync(fetch)()
    spans = {
        span.name.split(" ")[0] + (" inside" if "inside" in span.name else ""): span
        for span in exporter.get_finished_spans()
    }
    bridge = spans["async_to_sync"]
    assert bridge.parent is not None
    assert bridge.parent.span_id == spans["sync"].context.span_id
    inner = spans["fetch inside"]
    assert inner.parent is not None
    assert inner.parent.span_id == bridge.context.span_id


@pytest.mark.asyncio
async def test_an_error_is_recorded_on_the_span(
    traced: tuple[TracerProvider, InMemorySpanExporter],
) -> None:
    _, exporter = traced

    def fail() -> None:
        raise LookupError("no such row")

    with pytest.raises(LookupError):
        await sync_to_async(fail, thread_sensitive=False)()
    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]
    assert dict(span.attributes or {})["asgiref.thread_sensitive"] is False


@pytest.mark.asyncio
async def test_stopping_it_stops_the_spans() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    stop = instrument(provider)
    stop()
    await sync_to_async(threading.current_thread)()
    assert exporter.get_finished_spans() == ()
