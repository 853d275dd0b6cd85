"""The CRM core: model, rules, use cases, events and ports, in plain Python.

Nothing here imports the bot, the cards, the storage or any third-party package, so the rules
can be tested in memory and the outer layers can be replaced without touching them.
"""
