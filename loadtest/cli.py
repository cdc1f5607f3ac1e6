"""Command line: ``python -m loadtest run|compare ...`` (docs/loadtest.md has every option).

Ctrl-C or SIGTERM cancels the run; every ``finally`` then closes the peers, stops the
servers it started (process groups) and removes the network namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from loadtest.aiortc_seams import gather_on
from loadtest.config import TARGETS, ConfigError, RunConfig
from loadtest.report import run_result, table, write_json, write_plots
from loadtest.runner import ScenarioRun
from loadtest.safety import UnsafeTargetError
from loadtest.server_stats import wait_until_settled
from loadtest.targets.base import Target, TargetError

SERVER_CPU, PEERS_CPU = 0, 1


class UsageError(Exception):
    """A command-line value that cannot be used."""


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = text.lower().split("x")
        return int(w), int(h)
    except ValueError:
        raise argparse.ArgumentTypeError("--resolution must look like 640x480") from None


def _bitrate(text: str) -> int:
    text = text.lower().strip()
    scale = {"k": 1000, "m": 1_000_000}.get(text[-1:], 1)
    try:
        return int(float(text.rstrip("km")) * scale)
    except ValueError:
        raise argparse.ArgumentTypeError("--bitrate must look like 900k or 1.2m") from None


def _workers(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("--server-workers must look like 2 or 1,2") from None
    if not values or any(not 1 <= v <= 64 for v in values):
        raise argparse.ArgumentTypeError("--server-workers: each value must be between 1 and 64")
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="one scenario against one target")
    run.add_argument("--target", choices=TARGETS, default="ours")
    run.add_argument("--url", help="ours: an already running server (loopback only) instead of starting one")
    run.add_argument("--secret", help="ours with --url: the server's CONSULT_SFU_SECRET")
    run.add_argument("--server-pid", type=int, help="with --url: the server process to measure")
    run.add_argument("--pin", action="store_true", help="pin the server to CPU 0 and the peers to CPU 1")
    compare = sub.add_parser("compare", help="the same scenario against several targets, side by side")
    compare.add_argument("--targets", default="ours,mediarelay,janus")
    compare.add_argument("--no-pin", dest="pin", action="store_false", help="do not pin server/peers to CPUs")
    for p in (run, compare):
        p.add_argument("--scenario", choices=("consults", "group", "broadcast"), default="broadcast")
        p.add_argument("--consults", type=int, default=4)
        p.add_argument("--rooms", type=int, default=1)
        p.add_argument("--room-size", type=int, default=4)
        p.add_argument("--subscribers", type=int, default=10)
        p.add_argument("--duration", type=float, default=10.0, help="measured seconds")
        p.add_argument("--warmup", type=float, default=2.0)
        p.add_argument("--resolution", type=_size, default=(640, 480))
        p.add_argument("--fps", type=int, default=30)
        p.add_argument("--bitrate", type=_bitrate, default=900_000)
        p.add_argument("--clip-frames", type=int, default=60, help="frames in the looped clip (2..256)")
        p.add_argument("--no-audio", dest="audio", action="store_false")
        p.add_argument("--join-rate", type=float, default=5.0)
        p.add_argument("--join-timeout", type=float, default=20.0)
        p.add_argument("--decode-sample", type=int, default=0)
        p.add_argument("--ramp", action="store_true", help="capacity search: broadcast subscribers or consults added step by step")
        p.add_argument("--ramp-step", type=int, default=5)
        p.add_argument("--ramp-step-duration", type=float, default=6.0)
        p.add_argument("--ramp-max", type=int, default=100)
        p.add_argument("--role", default="practitioner")
        p.add_argument(
            "--server-workers", type=_workers, default=[1],
            help="ours: `consult-sfu serve --workers N`; a list (1,2) runs ours once per value, in this run",
        )
        p.add_argument(
            "--udp-port", type=int, default=0,
            help="ours: ice.udp_port (every ICE connection of a worker on one UDP port; 0: a port per connection)",
        )
        p.add_argument("--janus-subnet", default="10.203.0.0/30")
        p.add_argument("--out", type=Path, help="output folder (default loadtest-results/<time>)")
        p.add_argument("--quiet", action="store_true", help="no live progress lines")
    return parser


def config_from(args: argparse.Namespace) -> RunConfig:
    return RunConfig(
        scenario=args.scenario, consults=args.consults, rooms=args.rooms, room_size=args.room_size,
        subscribers=args.subscribers, duration_s=args.duration, warmup_s=args.warmup,
        width=args.resolution[0], height=args.resolution[1], fps=args.fps, bitrate_bps=args.bitrate,
        clip_frames=args.clip_frames,
        audio=args.audio, join_rate=args.join_rate, join_timeout_s=args.join_timeout,
        decode_sample=args.decode_sample, ramp=args.ramp, ramp_step=args.ramp_step,
        ramp_step_s=args.ramp_step_duration, ramp_max=args.ramp_max, role=args.role,
    ).validate()


def make_target(name: str, args: argparse.Namespace, run_dir: Path, cpu: int | None, workers: int = 1) -> Target:
    if name == "mediarelay":
        from loadtest.targets.mediarelay import MediaRelayTarget

        return MediaRelayTarget(run_dir, cpu)
    if name == "janus":
        from loadtest.targets.janus import JanusTarget

        return JanusTarget(run_dir, cpu, subnet=args.janus_subnet)
    if name == "ours":
        from loadtest.targets.ours import OursTarget

        return OursTarget(
            run_dir, cpu, url=getattr(args, "url", None), secret=getattr(args, "secret", None),
            server_pid=getattr(args, "server_pid", None), role=args.role, workers=workers,
            label=("ours" if len(args.server_workers) == 1 else f"ours-w{workers}") + ("-udp-port" if args.udp_port else ""),
            udp_port=args.udp_port,
        )
    raise UsageError(f"--targets: unknown target {name!r}; choose from {', '.join(TARGETS)}")


def pin_self(cpu: int) -> None:
    """Pin every thread of this process (threads started later inherit it)."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except OSError:
            pass


