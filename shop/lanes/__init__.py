"""The lines in Redis between the web and the domain: admission (the door a request is queued at), the
consumer's lease and publishing, job views and decisions, expiry scheduling, pausing and metrics.

A SKU's lane is the one writer of its stock: the web admits, the consumer applies through the domain.
"""
