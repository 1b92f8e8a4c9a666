"""Detecting changes: source lines against the production tables, per customer (``changes``), and the
dry run's field-by-field report of them (``report``)."""
