"""``temix-gateway version``: the installed version and the protocol libraries it runs on."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version

LIBRARIES = ("pymodbus", "bacpypes3", "asyncua", "gpiozero", "pyserial", "sqlite-utils")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("version", help="print the version and library versions")
    parser.set_defaults(handler=run)


def _version_of(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:
        return "not installed"


def run(args: argparse.Namespace) -> int:
    print(f"temix-gateway {_version_of('temix-gateway')}")
    for library in LIBRARIES:
        print(f"  {library} {_version_of(library)}")
    return 0
