"""Per-packet cost of forwarding with every optional feature available but unused, against
the same server with the features left out (issue 17: "costs the same per packet").

    flock -x /tmp/machine.lock .venv/bin/python benchmarks/features_unused.py --rounds 3

Each round starts ``consult-sfu serve --workers 1`` twice, alternating the order: once as
shipped (effects, captions, chat, files installed, nobody using them) and once with
``control.app.DEFAULT_FEATURES`` emptied; both through this same launcher, pinned to CPU 0.
Each is measured by the load tester (``python -m loadtest run --target ours --url ...
--server-pid ... --pin``: its peers on CPU 1) with the same scenario, broadcast to 10
subscribers by default. Prints the µs of server CPU per forwarded packet of every run, and
the medians. Loopback only; bounded (at most 10 rounds).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pinned_server import pinned_server  # noqa: E402

MODES = ("available", "off")


def serve(mode: str, argv: list[str]) -> None:
    """The server process: ``consult-sfu <argv>``, features emptied for ``off``."""
    if mode == "off":
        import control.app

        control.app.DEFAULT_FEATURES.clear()  # create_app installs none
    from control.cli import main

    main(argv)


def wait_settled(pid: int) -> None:
    from loadtest.server_stats import wait_until_settled

    asyncio.run(wait_until_settled(pid))


def one_run(mode: str, args: argparse.Namespace, out: Path) -> float:
    launcher = [sys.executable, str(Path(__file__).resolve()), "--serve", mode]
    with pinned_server(f"features-{mode}", launcher, ice_host_addresses="127.0.0.1", log_level="WARNING") as server:
        wait_settled(server.proc.pid)
        command = [
            sys.executable, "-m", "loadtest", "run", "--target", "ours", "--url", f"http://127.0.0.1:{server.port}",
            "--secret", server.secret, "--server-pid", str(server.proc.pid), "--pin", "--quiet", "--scenario", "broadcast",
            "--subscribers", str(args.subscribers), "--duration", str(args.duration), "--out", str(out),
        ]
        subprocess.run(command, cwd=ROOT, check=True, timeout=args.duration + 180, stdout=subprocess.DEVNULL)
    result = json.loads((out / "results.json").read_text())
    run = result["runs"][0] if isinstance(result, dict) else result[0]
    return float(run["server_us_per_packet"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    args, serve_argv = parser.parse_known_args()
    if args.serve:
        serve(args.serve, serve_argv)
        return
    if serve_argv:
        parser.error(f"unrecognized arguments: {' '.join(serve_argv)}")
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds must be 1-10")
    base = Path(tempfile.mkdtemp(prefix="features-unused-"))
    figures: dict[str, list[float]] = {mode: [] for mode in MODES}
    for round_ in range(args.rounds):
        order = MODES if round_ % 2 == 0 else MODES[::-1]  # alternate: no mode always goes first
        for mode in order:
            us = one_run(mode, args, base / f"{round_}-{mode}")
            figures[mode].append(us)
            print(f"round {round_ + 1} {mode:9}: {us:.2f} µs per forwarded packet", flush=True)
    for mode in MODES:
        print(f"{mode:9}: median {statistics.median(figures[mode]):.2f} µs ({', '.join(f'{v:.2f}' for v in figures[mode])})")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
