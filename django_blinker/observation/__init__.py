"""What signals did: activity counting in each process, the site-wide store, tracing spans,
and the one read model the pages and ``manage.py signals`` use (``figures``)."""
