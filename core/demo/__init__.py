"""The embedded demo: a generated ORDERS_UNIFIED (``data``) and the settings and sandbox board around it
(``setup``)."""
