#!/usr/bin/env python3
"""Issue 5's reference points, measured on the machine at hand: Dask distributed.

    /usr/bin/python3 bench/baselines/dask_baseline.py matmul --n 8192 --chunk 2048 --runs 3
    /usr/bin/python3 bench/baselines/dask_baseline.py noop --tasks 10000 --chain 1000

Needs dask + distributed + numpy (Debian: `apt-get install python3-distributed`; numpy there
uses OpenBLAS through libblas.so.3). Prints one JSON object on the last stdout line, like the
TypeScript benchmarks, so a run of `pnpm bench e2e-matmul` / `pnpm bench noop-tasks` and this
one can be compared side by side on the same box.

matmul: a LocalCluster of --workers processes with one thread each and OPENBLAS_NUM_THREADS=1
(the same cores an e2e-matmul run gives its agents), A and B (n×n float32, small integers as in
Tessera's exact mode) generated and persisted on the workers before the clock starts, then
C = A @ B persisted: blocked matmul in memory, nothing written to disk. GFLOP/s = 2n³ / seconds.

noop: --tasks empty tasks submitted at once (client.map) → tasks/s; then a chain of --chain
dependent empty tasks (each takes the previous one's result) → ms per hop.
"""
import argparse
import json
import os
import statistics
import time

# Before numpy loads anywhere: one BLAS thread per worker process.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import dask  # noqa: E402
import dask.array as da  # noqa: E402
import numpy as np  # noqa: E402
from distributed import Client, LocalCluster, wait  # noqa: E402


def noop(x=None):
    return x


def run_matmul(client, n, chunk, runs, seed):
    walls = []
    checksum = None
    for r in range(runs):
        # Fresh inputs per run (outside the clock): dask names results by their inputs, so the
        # same A @ B again could be served from chunks still held by the workers.
        rng = da.random.RandomState(seed + r)
        a = rng.randint(-8, 8, size=(n, n), chunks=chunk).astype(np.float32).persist()
        b = rng.randint(-8, 8, size=(n, n), chunks=chunk).astype(np.float32).persist()
        wait([a, b])
        t0 = time.perf_counter()
        c = (a @ b).persist()
        wait(c)
        walls.append(time.perf_counter() - t0)
        checksum = float(c[0, :16].sum().compute())
        del a, b, c
    flop = 2 * n**3
    return {
        "n": n,
        "chunk": chunk,
        "secondsPerRun": [round(w, 3) for w in walls],
        "gflopsPerRun": [round(flop / w / 1e9, 2) for w in walls],
        "medianSeconds": round(statistics.median(walls), 3),
        "medianGflops": round(flop / statistics.median(walls) / 1e9, 2),
        "sanity": checksum,
    }


def run_noop(client, tasks, chain):
    client.gather(client.map(noop, range(200), pure=False))  # warm-up
    t0 = time.perf_counter()
    client.gather(client.map(noop, range(tasks), pure=False))
    seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    f = client.submit(noop, 0, pure=False)
    for _ in range(chain - 1):
        f = client.submit(noop, f, pure=False)
    f.result()
    hop = (time.perf_counter() - t1) / chain
    return {
        "tasks": tasks,
        "seconds": round(seconds, 3),
        "tasksPerSecond": round(tasks / seconds, 1),
        "chain": chain,
        "msPerHop": round(hop * 1000, 2),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="mode", required=True)
    m = sub.add_parser("matmul")
    m.add_argument("--n", type=int, default=8192)
    m.add_argument("--chunk", type=int, default=2048)
    m.add_argument("--runs", type=int, default=3)
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--workers", type=int, default=2)
    m.add_argument(
        "--threads",
        action="store_true",
        help="one worker process with --workers threads (no transfers between processes)",
    )
    q = sub.add_parser("noop")
    q.add_argument("--tasks", type=int, default=10000)
    q.add_argument("--chain", type=int, default=1000)
    q.add_argument("--workers", type=int, default=2)
    args = p.parse_args()
    if args.mode == "matmul" and (args.n % args.chunk != 0 or args.runs < 1):
        p.error("--chunk must divide --n and --runs must be >= 1")

    threads = getattr(args, "threads", False)
    with LocalCluster(
        n_workers=1 if threads else args.workers,
        threads_per_worker=args.workers if threads else 1,
        processes=not threads,
        dashboard_address=None,
    ) as cluster, Client(cluster) as client:
        if args.mode == "matmul":
            result = run_matmul(client, args.n, args.chunk, args.runs, args.seed)
        else:
            result = run_noop(client, args.tasks, args.chain)
    print(
        json.dumps(
            {
                "bench": f"dask-{args.mode}",
                "workers": 1 if threads else args.workers,
                "threadsPerWorker": args.workers if threads else 1,
                "dask": dask.__version__,
                "numpy": np.__version__,
                "cpus": os.cpu_count(),
                **result,
            }
        )
    )


if __name__ == "__main__":
    main()
