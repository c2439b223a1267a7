"""The HTTP layer: a small request object, a route table, middleware as function composition, thin handlers.

It sits directly on Granian's RSGI interface (`rsgi.py`), with an ASGI adapter over the same handlers
(`asgi.py`) for uvicorn users and in-process tests. No framework is in the request path.
"""
