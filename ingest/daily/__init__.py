"""The analyzer: readings -> daily records and exceedance events, in the ledger.

``close_day(store_path, config, day, now)`` is the entry point (``ingest.daily.close``);
``ingest.daily.store.RecordsStore`` holds the records, exceedances, closures and signatures.
"""
