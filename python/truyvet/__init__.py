"""truyvet for Python: trace F0s and run SQL over a truyvet store, getting pyarrow Tables.

    import truyvet
    store = truyvet.Store.open("store")
    f1 = store.trace("0912345678", start="2021-08-01", end="2021-08-10", linger="15m")
    f1.to_pandas()                      # or polars.from_arrow(f1)

Results cross from Rust through the Arrow C stream interface: the table's buffers are the
engine's own, handed over without a copy. The engine releases the GIL while it works.

Times (``start``, ``end``, ``onset``) are ``datetime``/``date`` objects, Unix seconds, or the
text ``truyvet trace --from`` takes (``2021-08-01 08:00:00``, ``2021-08-01T08:00:00+07:00``);
a date is its midnight; a time without an offset is read in ``tz`` (default UTC, as on the
command line). Durations
(``linger``, ``dwell``, ``max_visit``, ``min_overlap``, ``radius``) are ``timedelta``s, seconds,
or text such as ``"15m"`` or ``"1h30m"``.

Errors: ``LookupError`` for an F0 the store does not know, ``ValueError`` for a bad argument
(the message names it and says how to write it) or a refused SQL statement, ``TimeoutError``,
and ``OSError`` for a missing or damaged store.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import os as _os
from typing import Any, Optional, Union

import pyarrow as _pa

from . import _truyvet

__all__ = ["Store", "__version__"]
__version__: str = _truyvet.__version__

Time = Union[str, int, _dt.datetime, _dt.date, None]
Duration = Union[str, int, float, _dt.timedelta, None]


def _time(name: str, value: Time) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a time, got {value!r}")
    if isinstance(value, _dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, _dt.date):
        return f"{value.isoformat()} 00:00:00"  # the day's start, in ``tz``
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"{name}: expected a datetime, date, Unix seconds or text, got {type(value).__name__}")


def _duration(name: str, value: Duration) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a duration, got {value!r}")
    if isinstance(value, _dt.timedelta):
        value = value.total_seconds()
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{name}: durations are whole seconds, got {value}")
        value = int(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{name}: a duration cannot be negative, got {value}")
        return str(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"{name}: expected a timedelta, seconds or text such as '15m', got {type(value).__name__}")


def _hops(hops: int) -> int:
    if isinstance(hops, bool) or not isinstance(hops, int) or not 1 <= hops <= 3:
        raise ValueError(f"hops: 1, 2 or 3 (the F1, F2 or F3), got {hops!r}")
    return hops


class Store:
    """A truyvet store, opened read-only at its last commit.

    Commits made later (``truyvet ingest`` in another process) are seen after :meth:`refresh`.
    """

    def __init__(self, path: Union[str, "_os.PathLike[str]"]):
        self._store = _truyvet.Store(_os.fspath(path))

    @classmethod
    def open(cls, path: Union[str, "_os.PathLike[str]"]) -> "Store":
        """Open the store in ``path`` (``OSError`` if it is not a truyvet store)."""
        return cls(path)

    @property
    def path(self) -> str:
        """The store's directory."""
        return _os.fspath(self._store.path)

    def refresh(self) -> bool:
        """Move to the store's latest commit; True when there was a newer one."""
        return self._store.refresh()

    def trace(
        self,
        f0: Union[str, int],
        *,
        start: Time = None,
        end: Time = None,
        tz: Optional[str] = None,
        rule: Optional[str] = None,
        rules: Union[str, "_os.PathLike[str]", None] = None,
        linger: Duration = None,
        dwell: Duration = None,
        max_visit: Duration = None,
        min_overlap: Duration = None,
        radius: Duration = None,
        onset: Time = None,
        limit: Optional[int] = None,
        rank: str = "exposure",
        hops: int = 1,
        max_per_hop: Optional[int] = None,
    ) -> _pa.Table:
        """The ranked F1 list of ``f0``: the columns of ``truyvet trace --format parquet``.

        ``start``/``end`` bound the infectious window ``[start, end)`` (the CLI's
        ``--from``/``--to``); ``rule`` is an exposure rule (``overlap``, ``pc-covid``,
        ``midnight``, ``next-checkin``, ``cwa``, or one named in the ``rules`` file), and each
        parameter given overrides the rule's, as the CLI's flags do. ``rank="score"`` ranks by
        the risk score and adds its parts as columns.

        ``hops=2`` (or 3) follows the contacts further, as ``truyvet trace --hops``: the F2 (F3)
        with ``hop`` and ``via`` columns; ``max_per_hop`` follows only the top N of each hop.

        The schema's metadata of a one-hop list says how the trace went:
        ``truyvet.rows_examined``, ``truyvet.f0_visits``, ``truyvet.elapsed_us`` (the engine's
        time, in microseconds) and ``truyvet.arrow_us`` (building the Arrow batch).
        """
        args = self._args(locals())
        if hops != 1 or max_per_hop is not None:
            return _pa.table(self._store.chain(str(f0), args, _hops(hops), max_per_hop, False))
        return _pa.table(self._store.trace(str(f0), args))

    def exposures(self, f0: Union[str, int], **params: Any) -> _pa.Table:
        """Every exposure interval behind ``f0``'s F1 list: one row per contact, venue and
        overlapping stretch (the CLI's ``truyvet exposures``). Takes :meth:`trace`'s keywords."""
        unknown = set(params) - _TRACE_KEYWORDS - {"hops", "max_per_hop"}
        if unknown:
            raise TypeError(f"exposures() got unexpected keyword(s): {', '.join(sorted(unknown))}")
        args = self._args(params)
        hops, max_per_hop = params.get("hops", 1), params.get("max_per_hop")
        if hops != 1 or max_per_hop is not None:
            return _pa.table(self._store.chain(str(f0), args, _hops(hops), max_per_hop, True))
        return _pa.table(self._store.exposures(str(f0), args))

    def sql(self, query: str, *, rules: Union[str, "_os.PathLike[str]", None] = None) -> _pa.Table:
        """Run one read-only SQL statement over the store: the tables (``checkins``,
        ``venues``, ``persons``, ``cases``) and table functions (``f1_contacts``,
        ``exposures``, ...) of ``truyvet sql``. Writes, DDL and COPY are refused
        (``ValueError``). With ``rules``, the table functions may name that file's rules."""
        return _pa.table(self._store.sql(query, None if rules is None else _os.fspath(rules)))

    def stats(self) -> dict:
        """The store's overview, as ``truyvet stats --format json`` prints it."""
        return _json.loads(self._store.stats_json())

    def __repr__(self) -> str:
        return f"truyvet.Store({self.path!r})"

    @staticmethod
    def _args(given: dict) -> dict:
        args: dict = {}
        for name in ("start", "end", "onset"):
            args[name] = _time(name, given.get(name))
        for name in ("linger", "dwell", "max_visit", "min_overlap", "radius"):
            args[name] = _duration(name, given.get(name))
        rules = given.get("rules")
        args["rules"] = None if rules is None else _os.fspath(rules)
        for name in ("tz", "rule", "rank"):
            value = given.get(name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name}: expected text, got {type(value).__name__}")
            args[name] = value
        limit = given.get("limit")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"limit: expected a whole number >= 0, got {limit!r}")
        args["limit"] = limit
        return args


_TRACE_KEYWORDS = frozenset(
    ["start", "end", "tz", "rule", "rules", "linger", "dwell", "max_visit", "min_overlap", "radius", "onset", "limit", "rank"]
)
