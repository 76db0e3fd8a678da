"""DynamoDB's documented limits on items, checked by the drill itself: the emulator is more lenient.

A backup holding an item that real DynamoDB refuses restores "fine" on a lenient emulator and
fails in a real disaster, so verify checks every item against the limits before any restore.
From the Amazon DynamoDB Developer Guide ("Item sizes and formats"; "Constraints": data types,
items, attributes, partition and sort keys; BatchWriteItem):

- numbers: at most 38 significant digits; zero, or a magnitude from 1E-130 to
  9.9999999999999999999999999999999999999E+125, positive or negative;
- sets: never empty, no duplicate members;
- an item at most 400 KB: the UTF-8 bytes of every attribute name plus its value's size,
  where a string is its UTF-8 bytes, a number 1 byte per two significant digits plus 1, a
  binary its raw bytes, a boolean or null 1 byte, a list or map 3 bytes plus 1 byte and the
  size of each element (a map element's name counted too), and a set the sum of its members;
- key attributes: of the type the key schema says, not empty, the partition key at most
  2048 bytes and the sort key at most 1024 bytes;
- nesting: lists and maps at most 32 levels deep.

Findings name the item by its hashed key and the attribute by its path, never by a value.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from dr_drill.core.items.canonical import TypedItem, TypedValue
from dr_drill.core.items.digest import key_hash, reported_key

MAX_ITEM_BYTES = 400 * 1024
MAX_PARTITION_KEY_BYTES = 2048
MAX_SORT_KEY_BYTES = 1024
MAX_NESTING_DEPTH = 32
MAX_NUMBER_DIGITS = 38
MAX_BATCH_WRITE_ITEMS = 25  # BatchWriteItem: at most 25 put or delete requests
_SMALLEST_EXPONENT = -130  # 1E-130
_LARGEST_EXPONENT = 125  # 9.9999999999999999999999999999999999999E+125
_REPORTED_ITEMS = 20


@dataclass(frozen=True)
class KeyAttribute:
    """One attribute of the table's primary key: its name, its type (S, N or B) and its role."""

    name: str
    type: str
    partition: bool

    @property
    def max_bytes(self) -> int:
        return MAX_PARTITION_KEY_BYTES if self.partition else MAX_SORT_KEY_BYTES


def key_attributes(key_schema: Sequence[dict[str, str]]) -> tuple[KeyAttribute, ...]:
    """Read the plan's ``key_schema`` form (``[{name, type}]``, partition key first)."""
    return tuple(
        KeyAttribute(entry["name"], entry["type"], partition=number == 0) for number, entry in enumerate(key_schema)
    )


def _raw(value: Any) -> bytes:
    return bytes(value) if isinstance(value, bytes | bytearray) else base64.b64decode(value)


def _significant_digits(number: Decimal) -> int:
    # From the digits themselves: normalize() would round to the context's 28 digits first.
    digits = "".join(map(str, number.as_tuple().digits)).strip("0")
    return len(digits)


def number_problem(text: Any) -> str | None:
    """Return how a number breaks DynamoDB's precision or range, or None when DynamoDB accepts it."""
    try:
        number = Decimal(str(text))
    except InvalidOperation:
        return "number that is not a number"
    if not number.is_finite():
        return "number that is not finite"
    digits = _significant_digits(number)
    if digits > MAX_NUMBER_DIGITS:
        return f"number with {digits} significant digits (at most {MAX_NUMBER_DIGITS})"
    # adjusted() is the power of ten of the leading digit: 1E-130 <= |n| < 1E+126, without rounding.
    if not number.is_zero() and not _SMALLEST_EXPONENT <= number.adjusted() <= _LARGEST_EXPONENT:
        return "number outside 1E-130..9.99E+125 in magnitude"
    return None


def _number_size(text: Any) -> int:
    try:
        return (_significant_digits(Decimal(str(text))) + 1) // 2 + 1
    except InvalidOperation:
        return len(str(text))


def _scalar_size(kind: str, inner: Any) -> int:
    if kind == "S":
        return len(inner.encode())
    if kind == "N":
        return _number_size(inner)
    if kind == "B":
        return len(_raw(inner))
    return 1  # BOOL, NULL


