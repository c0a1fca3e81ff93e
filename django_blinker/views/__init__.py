"""Read-only admin pages about signals, and the one action they offer (pausing).

Staff users with ``django_blinker.view_signal`` (and superusers) may look; anyone else is
sent to the admin login, or gets 403 when logged in as staff without the permission. One
module per page family: :mod:`.page` (what every page shares), :mod:`.catalogue` (the
signal list and one signal's page), :mod:`.wiring` (what runs for one model or one app),
:mod:`.unused` (receivers that never run) and :mod:`.pausing` (pause or resume a receiver).
"""
