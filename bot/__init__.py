"""The Teams side: the aiohttp service, activity handlers, card actions and proactive sends.

The only package that imports botbuilder, so a move to another SDK touches nothing else.
"""
