"""Who listens to a bridged signal, for which sender, since when: the wiring, behind one lock."""

from __future__ import annotations

import inspect
import itertools
import sys
import threading
import weakref
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import iscoroutinefunction
from blinker import ANY

from .naming import identity

Receiver = Callable[..., Any]
ReceiverRef = Callable[[], Receiver | None]
Call = Callable[..., Any]
"""What a plan calls in place of a receiver: ``call(sender, **kwargs)``, as a receiver is."""

HookSwitch = Callable[[Any, bool, bool], None]
"""``(django_sender, is_async, connect)``: connect or disconnect one Django hook.

``django_sender`` is None for the hook that serves every sender.
"""

HookCheck = Callable[[list[tuple[Any, bool]]], None]
"""``[(django_sender, is_async), ...]``: the hooks the wiring has connected. Makes Django's
receivers hold exactly these of the signal's hooks, once each: code may have replaced
Django's list since they were connected."""

NOTHING: Any = object()


ANY_KEY = identity(ANY)


@dataclass(frozen=True)
class Connection:
    """One receiver connected to a bridged signal for one sender (``ANY`` for all)."""

    receiver: Receiver
    sender: Any
    weak: bool
    is_async: bool


@dataclass(eq=False)
class Link:
    """One connected receiver: how to reach it and the senders it listens to."""

    ref: ReceiverRef
    is_async: bool
    weak: bool
    senders: dict[Hashable, None] = field(default_factory=dict)


def reference(receiver: Receiver, weak: bool, on_death: Callable[[object], None]) -> ReceiverRef:
    """A zero-argument callable returning ``receiver``, or None once a weak one is collected."""
    if not weak:
        # A C-level zero-argument callable: no Python frame on the dispatch path.
        return itertools.repeat(receiver).__next__
    try:
        if inspect.ismethod(receiver):
            return weakref.WeakMethod(receiver, on_death)
        return weakref.ref(receiver, on_death)
    except TypeError:
        raise TypeError(
            f"{receiver!r} cannot be weakly referenced; connect it with weak=False"
        ) from None


