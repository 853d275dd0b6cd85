"""``teamcrm manifest build``: the Teams app package an admin uploads, from a few checked values.

Errors go to stderr with a non-zero exit and leave no zip behind: 2 for unusable input (as
argparse does), 1 when the package itself cannot be built or written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from manifest import package

PROG = "teamcrm manifest build"
DEFAULT_OUTPUT = "teamcrm.zip"
EXIT_USAGE = 2
EXIT_FAILURE = 1


def _argument(check: Callable[[str], str]) -> Callable[[str], str]:
    """Let argparse report our own message ("… is not a GUID") rather than its generic one."""

    def parse(text: str) -> str:
        try:
            return check(text)
        except package.InvalidInput as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    parse.__name__ = check.__name__
    return parse


def register(subparsers: Any) -> None:
    """Add ``manifest build`` to the ``teamcrm`` command (``subparsers`` is argparse's own
    private ``_SubParsersAction``, hence ``Any``)."""
    manifest_parser: argparse.ArgumentParser = subparsers.add_parser(
        "manifest",
        help="build the Teams app package",
        description="The Teams app package: manifest, icons and translations.",
    )
    manifest_parser.set_defaults(handler=lambda _args: _usage(manifest_parser))
    commands = manifest_parser.add_subparsers(dest="manifest_command", metavar="COMMAND")
    build = commands.add_parser(
        "build",
        help="write the app package (zip) to upload to Teams",
        description=(
            "Write the Teams app package: manifest.json, the two icons and the pt-BR and fr "
            "translations at the root of a zip, checked against the Teams manifest schema 1.25."
        ),
        allow_abbrev=False,
    )
    build.add_argument(
        "--app-id",
        required=True,
        type=_argument(package.guid),
        metavar="GUID",
        help="the Teams app's own id (a new GUID, kept for every later version)",
    )
    build.add_argument(
        "--bot-id",
        required=True,
        type=_argument(package.guid),
        metavar="GUID",
        help="the Azure Bot's Microsoft App ID (MicrosoftAppId)",
    )
    build.add_argument(
        "--host",
        type=_argument(package.host_name),
        help="public DNS name of the bot (messaging endpoint https://HOST/api/messages)",
    )
    build.add_argument(
        "--version",
        type=_argument(package.app_version),
        metavar="X.Y.Z",
        help="app version, higher at each upload (default: the installed TeamCRM version)",
    )
    build.add_argument(
        "--sso-resource",
        type=_argument(package.sso_resource),
        metavar="URI",
        help="Application ID URI of the bot's app registration; adds webApplicationInfo (SSO)",
    )
    for option, page, default in (
        ("--website-url", "the developer's website", "https://HOST/"),
        ("--privacy-url", "the privacy statement", "https://HOST/privacy"),
        ("--terms-url", "the terms of use", "https://HOST/terms"),
    ):
        build.add_argument(
            option,
            type=_argument(package.https_url),
            metavar="URL",
            help=f"https URL of {page} (default: {default})",
        )
    build.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path(DEFAULT_OUTPUT),
        metavar="ZIP",
        help=f"where to write the package (default: {DEFAULT_OUTPUT})",
    )
    build.set_defaults(handler=build_command)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _fail(message: str, code: int) -> int:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return code


def build_command(args: argparse.Namespace) -> int:
    output: Path = args.output
    if output.is_dir():
        return _fail(f"{output} is a folder: give the zip file's path", EXIT_USAGE)
    if not output.parent.is_dir():
        return _fail(f"folder {output.parent} does not exist", EXIT_USAGE)
    try:
        settings = package.package_settings(
            app_id=args.app_id,
            bot_id=args.bot_id,
            version=args.version,
            host=args.host,
            sso_resource_uri=args.sso_resource,
            website_url=args.website_url,
            privacy_url=args.privacy_url,
            terms_url=args.terms_url,
        )
    except package.InvalidInput as error:
        return _fail(str(error), EXIT_USAGE)
    try:
        data = package.build_package(settings)
        package.write_atomically(data, output)
    except package.InvalidPackage as error:
        return _fail(str(error), EXIT_FAILURE)
    except OSError as error:
        return _fail(f"cannot write {output}: {error.strerror or error}", EXIT_FAILURE)
    sys.stdout.write(
        f"wrote {output}: app {settings.app_id} version {settings.version}, bot {settings.bot_id}\n"
    )
    return 0
