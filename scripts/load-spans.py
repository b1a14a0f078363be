#!/usr/bin/env python3
"""Sends N request spans spread over the last hour to an Osprey: five services with log-normal
latencies, a slow spell on checkout, a bimodal db, a few errors. For the GPU benchmarks and for
looking at /explore by hand.

    scripts/load-spans.py URL INGEST_KEY [N]
"""
import json, math, random, sys, time, urllib.request

url, key = sys.argv[1], sys.argv[2]
total = int(sys.argv[3]) if len(sys.argv) > 3 else 30_000
now = int(time.time() * 1000)
services = {"web": (40, 0.5, 0.01), "checkout": (120, 0.6, 0.04), "search": (25, 0.4, 0.005),
            "payments": (300, 0.5, 0.08), "db": (6, 0.9, 0.002)}
rng = random.Random(7)
batch = 5_000
sent = 0
while sent < total:
    svc = rng.choice(list(services))
    median, sigma, err = services[svc]
    spans = []
    for _ in range(min(batch, total - sent)):
        ago = rng.random() * 3_600_000
        m = median * (6 if svc == "checkout" and 1_100_000 < ago < 1_500_000 else 1)
        m = m * 30 if svc == "db" and rng.random() < 0.25 else m
        spans.append({"trace_id": "%032x" % rng.getrandbits(128), "span_id": "%016x" % rng.getrandbits(64),
                      "name": "GET /" + svc, "start": now - int(ago),
                      "duration_ms": round(m * math.exp(rng.gauss(0, sigma)), 3),
                      "status": "error" if rng.random() < err else "ok"})
    body = json.dumps({"context": {"service": svc}, "spans": spans}).encode()
    req = urllib.request.Request(url + "/api/v1/ingest", body,
                                 {"Authorization": "Bearer " + key, "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
    sent += len(spans)
print(f"sent {sent} spans", file=sys.stderr)