async def run_one(
    name: str, cfg: RunConfig, args: argparse.Namespace, out: Path, pin: bool, workers: int = 1
) -> dict[str, Any]:
    progress = (lambda line: None) if args.quiet else (lambda line: print(line, flush=True))
    target = make_target(name, args, out, SERVER_CPU if pin else None, workers)
    name = target.name
    progress(f"== {name}: {cfg.scenario}")
    with gather_on(target.host_addresses):
        try:
            await target.start()
            pid = target.server_pid()
            if pid is not None and getattr(args, "url", None) is None:
                waited, settled = await wait_until_settled(pid)
                progress(f"  server {'settled' if settled else 'still busy'} after {waited:.1f} s of start-up")
            run = ScenarioRun(target, cfg, progress)
            window = await asyncio.wait_for(run.execute(), cfg.max_run_s + 30)
            return run_result(run, window)
        except (TimeoutError, TargetError, UnsafeTargetError, OSError) as exc:
            print(f"  ! {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
            return {"target": name, "scenario": cfg.scenario, "error": f"{type(exc).__name__}: {exc}",
                    "streams": 0, "timeseries": []}
        finally:
            await target.stop()


async def amain(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main_task.cancel if main_task else (lambda: None))
    cfg = config_from(args)
    names = [args.target] if args.command == "run" else [n.strip() for n in args.targets.split(",") if n.strip()]
    for n in names:
        if n not in TARGETS:
            raise UsageError(f"--targets: unknown target {n!r}; choose from {', '.join(TARGETS)}")
    pin = bool(args.pin) and (os.cpu_count() or 1) >= 2
    if pin and "ours" in names and max(args.server_workers) > 1:
        raise UsageError("--server-workers above 1 needs every core: leave out --pin (run) or add --no-pin (compare)")
    if pin:
        pin_self(PEERS_CPU)
    out: Path = args.out or Path("loadtest-results") / time.strftime("%Y%m%d-%H%M%S")
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    runs = []
    try:
        for name in names:
            for workers in args.server_workers if name == "ours" else [1]:
                runs.append(await run_one(name, cfg, args, out, pin, workers))
    except asyncio.CancelledError:
        print("interrupted: servers stopped, peers closed", file=sys.stderr)
        return 130
    finally:
        if runs:
            command = "python -m loadtest " + " ".join(shlex.quote(a) for a in sys.argv[1:])
            write_json(out / "results.json", runs, command)
            plot = write_plots(out / f"{cfg.scenario}.png", [r for r in runs if r.get("timeseries")])
            print(table(runs))
            for r in runs:
                if "ramp_steps" in r:
                    print(f"ramp {r['target']}: capacity {r['ramp_capacity']} {cfg.ramp_unit} "
                          f"(stopped by {r['ramp_stopped_by']}); steps:")
                    for step in r["ramp_steps"]:
                        print("   ", step)
            ramps = [r for r in runs if "ramp_capacity" in r and "error" not in r]
            if len(ramps) > 1 and ramps[0]["ramp_capacity"]:
                print("capacity ratios: " + ", ".join(
                    f"{r['target']}/{ramps[0]['target']} {r['ramp_capacity'] / ramps[0]['ramp_capacity']:.2f}x" for r in ramps[1:]
                ))
            print(f"results: {out / 'results.json'}" + (f", plot: {plot}" if plot else ""))
    return 0 if all("error" not in r for r in runs) else 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return asyncio.run(amain(args))
    except (ConfigError, UsageError, UnsafeTargetError) as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        return 130
    return 0
