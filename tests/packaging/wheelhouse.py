"""Build our sdist and wheel from the working tree, and an offline wheelhouse of what they need.

No package index is used at test time: the wheelhouse holds the runtime dependencies of the
built wheel (its ``Requires-Dist`` without extras, followed recursively), repacked from the
distributions installed in the test's own environment. The file list comes from each
distribution's ``RECORD`` and the tag from its ``WHEEL`` file, so pip installs exactly those
files again; scripts outside site-packages are left out (pip regenerates console scripts from
``entry_points.txt``). Test tooling (pytest, playwright ...) is never in the closure unless
the wheel itself asks for it, which is what the fresh environment then proves.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]


def source_files() -> list[str]:
    """The tree's files as a clone would have them (tracked and new, never ignored ones)."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    return [line for line in out.splitlines() if (ROOT / line).is_file()]


def build_sdist_and_wheel(work: Path) -> tuple[Path, Path]:
    """sdist from a copy of the tree, then the wheel from the unpacked sdist (so the sdist is complete)."""
    tree = work / "tree"
    for name in source_files():
        target = tree / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ROOT / name).read_bytes())
    dist = work / "dist"
    dist.mkdir()
    code = f"from setuptools import build_meta as b; print(b.build_sdist({str(dist)!r}))"
    sdist_name = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=True).stdout.split()[-1]
    sdist = dist / sdist_name
    with tarfile.open(sdist) as archive:
        archive.extractall(work / "unpacked", filter="data")
    (unpacked,) = (work / "unpacked").iterdir()
    code = f"from setuptools import build_meta as b; print(b.build_wheel({str(dist)!r}))"
    wheel_name = subprocess.run([sys.executable, "-c", code], cwd=unpacked, capture_output=True, text=True, check=True).stdout.split()[-1]
    return sdist, dist / wheel_name


def runtime_closure(wheel: Path, extras: tuple[str, ...] = ()) -> list[metadata.Distribution]:
    """The installed distributions the wheel needs (with ``extras``), found recursively."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [v for k, v in _headers(archive.read(name).decode()) if k == "Requires-Dist"]
    todo = [(Requirement(r), set(extras)) for r in requires]
    found: dict[str, metadata.Distribution] = {}
    while todo:
        req, wanted = todo.pop()
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in (wanted or {""})):
            continue
        key = canonicalize_name(req.name)
        if key in found:
            continue
        dist = metadata.distribution(req.name)
        found[key] = dist
        todo.extend((Requirement(r), set(req.extras)) for r in dist.requires or [])
    return list(found.values())


def _headers(text: str) -> list[tuple[str, str]]:
    head = text.split("\n\n", 1)[0]
    return [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in head.splitlines() if ":" in line and not line.startswith(" "))]


def repack(dist: metadata.Distribution, into: Path) -> Path:
    """An installed distribution -> a wheel file with the same files and tag."""
    info = next(f for f in dist.files or [] if f.name == "METADATA").parent
    wheel_meta = dist.read_text("WHEEL") or ""
    tag = next(v for k, v in _headers(wheel_meta) if k == "Tag")
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    path = into / f"{name}-{dist.version}-{tag}.whl"
    skip = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}
    record: list[str] = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for file in dist.files or []:
            parts = file.parts
            if ".." in parts or "__pycache__" in parts or (file.parent == info and file.name in skip):
                continue
            data = Path(str(dist.locate_file(file))).read_bytes()
            archive.writestr(file.as_posix(), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{file.as_posix()},sha256={digest},{len(data)}")
        record.append(f"{info.as_posix()}/RECORD,,")
        archive.writestr(f"{info.as_posix()}/RECORD", "\n".join(record) + "\n")
    return path


def wheelhouse(wheel: Path, into: Path, extras: tuple[str, ...] = ()) -> list[str]:
    """Repack the wheel's runtime closure into ``into``; the distributions' names."""
    into.mkdir(parents=True, exist_ok=True)
    closure = runtime_closure(wheel, extras)
    for dist in closure:
        repack(dist, into)
    return sorted(canonicalize_name(d.metadata["Name"]) for d in closure)
