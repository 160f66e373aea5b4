"""The embedded sandbox: simulated HubSpot accounts in SQLite that refuse what HubSpot refuses.

``store`` holds the accounts (SQL in ``rows`` and ``migrations``) and checks
every write against ``rules``; ``snapshot`` reads and checks the YAML that
seeds it. The sandbox provider and the HubSpot-compatible server (the
``http`` subpackage) are thin layers over :class:`store.Store`.
"""
