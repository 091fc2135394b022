"""The HTTP API (``churn-assets serve``): FastAPI routes over the production model and the predictions snapshot.
May import everything below it (``defs``, ``wiring``, ``io``, ``settings``, ``core``), never ``cli``.
"""
