"""Where models live: artifact stores, the model card, the registry (versions, production, decisions), model
files that load without running code, and the data manifest. Imports only ``core``'s root modules.
"""
