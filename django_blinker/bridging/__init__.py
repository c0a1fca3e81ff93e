"""The core: a Django signal as a Blinker signal (``bridged``), its wiring of receivers and
senders, the plans and hooks Django calls, failures, pauses, carried context and the
named extension points."""