class Wiring:
    """The receivers of one bridged signal per sender, in connect order, and its Django hooks.

    Every change happens under :attr:`lock`. Receivers and senders that die are noted by
    garbage-collection callbacks and unlinked by :meth:`reap`, under the lock, later.
    ``changed()`` is called after every change, so that cached plans are forgotten. Every
    connect, disconnect and clear ends with ``check()``, never a send.
    """

    def __init__(
        self,
        receivers: dict[Any, Any],
        switch: HookSwitch,
        check: HookCheck,
        per_sender: Callable[[], bool],
        changed: Callable[[], None],
    ) -> None:
        self.lock = threading.RLock()
        self._receivers = receivers
        self._switch = switch
        self._check = check
        self._per_sender = per_sender
        self._changed = changed
        self._links: dict[Hashable, Link] = {}
        # sender key -> {receiver key: connect number of that (receiver, sender) pair}
        self._routes: dict[Hashable, dict[Hashable, int]] = {}
        self._senders: dict[Hashable, Any] = {}
        self._sender_refs: dict[Hashable, weakref.ref[Any]] = {}
        self._hook_counts: dict[tuple[Hashable, bool], int] = {}
        # Hook targets connected to Django, per is_async: ANY alone, or specific senders.
        self._hooked: dict[bool, dict[Hashable, None]] = {False: {}, True: {}}
        self._dead: list[tuple[Hashable, object]] = []
        self._dead_senders: list[tuple[Hashable, object]] = []
        self._order = itertools.count()

    # Queries ------------------------------------------------------------------------

    def is_hooked(self) -> bool:
        """Whether any hook is connected to Django right now."""
        return bool(self._hook_counts)

    def has_receivers_for(self, sender: Any) -> bool:
        """Whether a receiver is connected for ``sender`` or for ``ANY``."""
        if self._dead or self._dead_senders:
            with self.lock:
                self.reap()
        if not self._links:
            return False
        if ANY_KEY in self._routes:
            return True
        return sender is not ANY and identity(sender) in self._routes

    def ordered_alike(self, sender: Any, *, exact: bool = False) -> tuple[list[Link], bool]:
        """:meth:`ordered`, and whether every sender has the same links (no receiver is
        connected for one sender alone), both as of one moment."""
        with self.lock:
            return self.ordered(sender, exact=exact), self._routes.keys() <= {ANY_KEY}

    def ordered(self, sender: Any, *, exact: bool = False) -> list[Link]:
        """The links for ``sender`` (and for ``ANY`` unless exact), in connect order.

        Django orders receivers by when each (receiver, sender) pair was connected; a
        receiver connected for ``ANY`` and for the sender takes its earlier place.
        """
        with self.lock:
            self.reap()
            first: dict[Hashable, int] = {}
            for sender_key in (identity(sender),) if exact else (ANY_KEY, identity(sender)):
                for receiver_key, number in self._routes.get(sender_key, {}).items():
                    first[receiver_key] = min(number, first.get(receiver_key, number))
            return [self._links[k] for k in sorted(first, key=first.__getitem__)]

    def connections(self) -> list[Connection]:
        """Every live (receiver, sender) pair, in connect order."""
        with self.lock:
            self.reap()
            numbered = sorted(
                (number, receiver_key, sender_key)
                for sender_key, routes in self._routes.items()
                for receiver_key, number in routes.items()
            )
            pairs = [
                (self._links[receiver_key], self._sender(sender_key))
                for _, receiver_key, sender_key in numbered
            ]
        found = []
        for link, sender in pairs:
            receiver = link.ref()
            if receiver is not None and sender is not NOTHING:
                found.append(Connection(receiver, sender, link.weak, link.is_async))
        return found

    # Changes ------------------------------------------------------------------------

    def connect(self, receiver: Receiver, sender: Any, weak: bool) -> None:
        """Route ``sender``'s sends to ``receiver``; hook Django if it is the first."""
        with self.lock:
            self.reap()
            self._link(receiver, sender, weak)
            self._check_hooks()
        self._changed()

    def disconnect(self, receiver: Receiver, sender: Any) -> None:
        """Stop routing ``sender`` (every sender for ``ANY``) to ``receiver``."""
        receiver_key = identity(receiver)
        with self.lock:
            self.reap()
            link = self._links.get(receiver_key)
            if link is not None:
                senders = list(link.senders) if sender is ANY else [identity(sender)]
                for sender_key in senders:
                    self._unlink(receiver_key, sender_key)
            self._check_hooks()
        self._changed()

    def clear(self) -> None:
        """Disconnect every receiver and unhook from Django."""
        with self.lock:
            self.reap()
            for receiver_key, link in list(self._links.items()):
                for sender_key in list(link.senders):
                    self._unlink(receiver_key, sender_key)
            self._check_hooks()
        self._changed()

    def reap(self) -> None:
        """Unlink the receivers and senders collected since the last call (lock held)."""
        while self._dead:
            receiver_key, ref = self._dead.pop()
            link = self._links.get(receiver_key)
            if link is not None and link.ref is ref:
                for sender_key in list(link.senders):
                    self._unlink(receiver_key, sender_key)
        while self._dead_senders:
            sender_key, ref = self._dead_senders.pop()
            if self._sender_refs.get(sender_key) is ref:
                for receiver_key in list(self._routes.get(sender_key, ())):
                    self._unlink(receiver_key, sender_key)

    # Internals ----------------------------------------------------------------------

    def _link(self, receiver: Receiver, sender: Any, weak: bool) -> None:
        receiver_key, sender_key = identity(receiver), identity(sender)
        link = self._links.get(receiver_key)
        if link is None:
            link = Link(
                ref=reference(receiver, weak, self._on_receiver_death(receiver_key)),
                is_async=iscoroutinefunction(receiver),
                weak=weak,
            )
            self._links[receiver_key] = link
        elif link.weak != weak:
            link.ref = reference(receiver, weak, self._on_receiver_death(receiver_key))
            link.weak = weak
        self._receivers[receiver_key] = receiver if not weak else link.ref
        routes = self._routes.setdefault(sender_key, {})
        if receiver_key in routes:
            return
        routes[receiver_key] = next(self._order)
        link.senders[sender_key] = None
        self._hold(sender_key, sender)
        self._count(sender_key, link.is_async, +1)

    def _unlink(self, receiver_key: Hashable, sender_key: Hashable) -> None:
        routes = self._routes.get(sender_key)
        if routes is None or receiver_key not in routes:
            return
        link = self._links[receiver_key]
        del routes[receiver_key]
        del link.senders[sender_key]
        self._count(sender_key, link.is_async, -1)
        if not routes:
            del self._routes[sender_key]
            self._senders.pop(sender_key, None)
            self._sender_refs.pop(sender_key, None)
        if not link.senders:
            del self._links[receiver_key]
            self._receivers.pop(receiver_key, None)

    def _hook_target(self, sender_key: Hashable) -> Hashable:
        if sender_key != ANY_KEY and self._per_sender():
            return sender_key
        return ANY_KEY

    def _count(self, sender_key: Hashable, is_async: bool, delta: int) -> None:
        slot = (self._hook_target(sender_key), is_async)
        count = self._hook_counts.get(slot, 0) + delta
        if count:
            self._hook_counts[slot] = count
        else:
            self._hook_counts.pop(slot, None)
        if count == (1 if delta > 0 else 0):
            self._rehook(is_async)

    def _rehook(self, is_async: bool) -> None:
        """Hook Django so that a send reaches one hook of this kind, which orders them all.

        While any receiver of this kind listens to ``ANY``, the ``ANY`` hook alone calls
        every receiver, merged in connect order; otherwise one hook per sender does. The
        new hooks are connected before the old ones leave: a send racing the switch in
        another thread may call a sender's receivers twice, but never skips them.
        """
        if (ANY_KEY, is_async) in self._hook_counts:
            wanted: dict[Hashable, None] = {ANY_KEY: None}
        else:
            wanted = {target: None for target, kind in self._hook_counts if kind == is_async}
        hooked = self._hooked[is_async]
        for target in [target for target in wanted if target not in hooked]:
            self._switch(self._django_sender(target), is_async, True)
        for target in [target for target in hooked if target not in wanted]:
            self._switch(self._django_sender(target), is_async, False)
        self._hooked[is_async] = wanted

    def _check_hooks(self) -> None:
        self._check(
            [
                (self._django_sender(target), is_async)
                for is_async, targets in self._hooked.items()
                for target in targets
            ]
        )

    def _django_sender(self, target: Hashable) -> Any:
        return None if target == ANY_KEY else self._senders[target]

    def _on_receiver_death(self, receiver_key: Hashable) -> Callable[[object], None]:
        # Runs inside garbage collection, possibly while this thread holds a lock:
        # only note the death; reap() undoes the wiring under the lock later.
        def note(ref: object) -> None:
            if not sys.is_finalizing():
                self._dead.append((receiver_key, ref))
                if self._receivers.get(receiver_key) is ref:
                    self._receivers.pop(receiver_key, None)
                self._changed()

        return note

    def _on_sender_death(self, sender_key: Hashable) -> Callable[[object], None]:
        def note(ref: object) -> None:
            if not sys.is_finalizing():
                self._dead_senders.append((sender_key, ref))
                self._changed()

        return note

    def _hold(self, sender_key: Hashable, sender: Any) -> None:
        if sender_key in self._senders or sender_key in self._sender_refs:
            return
        if sender is not ANY and self._hook_target(sender_key) == ANY_KEY:
            try:
                self._sender_refs[sender_key] = weakref.ref(
                    sender, self._on_sender_death(sender_key)
                )
                return
            except TypeError:
                pass
        self._senders[sender_key] = sender

    def _sender(self, sender_key: Hashable) -> Any:
        """The sender held under ``sender_key``, or ``NOTHING`` once it is collected."""
        ref = self._sender_refs.get(sender_key)
        if ref is None:
            return self._senders.get(sender_key, NOTHING)
        sender = ref()
        return NOTHING if sender is None else sender
