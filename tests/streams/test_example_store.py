"""The example store: the deployment's training examples as read from the examples topic."""

from __future__ import annotations

import base64

import numpy as np

from redline.schemas import ExampleRecord, encode, encode_embedding
from redline.streams.example_store import ExampleStore


def _record(i: str, label: str, source: str = "seed", embedder: str = "m@1", x: float = 1.0) -> bytes:
    return encode(
        ExampleRecord(
            id=i,
            text=f"text {i}",
            label=label,
            source=source,
            embedder=embedder,
            embedding=encode_embedding(np.full(4, x, dtype=np.float32)),
        )
    )


def test_records_apply_in_order_with_replacements_and_tombstones() -> None:
    store = ExampleStore("m@1")
    store.apply(0, b"a", _record("a", "x"))
    store.apply(1, b"b", _record("b", "y", "validated", x=2.0))
    store.apply(2, b"c", _record("c", "x", "corrected"))
    store.apply(3, b"a", _record("a", "y", x=3.0))  # a later record of the same id replaces it
    store.apply(4, b"c", None)  # a tombstone removes it
    assert len(store) == 2 and store.next_offset == 5
    rows = store.rows()
    assert rows.ids == ("b", "a") and rows.labels == ("y", "y") and list(rows.offsets) == [1, 3]
    np.testing.assert_array_equal(rows.X[:, 0], [2.0, 3.0])
    assert store.rows(before=2).ids == ("b",)
    assert store.since(2, frozenset({"validated", "corrected"})).ids == ()
    assert store.since(0, frozenset({"validated"})).ids == ("b",)
    assert store.ids_of("y") and set(store.ids_of("y")) == {"a", "b"} and store.ids_of("x") == []


def test_the_index_shows_the_judge_the_live_examples_by_label() -> None:
    store = ExampleStore()
    for i in range(5):
        store.apply(i, f"e{i}".encode(), _record(f"e{i}", "x" if i % 2 else "y", x=float(i + 1)))
    index = store.index()
    assert len(index) == 5 and set(index.spans) == {"x", "y"}
    x = np.ones((1, 4), dtype=np.float32)  # nearest: the largest embedding (e3 of label x)
    assert index.nearest(x, [["x", "y"]], 1) == [(("text e3",), ("text e4",))]
    assert store.index() is index  # cached until the store changes
    store.apply(5, b"e3", None)
    assert store.index() is not index and store.index().nearest(x, [["x"]], 2) == [(("text e1",),)]


def test_unusable_records_are_skipped_and_counted() -> None:
    store = ExampleStore("m@1")
    store.apply(0, b"a", b"{not json")
    store.apply(1, b"b", _record("b", "x", embedder="other@2"))  # embedded by another model
    store.apply(2, b"c", _record("c", "x"))
    store.apply(
        3,
        b"d",
        encode(
            ExampleRecord(
                id="d",
                text="t",
                label="x",
                source="seed",
                embedder="m@1",
                embedding=encode_embedding(np.ones(3)),
            )
        ),
    )  # other dimension
    assert len(store) == 1 and store.skipped == 3 and store.next_offset == 4


def test_growth_keeps_every_row() -> None:
    store = ExampleStore()
    for i in range(300):
        store.apply(i, f"e{i}".encode(), _record(f"e{i}", f"l{i % 7}", x=float(i)))
    rows = store.rows()
    assert len(rows) == 300 and rows.X.shape == (300, 4)
    np.testing.assert_array_equal(rows.X[:, 0], np.arange(300, dtype=np.float32))


def _b64(x: float) -> bytes:
    return base64.b64encode(np.full(4, x, dtype="<f4").tobytes())


def test_apply_many_is_apply_in_order() -> None:
    records = [
        (0, b"a", _record("a", "x")),
        (1, b"b", _record("b", "y", "validated", x=2.0)),
        (2, b"c", _record("c", "x", "corrected")),
        (3, b"a", _record("a", "y", x=3.0)),  # replaces a
        (4, b"c", None),  # tombstone
        (5, b"d", b"{not json"),  # undecodable
        (6, b"e", _record("e", "x", embedder="other@1")),  # another embedder
        (7, b"f", _record("f", "x").replace(_b64(1.0), _b64(float("nan")))),  # not finite
        (8, b"g", _record("g", "z", x=4.0)),
        (9, b"h", _record("h", "z", x=5.0)),
    ]
    one_by_one, at_once = ExampleStore("m@1"), ExampleStore("m@1")
    for offset, key, value in records:
        one_by_one.apply(offset, key, value)
    at_once.apply_many(records)
    for store in (one_by_one, at_once):
        assert store.next_offset == 10 and store.skipped == 3 and len(store) == 4
    a, b = one_by_one.rows(), at_once.rows()
    assert a.ids == b.ids == ("b", "a", "g", "h") and a.labels == b.labels and a.sources == b.sources
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.offsets, b.offsets)


def _naive_since(store: ExampleStore, offset: int, sources: frozenset[str]) -> tuple[str, ...]:
    rows = store.rows(sources=sources)
    return tuple(i for i, o in zip(rows.ids, rows.offsets.tolist(), strict=True) if o >= offset)


def test_since_is_every_live_row_from_an_offset_on() -> None:
    rng = np.random.default_rng(0)
    store = ExampleStore("m@1")
    sources = ("seed", "validated", "corrected")
    for offset in range(300):
        key = f"e{rng.integers(80)}"
        if rng.random() < 0.1:
            store.apply(offset, key.encode(), None)  # a tombstone
        else:
            store.apply(offset, key.encode(), _record(key, "x", str(rng.choice(sources)), x=float(offset)))
    confirmed = frozenset({"validated", "corrected"})
    for offset in [0, 1, 57, 150, 299, 300, 1000]:
        got = store.since(offset, confirmed)
        assert got.ids == _naive_since(store, offset, confirmed)
        assert all(o >= offset for o in got.offsets.tolist())
        np.testing.assert_array_equal(got.X[:, 0], got.offsets.astype(np.float32))  # each row's own


def test_since_holds_for_rows_added_out_of_offset_order() -> None:
    store = ExampleStore("m@1")
    x = np.ones(4, dtype=np.float32)
    for offset, key in [(5, "a"), (9, "b"), (2, "c"), (7, "d")]:  # not what the topic gives, but kept
        record = ExampleRecord(
            id=key, text=key, label="x", source="validated", embedder="m@1", embedding=encode_embedding(x)
        )
        store.add(offset, record, x)
    assert store.since(6, frozenset({"validated"})).ids == ("b", "d")
    assert store.since(3, frozenset({"validated"})).ids == ("a", "b", "d")
