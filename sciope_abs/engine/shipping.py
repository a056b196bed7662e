"""Sending a function object (simulator, emulator, task body) to the workers once per client.

A map ships its function to the workers as one future and the tasks take that future as their
first argument, so the function travels once, not with every task.  This module keeps those
futures per client and per function, so that *repeated* maps with the same function (the rounds
of SMC-ABC, a sweep's batches, BOLFI's acquisitions) reuse the copy already on the workers
instead of serialising the object again: an emulator is saved through Keras once per run, not
once per round.

The object is pickled once, on the client, into a small task whose result is a
:class:`Shipped` holder of the bytes: if every worker holding it dies, the scheduler recomputes
it from the bytes (nothing is lost, nothing is pickled again), and each worker process unpickles
the function once (:meth:`Shipped.get` keeps it), however many tasks it runs.

A function is recognised as "the same" when it is the same object, or an equal one (``==``,
e.g. a frozen dataclass wrapping the same simulator), **and** its attributes (two levels deep)
are still bound to the same objects.  Rebinding an attribute (``sim.n_steps = 50``) is seen and
the new state is shipped; changing an array *in place* is not: after such a change pass a new
object, or call :func:`forget_shipped`.
"""
from __future__ import annotations

import pickle
import threading
import uuid
import weakref
from collections import OrderedDict
from typing import Any, Optional

__all__ = ["ship", "forget_shipped", "Shipped", "unwrap", "MAX_SHIPPED_PER_CLIENT"]

#: functions kept on the workers per client (least recently used ones are released first)
MAX_SHIPPED_PER_CLIENT = 16

_lock = threading.RLock()
# worker side: token -> the unpickled function (one per process, least recently used dropped)
_unpickled: "OrderedDict[str, Any]" = OrderedDict()


class Shipped:
    """A pickled function travelling to the workers; :meth:`get` unpickles it once per process.

    Parameters
    ----------
    token : str
        Unique name of this shipment.
    blob : bytes
        The pickled function.
    """

    __slots__ = ("token", "blob")

    def __init__(self, token: str, blob: bytes) -> None:
        self.token = token
        self.blob = blob

    def get(self) -> Any:
        """The function (unpickled on the first call in this process, then reused)."""
        with _lock:
            fn = _unpickled.get(self.token)
            if fn is not None:
                _unpickled.move_to_end(self.token)
                return fn
        from distributed.protocol.pickle import loads

        fn = loads(self.blob)
        with _lock:
            _unpickled[self.token] = fn
            while len(_unpickled) > MAX_SHIPPED_PER_CLIENT:
                _unpickled.popitem(last=False)
        return fn


def unwrap(fn: Any) -> Any:
    """``fn`` itself, or the function a :class:`Shipped` carries."""
    return fn.get() if isinstance(fn, Shipped) else fn


def _make_shipped(token: str, blob: bytes) -> Shipped:
    return Shipped(token, blob)
# client -> OrderedDict[key -> (fn, fingerprint, future)]
_shipped: "weakref.WeakKeyDictionary[Any, OrderedDict]" = weakref.WeakKeyDictionary()


def _fingerprint(obj: Any, depth: int = 2) -> tuple:
    """Which objects ``obj``'s attributes are bound to, ``depth`` levels down (cheap, no pickling)."""
    attrs = getattr(obj, "__dict__", None)
    if not isinstance(attrs, dict) or depth <= 0:
        return ()
    return tuple((name, id(value), _fingerprint(value, depth - 1)) for name, value in sorted(attrs.items()))


def _key(fn: Any) -> Any:
    """``fn`` itself when it can be a dict key (hash and ``==`` by value), else its identity."""
    try:
        hash(fn)
        fn == fn  # noqa: B015 - an __eq__ that raises (numpy fields) means: match by identity
        return ("value", fn)
    except Exception:
        return ("id", id(fn))


def _lookup(entries: OrderedDict, key: Any) -> Optional[tuple]:
    try:
        return entries.get(key)
    except Exception:  # an __eq__ that raises against another cached key
        return None


def _send(client: Any, fn: Any, label: str) -> Any:
    """Pickle ``fn`` once and make it a recomputable task (a lost copy is rebuilt from the bytes)."""
    from distributed.protocol.pickle import dumps

    try:
        blob = dumps(fn)
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise ValueError(f"cannot send {label!r} to Dask workers (define it at module level in an "
                         f"importable module): {exc}") from None
    token = f"sciope-fn-{label}-{uuid.uuid4().hex}"
    return client.submit(_make_shipped, token, blob, key=token, pure=False)


def ship(client: Any, fn: Any, label: str = "function", *, renew: bool = False) -> Any:
    """A future of ``fn`` on the workers of ``client``: pickled once, then reused.

    Parameters
    ----------
    client : distributed.Client
    fn : object
        What to send (must pickle).
    label : str
        Name used in the error message when ``fn`` cannot be pickled.
    renew : bool
        Send it again even if a usable copy is cached.

    Returns
    -------
    distributed.Future
        Resolves to a :class:`Shipped` (tasks call :func:`unwrap` on it).  Owned by the cache:
        do not release it.

    Raises
    ------
    ValueError
        ``fn`` cannot be pickled.
    """
    key, fp = _key(fn), _fingerprint(fn)
    with _lock:
        entries = _shipped.setdefault(client, OrderedDict())
        hit = _lookup(entries, key)
        if hit is not None and not renew and hit[1] == fp and getattr(hit[2], "status", "") in ("pending",
                                                                                                 "finished"):
            entries.move_to_end(key)
            return hit[2]
    future = _send(client, fn, label)
    with _lock:
        for other in [c for c in _shipped.keys() if getattr(c, "status", "") in ("closing", "closed")]:
            del _shipped[other]  # a closed client's copies are gone anyway
        entries = _shipped.setdefault(client, OrderedDict())
        try:
            entries[key] = (fn, fp, future)  # the strong reference to fn keeps an ``id`` key unique
        except Exception:  # an __eq__ that raises against another cached key
            key = ("id", id(fn))
            entries[key] = (fn, fp, future)
        entries.move_to_end(key)
        while len(entries) > MAX_SHIPPED_PER_CLIENT:
            entries.popitem(last=False)  # dropping the last reference releases the future
    return future


def forget_shipped(client: Any = None, fn: Any = None) -> None:
    """Release cached copies: of ``fn`` on ``client``, everything on ``client``, or everything.

    Parameters
    ----------
    client : distributed.Client, optional
    fn : object, optional
    """
    with _lock:
        clients = [client] if client is not None else list(_shipped.keys())
        for c in clients:
            entries = _shipped.get(c)
            if entries is None:
                continue
            if fn is None:
                entries.clear()
                continue
            for key in [k for k, v in entries.items() if v[0] is fn]:
                del entries[key]
