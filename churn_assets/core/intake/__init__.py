"""Raw data in: sources (files, a BigQuery query) and how their times are read, the event vocabulary, column
contracts, the row rules, a run's checks and the findings told to a person. Imports only ``core``'s root modules.
"""
