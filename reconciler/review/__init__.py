"""The access review (``reconciler report``): who has what in every account, and what to look at.

``build`` makes the review as data from the config and the accounts as read;
``text``, ``markdown``, ``tabular`` (CSV, JSON) and ``page`` (one HTML page)
render it; ``render`` picks one by format name.
"""
