"""Reading and mapping the source: ``mapping`` (the mapping file; every public name of the rooms below is
importable from it), ``columns`` (board columns, limits, templates), ``values`` (value conversion), ``lines``
(the line mapper), ``hashing``, ``reader`` (ORDERS_UNIFIED, read-only), ``keys`` (sync key equality) and
``limits`` (values checked against the staging tables' definitions before anything is staged)."""
