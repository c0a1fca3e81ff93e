"""One background event (``event``), its JSON form and limits (``codec``, ``limits``),
and what a worker does with it: check, run the receiver, confirm its outbox row."""
