"""The ``consult-sfu`` command: serve, token, and the administration subcommands.

A configuration that cannot be used (a bad setting in the file or the environment, a data
folder that cannot be written, a store that cannot be reached, a port that cannot be
listened on) ends every subcommand the same way: one line on stderr,
``consult-sfu: configuration error: <setting> <rule>``, and exit code 2. The server itself
(control.app, aiortc, the features) is imported by ``serve`` only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from control import config as config_module
from control.cluster.options import WorkerOptions
from control.config import ConfigError
from control.domain.roles import ROLES
from control.tokens import DEFAULT_TTL_S, join_url, mint


def _loop_factory() -> Any:
    """uvloop when available (the asyncio loop remains the fallback)."""
    try:
        import uvloop

        return uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but stay usable without it
        return None


def _load(args: argparse.Namespace) -> config_module.Config:
    overrides: dict[str, Any] = {}
    if getattr(args, "host", None):
        overrides["server__host"] = args.host
    if getattr(args, "port", None):
        overrides["server__port"] = args.port
    return config_module.load(args.config, **overrides)


def _logging(config: config_module.Config) -> None:
    from control import logs  # aiohttp: the server's commands only

    logs.configure(config.server.log_level, config.server.log_format)


def cmd_serve(args: argparse.Namespace) -> None:
    """One worker in this process (``--workers 1``), or a node's supervisor and its workers."""
    config = _load(args)  # before importing the server: a bad setting is told at once
    workers = args.workers if args.workers is not None else config.cluster.resolved_workers()
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    _logging(config)
    if workers == 1:
        from control.cluster.serve import run_worker

        run_worker(config, WorkerOptions(), _loop_factory())
        return
    from control.cluster.supervisor import run_supervisor

    global_args = ["--config", args.config] if getattr(args, "config", None) else []
    worker_args = [*(["--host", args.host] if args.host else []), *(["--port", str(args.port)] if args.port else [])]
    code = run_supervisor(config, workers, global_args, worker_args, _loop_factory())
    if code:
        raise SystemExit(code)


def cmd_worker(args: argparse.Namespace) -> None:
    """One worker of a supervised node (hidden: started by ``serve --workers N``)."""
    import os

    from control.cluster.private_redis import die_with_parent
    from control.cluster.serve import run_worker

    die_with_parent()
    if os.getppid() != args.supervisor_pid:
        raise SystemExit(1)  # the supervisor died before we could ask to die with it
    config = _load(args)
    _logging(config)
    options = WorkerOptions(
        index=args.index, workers=args.workers, private_redis_url=args.private_redis,
        control_fd=args.control_fd, listen_fd=args.listen_fd,
    )
    run_worker(config, options, _loop_factory())


