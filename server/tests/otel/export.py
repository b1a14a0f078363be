"""Exports traces, metrics and logs to Osprey with the OpenTelemetry Python SDK and its
OTLP/HTTP (protobuf) exporters, as an instrumented application would.

Run by server/tests/otel_sdk.rs with the venv scripts/otel-venv.sh builds. Environment:
OSPREY_URL (base URL) and OSPREY_INGEST_KEY. Prints the trace id of the exported span, and
exits non-zero when an export fails.
"""

import logging
import os
import sys
import time
import warnings

from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import Counter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

URL = os.environ["OSPREY_URL"].rstrip("/")
HEADERS = {"Authorization": f"Bearer {os.environ['OSPREY_INGEST_KEY']}"}
RESOURCE = Resource.create(
    {
        "service.name": "sdk-shop",
        "service.version": "2.0.1",
        "deployment.environment.name": "test",
        "host.name": "sdk-host",
    }
)


class CardDeclined(Exception):
    pass


def charge(amount):
    raise CardDeclined(f"card declined for {amount}")


def checkout(amount):
    return charge(amount)


def export_spans():
    exporter = OTLPSpanExporter(
        endpoint=f"{URL}/v1/traces", headers=HEADERS, compression=Compression.Gzip
    )
    provider = TracerProvider(resource=RESOURCE)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("osprey.sdk-test")
    with tracer.start_as_current_span("POST /checkout") as root:
        root.set_attribute("http.route", "/checkout")
        with tracer.start_as_current_span("charge card") as child:
            try:
                checkout(42)
            except CardDeclined as e:
                child.record_exception(e)
                child.set_status(Status(StatusCode.ERROR, "card declined"))
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def export_metrics():
    exporter = OTLPMetricExporter(
        endpoint=f"{URL}/v1/metrics",
        headers=HEADERS,
        # Counters as deltas (Osprey keeps running totals), histograms cumulative (the default:
        # Osprey differences them).
        preferred_temporality={Counter: AggregationTemporality.DELTA},
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    meter = provider.get_meter("osprey.sdk-test")
    duration = meter.create_histogram("sdk.request.duration", unit="ms")
    orders = meter.create_counter("sdk.orders")

    for _ in range(20):
        duration.record(3, {"route": "/pay"})
    orders.add(5, {"route": "/pay"})
    check(reader.force_flush(), "first metrics export")
    time.sleep(0.05)  # the next points must be newer by at least a millisecond
    # The second interval: 90 values in (10, 25], 10 in (250, 500]; its p95 is in (250, 500].
    for _ in range(90):
        duration.record(20, {"route": "/pay"})
    for _ in range(10):
        duration.record(300, {"route": "/pay"})
    orders.add(7, {"route": "/pay"})
    check(reader.force_flush(), "second metrics export")
    provider.shutdown()


def export_logs(trace_id):
    provider = LoggerProvider(resource=RESOURCE)
    provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{URL}/v1/logs", headers=HEADERS))
    )
    with warnings.catch_warnings():
        # The SDK's handler is deprecated in favour of another package; it still works.
        warnings.simplefilter("ignore", DeprecationWarning)
        handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    log = logging.getLogger("sdk-shop.payments")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    log.warning("stock low for sku %s", "B-7", extra={"sku": "B-7"})
    try:
        checkout(7)
    except CardDeclined:
        log.exception("payment failed")
    provider.shutdown()


failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


class FailedExports(logging.Handler):
    """The exporters log a failed export instead of raising: count those as failures."""

    def emit(self, record):
        failures.append(record.getMessage())


def main():
    logging.getLogger("opentelemetry").addHandler(FailedExports(level=logging.WARNING))
    trace_id = export_spans()
    export_metrics()
    export_logs(trace_id)
    if failures:
        print("export failed:", *failures, sep="\n  ", file=sys.stderr)
        sys.exit(1)
    print(trace_id)


if __name__ == "__main__":
    main()
