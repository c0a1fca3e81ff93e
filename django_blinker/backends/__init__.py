"""Where background events are published: one module per queue (imported only when used).

Each module has ``prepare(envelopes, coalesced) -> Callable[[], None]``, called in the
sending thread, whose result publishes when called; ``BOUNDED`` says whether that call may
block on a remote broker (then :mod:`django_blinker.background.publishing` runs it under a timeout).
"""
