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
import contextlib
import logging
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from control import config as config_module
from control.config import ConfigError
from control.domain.roles import ROLES
from control.tokens import DEFAULT_TTL_S, join_url, mint


def _run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run on uvloop when available (the asyncio loop remains the fallback)."""
    try:
        import uvloop

        loop_factory: Any = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but stay usable without it
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


def _load(args: argparse.Namespace) -> config_module.Config:
    overrides: dict[str, Any] = {}
    if getattr(args, "host", None):
        overrides["server__host"] = args.host
    if getattr(args, "port", None):
        overrides["server__port"] = args.port
    return config_module.load(args.config, **overrides)


def cmd_serve(args: argparse.Namespace) -> None:
    config = _load(args)  # before importing the server: a bad setting is told at once

    from aiohttp import web

    from control.app import create_app

    logging.basicConfig(level=config.server.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def main() -> None:
        app = create_app(config)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, config.server.host, config.server.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            address = f"{config.server.host}:{config.server.port}"
            raise ConfigError(f"server.host/server.port: cannot listen on {address}: {exc.strerror or exc}") from None
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        print(f"consult-sfu serving on {config.public_url} (loop: {type(loop).__module__})", flush=True)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    _run(main)


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


def cmd_apikey_create(args: argparse.Namespace) -> None:
    from control.apikeys import cli_create
    from control.domain.errors import ControlError
    from control.store import StoreError

    config = _load(args)
    try:
        key = cli_create(args.org, args.department, config.store)
    except (ValueError, ControlError) as exc:
        print(f"consult-sfu apikey create: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except StoreError as exc:
        raise ConfigError(f"store.redis_url: the store at {config.store.redis_url} cannot be reached: {exc}") from None
    except OSError as exc:  # the memory store keeps key hashes in data_dir/apikeys.json
        raise ConfigError(f"store.data_dir: cannot keep API keys in {str(config.store.data_dir)!r}: {exc.strerror or exc}") from None
    print("API key (shown once; store it now, only its hash is kept):", file=sys.stderr)
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="consult-sfu", description="Media server for video consultations")
    parser.add_argument("--config", help="TOML configuration file (every setting also from CONSULT_SFU_* variables)")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.add_argument("--config", dest="config", default=argparse.SUPPRESS, help="TOML configuration file")
    serve.set_defaults(func=cmd_serve)

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

    models = sub.add_parser("models", help="caption translation models (argostranslate packages)")
    models_sub = models.add_subparsers(dest="models_command", required=True)
    install = models_sub.add_parser("install", help="install a .argosmodel file into the translation folder")
    install.add_argument("file", help="the .argosmodel file")
    install.add_argument("--config", dest="config", default=argparse.SUPPRESS, help="TOML configuration file")
    install.set_defaults(func=cmd_models_install)

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
