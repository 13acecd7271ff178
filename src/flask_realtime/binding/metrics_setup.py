"""How an app gets its metrics: :func:`install_metrics` puts a
:class:`~flask_realtime.binding.metrics.Metrics` on its server, :func:`serve_metrics`
adds the route that Prometheus scrapes (``socketio.metrics()`` calls both).

Apart from ``metrics.py`` (the counts, kept on the loop thread as things happen, and the
scrape's snapshot of them): these run once per app, when ``socketio.metrics()`` is called,
and once per scrape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..exceptions import ConfigurationError
from ..server.observers import observe
from .metrics import METRICS_KEY, Metrics, prometheus

if TYPE_CHECKING:
    from flask import Flask, Response

    from .service import AppService

__all__ = ["install_metrics", "serve_metrics"]


def install_metrics(service: AppService, registry: Any, max_event_names: int) -> Metrics:
    """Give ``service``'s app its :class:`Metrics` (its server observed from now on).

    Raises:
        ConfigurationError: the app has metrics already, or a bad option.
    """
    if METRICS_KEY in service.app.extensions:
        raise ConfigurationError(f"metrics() was called already for {service.app!r}")
    metrics = Metrics(service, registry, max_event_names=max_event_names)
    observers = observe(service.server, service.engine)
    metrics.count_traffic_of(observers.traffic)
    observers.add(metrics)
    service.app.extensions[METRICS_KEY] = metrics
    return metrics


def serve_metrics(app: Flask, path: str) -> None:
    """Answer Prometheus scrapes at ``path`` of ``app`` (the text exposition format).

    Raises:
        ConfigurationError: ``path`` is not a path.
    """
    if not isinstance(path, str) or not path.startswith("/"):
        raise ConfigurationError(f"the metrics path must start with '/', not {path!r}")
    prom = prometheus()

    def scrape() -> Response:
        from flask import Response, current_app

        metrics = current_app.extensions.get(METRICS_KEY)
        if not isinstance(metrics, Metrics):  # pragma: no cover - installed with the route
            return Response("metrics are off\n", status=404, mimetype="text/plain")
        body = prom.generate_latest(metrics.registry)
        return Response(body, headers={"Content-Type": prom.CONTENT_TYPE_LATEST})

    app.add_url_rule(path, "flask_realtime_metrics", scrape)