def cmd_nodes(args: argparse.Namespace) -> None:
    import json

    from control.cluster.commands import CommandError, format_nodes, list_nodes

    config = _load(args)
    try:
        body = asyncio.run(list_nodes(config, args.url))
    except CommandError as exc:
        print(f"consult-sfu nodes: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(json.dumps(body, indent=1) if args.json else format_nodes(body))


def cmd_drain(args: argparse.Namespace) -> None:
    from control.cluster.commands import CommandError, drain_node

    config = _load(args)
    try:
        asyncio.run(drain_node(config, args.url, args.grace, not args.no_wait, sys.stdout))
    except CommandError as exc:
        print(f"consult-sfu drain: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def cmd_token(args: argparse.Namespace) -> None:
    config = _load(args)
    secret = config_module.resolve_secret(config)
    try:
        token = mint(secret, room=args.room, identity=args.identity, name=args.name, role=args.role, ttl_s=args.ttl)
    except ValueError as exc:
        print(f"consult-sfu token: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"token: {token}")
    print(join_url(config.public_url, args.room, token))


def _apikey(args: argparse.Namespace, action: Callable[[Any], Any]) -> Any:
    """Run an API key action on the configured store; store problems are configuration errors."""
    from control.apikeys import cli_run
    from control.domain.errors import ControlError, NotFound
    from control.store import StoreError

    config = _load(args)
    try:
        return cli_run(config.store, action)
    except NotFound as exc:
        print(f"consult-sfu apikey {args.apikey_command}: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None
    except (ValueError, ControlError) as exc:
        print(f"consult-sfu apikey {args.apikey_command}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except StoreError as exc:
        raise ConfigError(f"store.redis_url: the store at {config.store.redis_url} cannot be reached: {exc}") from None
    except OSError as exc:  # the memory store keeps key hashes in data_dir/apikeys.json
        raise ConfigError(f"store.data_dir: cannot keep API keys in {str(config.store.data_dir)!r}: {exc.strerror or exc}") from None


def cmd_apikey_create(args: argparse.Namespace) -> None:
    from control.apikeys import create_key

    key = _apikey(args, lambda store: create_key(store, args.org, args.department))
    print("API key (shown once; store it now, only its hash is kept):", file=sys.stderr)
    print(key)


def cmd_apikey_list(args: argparse.Namespace) -> None:
    import json
    import time

    from control.apikeys import key_view, list_keys

    records = _apikey(args, lambda store: list_keys(store, args.org))
    if args.json:
        print(json.dumps([key_view(r) for r in records], indent=1))
        return
    print(f"{'KEY ID':<18}{'ORG':<24}{'DEPARTMENT':<20}CREATED (UTC)")
    for r in records:
        created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(r.created_at))
        print(f"{r.key_id:<18}{r.org:<24}{r.department or '-':<20}{created}")


def cmd_apikey_revoke(args: argparse.Namespace) -> None:
    from control.apikeys import parse_key_id, revoke_key

    record = _apikey(args, lambda store: revoke_key(store, parse_key_id(args.key_id)))
    print(f"revoked API key {record.key_id} of {record.org}; requests with it are refused from now on", file=sys.stderr)


def cmd_apikey_rotate(args: argparse.Namespace) -> None:
    from control.apikeys import parse_key_id, rotate_key

    key, old = _apikey(args, lambda store: rotate_key(store, parse_key_id(args.key_id)))
    print(f"API key {old.key_id} revoked; its replacement (shown once; store it now, only its hash is kept):", file=sys.stderr)
    print(key)


def cmd_models_install(args: argparse.Namespace) -> None:
    from captions.errors import ModelInstallError
    from captions.translate import install_model
    config = _load(args)
    folder = config.captions.captions.translation_folder
    try:
        package = install_model(Path(args.file), folder)
    except ModelInstallError as exc:
        print(f"consult-sfu models install: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except OSError as exc:
        raise ConfigError(f"captions.translation_folder: cannot install into {str(folder)!r}: {exc.strerror or exc}") from None
    print(f"installed translation {package.from_code} -> {package.to_code} into {package.path}")
    print("running servers pick it up for new captions; restart them to preload it", file=sys.stderr)


def version() -> str:
    """The installed distribution's version (the wheel's metadata), else the source tree's."""
    from importlib import metadata

    try:
        return metadata.version("consult-sfu")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def cmd_doctor(args: argparse.Namespace) -> None:
    """One line per finding (ok / warn / FAIL); exit code 1 when something failed."""
    from control.doctor import diagnose, summary

    config = _load(args)
    workers = args.workers if args.workers is not None else config.cluster.resolved_workers()
    findings = asyncio.run(diagnose(config, workers=workers, ca=args.ca, timeout_s=args.timeout))
    for finding in findings:
        print(finding.line())
    print(summary(findings))
    if any(f.level == "fail" for f in findings):
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consult-sfu", description="Media server for video consultations")
    parser.add_argument("--version", action="version", version=f"consult-sfu {version()}")
    parser.add_argument("--config", help="TOML configuration file (every setting also from CONSULT_SFU_* variables)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{serve,token,apikey,models,nodes,drain,doctor}")

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--workers", type=int, default=None, help="media worker processes (default: cluster.workers, else one per CPU; 1: a single process)")
    serve.add_argument("--config", dest="config", default=argparse.SUPPRESS, help="TOML configuration file")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("_worker")  # started by serve --workers N, not by people
    worker.add_argument("--host")
    worker.add_argument("--port", type=int)
    worker.add_argument("--config", dest="config", default=argparse.SUPPRESS)
    worker.add_argument("--index", type=int, required=True)
    worker.add_argument("--workers", type=int, required=True)
    worker.add_argument("--listen-fd", type=int, required=True)
    worker.add_argument("--control-fd", type=int, required=True)
    worker.add_argument("--supervisor-pid", type=int, required=True)
    worker.add_argument("--private-redis", default=None)
    worker.set_defaults(func=cmd_worker)

    nodes = sub.add_parser("nodes", help="list the cluster's nodes and workers (rooms, load, lease age)")
    nodes.add_argument("--url", default=None, help="a node's address (default http://<server.host>:<server.port>)")
    nodes.add_argument("--json", action="store_true", help="the registry's records as JSON")
    nodes.add_argument("--config", dest="config", default=argparse.SUPPRESS, help="TOML configuration file")
    nodes.set_defaults(func=cmd_nodes)

    drain = sub.add_parser("drain", help="drain a node: no new consultations; running ones move after --grace seconds")
    drain.add_argument("--url", default=None, help="the node's address (default http://<server.host>:<server.port>)")
    drain.add_argument("--grace", type=float, default=None, help="seconds running consultations may go on (default cluster.drain_grace_s)")
    drain.add_argument("--no-wait", action="store_true", help="return at once instead of waiting until the node stopped")
    drain.add_argument("--config", dest="config", default=argparse.SUPPRESS, help="TOML configuration file")
    drain.set_defaults(func=cmd_drain)

    token = sub.add_parser("token", help="mint a join token and print its join URL (last line)")
    token.add_argument("--room", required=True)
    token.add_argument("--identity", required=True)
    token.add_argument("--name", default=None)
    token.add_argument("--role", default="client", choices=ROLES)
    token.add_argument("--ttl", type=float, default=DEFAULT_TTL_S, help="seconds until the token expires")
    token.add_argument("--config", dest="config", default=argparse.SUPPRESS, help="TOML configuration file")
    token.set_defaults(func=cmd_token)

    apikey = sub.add_parser("apikey", help="API keys of the control API")
    apikey_sub = apikey.add_subparsers(dest="apikey_command", required=True)
    create = apikey_sub.add_parser("create", help="create a key for an organisation (printed once)")
    create.add_argument("--org", required=True, help="organisation id the key is for")
    create.add_argument("--department", default=None, help="limit the key to one department")
    create.add_argument("--config", dest="config", default=argparse.SUPPRESS, help="TOML configuration file")
    create.set_defaults(func=cmd_apikey_create)
    listing = apikey_sub.add_parser("list", help="list keys (ids, organisation, department, creation time; never the keys)")
    listing.add_argument("--org", default=None, help="only this organisation's keys")
    listing.add_argument("--json", action="store_true", help="as JSON")
    listing.add_argument("--config", dest="config", default=argparse.SUPPRESS, help="TOML configuration file")
    listing.set_defaults(func=cmd_apikey_list)
    revoke = apikey_sub.add_parser("revoke", help="revoke a key: refused from the next request on")
    revoke.add_argument("key_id", help="the key's id (from apikey list) or the key itself")
    revoke.add_argument("--config", dest="config", default=argparse.SUPPRESS, help="TOML configuration file")
    revoke.set_defaults(func=cmd_apikey_revoke)
    rotate = apikey_sub.add_parser("rotate", help="replace a key: a new one (printed once) for the same scope, the old one revoked")
    rotate.add_argument("key_id", help="the key's id (from apikey list) or the key itself")
    rotate.add_argument("--config", dest="config", default=argparse.SUPPRESS, help="TOML configuration file")
    rotate.set_defaults(func=cmd_apikey_rotate)

    models = sub.add_parser("models", help="caption translation models (argostranslate packages)")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    install = models_sub.add_parser("install", help="install a .argosmodel file into the translation folder")
    install.add_argument("file", help="the .argosmodel file")
    install.add_argument("--config", dest="config", default=argparse.SUPPRESS, help="TOML configuration file")
    install.set_defaults(func=cmd_models_install)

    doctor = sub.add_parser("doctor", help="check what browsers outside need: public URL, TLS, media addresses, UDP ports, TURN")
    doctor.add_argument("--ca", type=Path, default=None, help="also trust this CA file (a private or test certificate)")
    doctor.add_argument("--timeout", type=float, default=5.0, help="seconds per network check (default 5)")
    doctor.add_argument("--workers", type=int, default=None, help="workers the node runs (default: cluster.workers, else one per CPU)")
    doctor.add_argument("--config", dest="config", default=argparse.SUPPRESS, help="TOML configuration file")
    doctor.set_defaults(func=cmd_doctor)

    for extend in _EXTENSIONS:
        extend(sub)
    return parser


# Administration subcommands contributed by other modules (apikey, models).
_EXTENSIONS: list[Callable[[Any], None]] = []


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ConfigError as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message held
        print(f"consult-sfu: configuration error: {message}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
