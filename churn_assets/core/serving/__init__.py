"""What the HTTP API serves, without the web framework: the predictions snapshot and checks of posted rows.
May import ``core.registry``, ``core.warehouse`` and ``core``'s root.
"""
