"""The warehouse's SQL, one module per table: ``daily``, ``state``, ``features`` (and which features exist,
``feature_spec``), ``labels`` (the label rule); ``queries`` (reads) and ``sql`` (the dialect, the declared types).
May import ``core.intake`` and the modules at ``core``'s root.
"""
