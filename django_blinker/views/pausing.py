"""The one action of the signal pages: pause or resume a receiver site-wide."""

from __future__ import annotations

import difflib
from typing import ClassVar

from django.contrib import messages
from django.http import (
    HttpRequest,
    HttpResponseBadRequest,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .. import conf, inspection
from ..background import outbox
from ..bridging import pauses
from .page import PAUSE_PERMISSION, GuardedView


class PauseView(GuardedView):
    """POST: pause or resume one receiver site-wide (``django_blinker.pause_receiver``),
    then back to the page the button was on. Recorded in the admin log."""

    permission = PAUSE_PERMISSION
    http_method_names: ClassVar[list[str]] = ["post"]  # type: ignore[misc]

    def post(self, request: HttpRequest) -> HttpResponseBase:
        name = request.POST.get("receiver", "")
        action = request.POST.get("action", "")
        if action not in ("pause", "resume") or not name:
            return HttpResponseBadRequest(
                f"action={action!r}, receiver={name!r}; expected action 'pause' or 'resume' "
                "and a receiver name",
                content_type="text/plain; charset=utf-8",
            )
        if action == "pause":
            known = {r.name for signal in inspection.discover() for r in signal.receivers}
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                return HttpResponseBadRequest(
                    f"{name!r} is not a receiver connected here{hint}",
                    content_type="text/plain; charset=utf-8",
                )
            pauses.pause(name, request.user, via="admin")
            messages.success(
                request,
                _("Paused %(name)s; every process skips it within %(bound)s.")
                % {"name": name, "bound": _bound()},
            )
        elif pauses.resume(name, request.user, via="admin"):
            released = outbox.release_held()
            messages.success(
                request,
                _("Resumed %(name)s; every process runs it again within %(bound)s.")
                % {"name": name, "bound": _bound()},
            )
            if released:
                messages.info(
                    request,
                    ngettext(
                        "%(count)d event kept while it was paused was published.",
                        "%(count)d events kept while it was paused were published.",
                        released,
                    )
                    % {"count": released},
                )
        else:
            messages.warning(request, _("%(name)s was not paused.") % {"name": name})
        back = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        ):
            back = reverse(f"{self.admin_site.name}:django_blinker_signal_changelist")
        return HttpResponseRedirect(back)


def _bound() -> str:
    every = conf.settings.pause_refresh
    if every is None:
        return str(_("the next read of the pauses (PAUSE_REFRESH is off here)"))
    return str(_("%(seconds)s seconds") % {"seconds": f"{every:g}"})
