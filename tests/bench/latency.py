#!/usr/bin/env python3
"""Sequential latency of POST /oauth/2/token on one keep-alive connection:
each request is sent only after the previous answer, and every one is timed
(wrk's percentiles at one connection are not consistent with its own rate).
Usage: latency.py HOST PORT FORM-BODY REQUESTS"""
import http.client, sys, time
host, port, body, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
c = http.client.HTTPConnection(host, port)
hdr = {"Content-Type": "application/x-www-form-urlencoded"}
lat = []
for i in range(n):
    t = time.perf_counter()
    c.request("POST", "/oauth/2/token", body, hdr)
    r = c.getresponse(); r.read()
    lat.append((time.perf_counter() - t) * 1e6)
    assert r.status == 200, r.status
lat.sort()
p = lambda q: lat[int(q * (len(lat) - 1))]
print("n=%d p50=%.0fus p90=%.0fus p99=%.0fus max=%.0fus mean=%.0fus" % (n, p(.5), p(.9), p(.99), lat[-1], sum(lat)/n))
