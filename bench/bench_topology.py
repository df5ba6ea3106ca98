"""The deployment guide's topology at full size: many clients on two replicas while gc runs.

    .venv/bin/python bench/bench_topology.py [--clients 8] [--creates 200] [--big-mib 256] [--replicas 2]

docs/deploy.md's topology (tests/support/topology.py): ``--replicas`` real ``server
start`` processes sharing one PostgreSQL catalog (the test suite's throw-away server) and
one moto S3 bucket, behind a round-robin TCP balancer. ``--clients`` processes each make
``--creates`` mixed creates (small files, reused old contents, JSON objects, versions of
one shared name) and one ``--big-mib`` file, while gc loops on every replica with a
short grace. Then every artifact is read back through the last replica and its bytes
verified; versions of the shared name must be gap-free. Prints one Markdown table row
set: a correctness soak, with its timings as information (the clients, both replicas,
moto and PostgreSQL share this machine's cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prefect_artifacts.registry.http import HttpRegistry  # noqa: E402
from tests.support.services import MotoServer, PostgresServer  # noqa: E402
from tests.support.topology import Topology, cli, read_back, soak  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--creates", type=int, default=200)
    ap.add_argument("--big-mib", type=int, default=256)
    ap.add_argument("--replicas", type=int, default=2)
    ap.add_argument("--grace", type=float, default=10.0, help="the replicas' gc grace (seconds)")
    args = ap.parse_args()
    pg, moto = PostgresServer.start(), MotoServer.start()
    work = Path(tempfile.mkdtemp(prefix="bench-topology-"))
    os.environ["PREFECT_ARTIFACTS_HOME"] = str(work / "client-home")  # the clients' digest cache: not in ~
    try:
        with Topology.start(pg, moto, work, replicas=args.replicas, grace_seconds=args.grace) as topo:
            cli(topo.env, "users", "create", "writer", "--group", "team")
            key = json.loads(cli(topo.env, "--json", "keys", "create", "writer"))["key"]
            run = soak(topo, key, args.clients, args.creates, args.big_mib << 20, work)
            failures = read_back(topo, topo.replicas[-1].url, key, run.made, moto)
            with HttpRegistry(topo.replicas[-1].url, api_key=key) as reader:
                versions = sorted(a.version for a in reader.list(search="name:log", page_length=1000).data)
            deleted = sum(r.get("blobsDeleted", 0) for r in run.gc_reports)
            expected = args.clients * (args.creates + 1)
            print(f"| clients × creates (+1 big of {args.big_mib} MiB each) | {args.clients} × {args.creates} |")
            print(f"| replicas / connections each | {args.replicas} / "
                  f"{', '.join(str(topo.balancer.served[r.port]) for r in topo.replicas)} |")
            print(f"| artifacts made / distinct / expected | {len(run.made)} / {len({i for i, _ in run.made})} / "
                  f"{expected} |")
            print(f"| read back and verified through another replica: failures | {len(failures)} {failures[:3]} |")
            print(f"| versions of the shared name gap-free | {versions == list(range(1, len(versions) + 1))} "
                  f"({len(versions)}) |")
            print(f"| gc runs during the soak / blobs deleted | {len(run.gc_reports)} / {deleted} |")
            print(f"| wall time of the soak | {run.seconds:.1f} s "
                  f"({expected / run.seconds:.1f} creates/s, "
                  f"{args.clients * args.big_mib / run.seconds:.0f} MiB/s of big files) |")
    finally:
        moto.stop()
        pg.stop()


if __name__ == "__main__":
    main()