def value_size(value: TypedValue) -> int:
    """Return a value's size in bytes by DynamoDB's rules (without its attribute name)."""
    ((kind, inner),) = value.items()
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(member) + 1 for name, member in inner.items())
    if kind == "L":
        return 3 + sum(value_size(member) + 1 for member in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(_scalar_size(kind[0], member) for member in inner)
    return _scalar_size(kind, inner)


def item_size(item: TypedItem) -> int:
    """Return an item's size in bytes by DynamoDB's rules: attribute names plus values."""
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def _set_problem(kind: str, members: list[Any]) -> str | None:
    if not members:
        return "empty set"
    if kind == "NS":
        try:
            distinct = {Decimal(str(member)) for member in members}
        except InvalidOperation:
            return "number that is not a number"
    elif kind == "BS":
        distinct = {_raw(member) for member in members}
    else:
        distinct = set(members)
    return "set with duplicate members" if len(distinct) < len(members) else None


def _set_problems(path: str, kind: str, members: list[Any]) -> Iterator[str]:
    if problem := _set_problem(kind, members):
        yield f"{path}: {problem}"
    if kind == "NS":
        problem = next((found for member in members if (found := number_problem(member))), None)
        if problem:
            yield f"{path}: {problem}"


def _value_problems(path: str, value: TypedValue, depth: int) -> Iterator[str]:
    """Yield each limit ``value`` breaks, at ``path``; ``depth`` counts the lists and maps around it."""
    ((kind, inner),) = value.items()
    if kind in ("M", "L"):
        if depth + 1 > MAX_NESTING_DEPTH:
            yield f"{path}: nested more than {MAX_NESTING_DEPTH} levels deep"
            return
        # A nested map's keys may be data (user ids, emails): the path names the top-level attribute
        # and list positions only, never a map key.
        members = (
            ((path, member) for member in inner.values())
            if kind == "M"
            else ((f"{path}[{index}]", member) for index, member in enumerate(inner))
        )
        for inner_path, member in members:
            yield from _value_problems(inner_path, member, depth + 1)
    elif kind == "N":
        if problem := number_problem(inner):
            yield f"{path}: {problem}"
    elif kind in ("SS", "NS", "BS"):
        yield from _set_problems(path, kind, list(inner))


def _key_problems(item: TypedItem, keys: Sequence[KeyAttribute]) -> Iterator[str]:
    for key in keys:
        role = "partition key" if key.partition else "sort key"
        value = item.get(key.name)
        if value is None:
            yield f"{role} {key.name}: missing"
            continue
        ((kind, inner),) = value.items()
        if kind != key.type:
            yield f"{role} {key.name}: type {kind}, the key schema says {key.type}"
            continue
        size = _scalar_size(kind, inner)
        if kind in ("S", "B") and size == 0:
            yield f"{role} {key.name}: empty"
        elif size > key.max_bytes:
            yield f"{role} {key.name}: {size} bytes (at most {key.max_bytes})"


def item_problems(item: TypedItem, keys: Sequence[KeyAttribute] = ()) -> list[str]:
    """Return every DynamoDB limit ``item`` breaks, each naming the attribute path and the limit."""
    problems = list(_key_problems(item, keys))
    for name, value in item.items():
        problems.extend(_value_problems(name, value, 0))
    size = item_size(item)
    if size > MAX_ITEM_BYTES:
        problems.append(f"item of {size} bytes (at most {MAX_ITEM_BYTES}, 400 KB)")
    return problems


@dataclass
class LimitReport:
    """What a streamed check of a backup's items against DynamoDB's limits found, in constant memory.

    :param keys: the table's key attributes; without them items are named by position.
    """

    keys: tuple[KeyAttribute, ...] = ()
    items_checked: int = 0
    items_refused: int = 0
    first: list[str] = field(default_factory=list)

    def check(self, items: Iterable[TypedItem]) -> LimitReport:
        for item in items:
            self.add(item)
        return self

    def add(self, item: TypedItem) -> None:
        self.items_checked += 1
        problems = item_problems(item, self.keys)
        if not problems:
            return
        self.items_refused += 1
        if len(self.first) < _REPORTED_ITEMS:
            self.first.append(f"{self._name(item)} ({'; '.join(problems)})")

    def _name(self, item: TypedItem) -> str:
        if not self.keys:
            return f"item #{self.items_checked}"
        return "key " + reported_key(key_hash(item, tuple(key.name for key in self.keys)))

    def reason(self) -> str:
        """The finding a person reads: how many items real DynamoDB would refuse, and why."""
        return (
            f"{self.items_refused} of {self.items_checked} items break DynamoDB's limits and would be refused "
            f"by a real restore: {'; '.join(self.first[:5])}"
        )
