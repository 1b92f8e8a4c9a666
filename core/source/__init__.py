"""Reading and mapping the source: ``mapping`` (the mapping file, value conversion, the line mapper and
hashing), ``reader`` (ORDERS_UNIFIED, read-only), ``keys`` (sync key equality) and ``limits`` (values
checked against the staging tables' definitions before anything is staged)."""
