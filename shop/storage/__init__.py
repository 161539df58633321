"""Where the shop's state is kept: the SQLAlchemy models, the engine and sessions, the Alembic migrations
and set-based bulk inserts. It imports nothing of the layers above it.
"""
