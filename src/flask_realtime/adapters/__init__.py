"""Cluster adapters over real brokers: :mod:`flask_realtime.adapters.redis` (Redis pub/sub,
wire-compatible with Node's ``@socket.io/redis-adapter``).

The cluster model they build on is :mod:`flask_realtime.server.cluster_adapter`.
"""
