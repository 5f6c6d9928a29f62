"""Schemathesis hooks of Catalog's contract test (crates/catalog/tests/schemathesis.rs).

A JSON Schema describes each parameter on its own. A few rules of the
contract tie parameters together or to the server's state, which no schema
can say. A positive (schema-valid) case that breaks one of them is a request
the contract itself answers with a 422, so it is dropped here instead of
weakening the `positive_data_acceptance` check:

- `min_price` above `max_price` (API.md: a 422 naming `min_price`);
- `cursor`: a token the server signed, so a generated one is a 422 naming
  `cursor` (API.md: "an altered, truncated or made-up cursor is a 422");
- a `sort` key named twice (docs/api-behaviour.md: a 422 naming `sort`);
- the change feed's `since` other than `now`: a position the server signed,
  like `cursor` (a made-up one is a 422 naming `since`).

The change feed's `wait` is a long poll: with nothing changing, the answer
comes after `wait` seconds by design, so every case's `wait` is set to 0 to
keep the response-time check meaningful for everything else.

`Idempotency-Key`: the same key with a different body is a 422 (IETF
httpapi idempotency-key draft), and generated keys repeat (`0`, `A`), so each
positive case's key is made unique. Its characters stay as generated.

Negative cases are left untouched: the server must refuse them anyway.

One more filter works around Schemathesis itself: its coverage phase may
label a case positive while one of the case's components was generated
negative (seen in 4.32.5: a near-boundary `id` sent beside an `If-Match: 0`
left from a type mutation). Such a case is not schema-valid, so it is
dropped rather than counted as a valid request refused.
"""

import uuid
from decimal import Decimal, InvalidOperation

import schemathesis


def _positive(case):
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _mislabelled(case):
    """Labelled positive, yet a component was generated negative."""
    return any(not c.mode.is_positive for c in case.meta.components.values())


def _one(value):
    if isinstance(value, list):
        return value[0] if len(value) == 1 else None
    return value


def _decimal(value):
    try:
        return Decimal(str(_one(value)).strip())
    except (InvalidOperation, TypeError, ValueError):
        return None


@schemathesis.hook
def filter_case(ctx, case):
    if not _positive(case):
        return True
    if _mislabelled(case):
        return False
    query = case.query or {}
    if "cursor" in query:
        return False
    since = _one(query.get("since"))
    if since is not None and since != "now":
        return False
    low, high = query.get("min_price"), query.get("max_price")
    if low is not None and high is not None:
        low, high = _decimal(low), _decimal(high)
        if low is not None and high is not None and low > high:
            return False
    sort = _one(query.get("sort"))
    if isinstance(sort, str):
        keys = [k.strip().lstrip("+-") for k in sort.split(",")]
        if len(keys) != len(set(keys)):
            return False
    return True


@schemathesis.hook
def map_case(ctx, case):
    if case.query and "wait" in case.query and case.path.endswith("/changes"):
        case.query["wait"] = "0"
    if not _positive(case) or not case.headers:
        return case
    for name in list(case.headers):
        if name.lower() == "idempotency-key":
            key = str(case.headers[name])
            case.headers[name] = f"{key[:222]}-{uuid.uuid4().hex}"
    return case
