"""The lines in Redis between the web and the domain: the door a request is queued at, the consumer's
lease and publishing, job views and decisions, expiry scheduling, pausing and metrics.

A SKU's lane is the one writer of its stock: the web admits, the consumer applies through the domain.
The key layout is ``keys.py``; the Lua scripts are ``scripts/*.lua``; ``client.Lanes`` is every side
in one object (the README's "Architecture" lists each file).
"""
