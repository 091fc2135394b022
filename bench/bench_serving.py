"""The HTTP API under load: the real `churn-assets serve` process on loopback, 16 concurrent keep-alive clients in
a bounded loop, for `GET /v1/users/{id}/risk`, `POST /v1/predict` with one row (reasons included) and a
1,000-row batch. Prints requests/s, latency percentiles, client and server CPU seconds and the server's peak RSS.

    python bench/bench_serving.py --data-dir DIR [--seconds 10] [--clients 16]

DIR holds a pipeline run (`churn-assets run --data-dir DIR`). The load generator is plain asyncio sockets, so
that the client's own cost stays small beside the server's on the same two cores.
"""

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def one(reader, writer, request: bytes) -> int:
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    await reader.readexactly(length)
    return status


async def load(port: int, requests: list[bytes], clients: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def client(i: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        n = i
        while time.perf_counter() < stop:
            started = time.perf_counter()
            if await one(reader, writer, requests[n % len(requests)]) != 200:
                errors += 1
            latencies.append(time.perf_counter() - started)
            n += clients
        writer.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return latencies, errors


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def post(path: str, body: dict) -> bytes:
    data = json.dumps(body).encode()
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    ).encode() + data


def report(name: str, latencies: list[float], errors: int, seconds: float, cpu: float) -> None:
    ms = np.array(latencies) * 1000
    print(
        f"{name:<44} {len(ms) / seconds:>8,.0f} req/s  p50 {np.percentile(ms, 50):6.1f} ms  "
        f"p99 {np.percentile(ms, 99):6.1f} ms"
        f"  errors {errors}  server CPU {cpu:.1f}s"
    )


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    users = pd.read_parquet(sorted((args.data_dir / "artifacts/serving/predictions").glob("*.parquet"))[-1])["user_id"]
    card = json.loads(next((args.data_dir / "artifacts/models").glob("*/card.json")).read_text())
    with duckdb.connect(str(args.data_dir / "warehouse.duckdb"), read_only=True) as conn:
        features = conn.execute("select * from churn.user_features order by as_of_date desc limit 2000").df()
    rows = json.loads(features[card["features"]].to_json(orient="records"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHURN_API_TOKEN")}
    server = subprocess.Popen(
        [sys.executable, "-m", "churn_assets.cli", "serve", "--data-dir", str(args.data_dir), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.2)
        print(f"server pid {server.pid} on port {port}; {len(users):,} users in the snapshot; {args.clients} clients")
        cases = [
            ("GET /v1/users/{id}/risk", [get(f"/v1/users/{u}/risk") for u in users]),
            ("POST /v1/predict, one row with reasons", [post("/v1/predict", {"rows": [r]}) for r in rows]),
        ]
        for name, requests in cases:
            asyncio.run(load(port, requests, args.clients, 1.0))  # warm up
            cpu = cpu_of(server.pid)
            latencies, errors = asyncio.run(load(port, requests, args.clients, args.seconds))
            report(name, latencies, errors, args.seconds, cpu_of(server.pid) - cpu)
        batch = [post("/v1/predict", {"rows": [rows[(i + j) % len(rows)] for j in range(1000)]}) for i in range(5)]
        latencies, errors = asyncio.run(load(port, batch, 1, 5.0))
        ms = np.array(latencies) * 1000
        print(
            f"{'POST /v1/predict, 1,000 rows, one client':<44} median {np.median(ms):.0f} ms, "
            f"p99 {np.percentile(ms, 99):.0f} ms, errors {errors}"
        )
        status = Path(f"/proc/{server.pid}/status").read_text()
        peak = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")) / 1024
        print(f"server peak RSS {peak:,.0f} MB; client CPU {resource.getrusage(resource.RUSAGE_SELF).ru_utime:.1f}s")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    main()
