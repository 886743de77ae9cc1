"""DESIGN §8: the read-only HTTP surface (status page, JSON API, Atom feed, badges,
Prometheus metrics, health) and its static export.

Imported only by `statuswatch run` with an [http] section and by `export`: `check`
never pays for jinja2, starlette, uvicorn or prometheus_client.
"""
