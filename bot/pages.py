"""The privacy and terms pages the app package links to by default (``https://HOST/privacy``).

Short and factual; an organisation with its own pages passes their URLs to the packaging
command instead.
"""

from __future__ import annotations

from aiohttp import web

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>TeamCRM - {title}</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto; line-height: 1.5">
<h1>{title}</h1>{body}</body></html>"""

_PRIVACY = """
<p>TeamCRM is run by your organisation on its own infrastructure. It stores what you and
your colleagues enter (accounts, contacts, leads, comments), your Teams display name and
Entra object id, and the Teams conversation references it needs to send you notifications.</p>
<p>Nothing is sent to the TeamCRM authors. Messages travel through Microsoft Teams and the
Azure Bot Service. Ask your TeamCRM administrator to see or erase what is stored about you.</p>
"""

_TERMS = """
<p>TeamCRM is open-source software under the MIT licence, provided "as is", without warranty
of any kind. Your organisation operates this instance and sets the rules for its use.</p>
"""


async def privacy(_request: web.Request) -> web.Response:
    return web.Response(text=_PAGE.format(title="Privacy", body=_PRIVACY), content_type="text/html")


async def terms(_request: web.Request) -> web.Response:
    return web.Response(
        text=_PAGE.format(title="Terms of use", body=_TERMS), content_type="text/html"
    )
