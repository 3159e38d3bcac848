"""One realistic record per topic, shared by the schema tests."""

from __future__ import annotations

import json
from typing import Any

from redline.schemas import (
    SCHEMA_DIR,
    Candidate,
    ControlCommand,
    DeadLetter,
    Event,
    ExampleRecord,
    JudgeAttempt,
    JudgeInfo,
    JudgeRequest,
    JudgeVerdict,
    LabelContext,
    LabelResult,
    Prediction,
    TextIn,
    encode_embedding,
)

CANDS = [Candidate("transfer", 0.55), Candidate("balance", 0.30)]
REQUEST = JudgeRequest(
    id="t1",
    text="move 100 dollars to savings",
    candidates=CANDS,
    contexts=[LabelContext("transfer", "send money", ["send 5 to bob"]), LabelContext("balance")],
    index=1,
    uncertainty=0.7,
    model_version="m1",
    attempts=[JudgeAttempt("transfer", False, p_yes=0.1, reason="no")],
    metadata={"source": "app", "n": 3},
    embedding=encode_embedding([0.25, -1.5, 3.0]),
)

EXAMPLES: dict[str, Any] = {
    "texts": TextIn(id="t1", text="what is my balance", metadata={"user": "u1", "score": 0.5, "ok": True}),
    "predictions": Prediction(
        id="t1", text="x", candidates=CANDS, uncertainty=0.4, route="judge", model_version="m1"
    ),
    "judge.requests": REQUEST,
    "judge.verdicts": JudgeVerdict(
        request=REQUEST, attempt=JudgeAttempt("balance", True, p_yes=0.9), judge="simulated:0.95"
    ),
    "labels": LabelResult(
        id="t1",
        text="x",
        label="balance",
        status="corrected",
        confidence=0.30,
        candidates=CANDS,
        model_version="m1",
        judge=JudgeInfo(
            "simulated:0.95", 2, [JudgeAttempt("transfer", False), JudgeAttempt("balance", True)]
        ),
    ),
    "control": ControlCommand(id="c1", command="add_label", label="crypto", examples=["buy btc", "sell eth"]),
    "events": Event(
        id="e1",
        kind="drift",
        subject="labels drifting",
        labels=["balance"],
        details={"psi": 0.31, "window": [1, 2], "by": {"balance": None}},
    ),
    "examples": ExampleRecord(
        id="judged:t1",
        text="move 100 dollars to savings",
        label="transfer",
        source="corrected",
        embedder="sentence-transformers/all-MiniLM-L6-v2@abc",
        embedding=encode_embedding([0.25, -1.5, 3.0]),
        model_version="v12",
        at=1.5,
    ),
    "deadletter": DeadLetter.of(
        b"{not json",
        b"k1",
        reason="invalid JSON",
        topic="redline.texts",
        partition=0,
        offset=7,
        stage="classify",
    ),
}


def schema_of(topic: str) -> dict[str, Any]:
    """The checked-in JSON Schema of ``topic``."""
    return json.loads((SCHEMA_DIR / f"redline.{topic}.schema.json").read_text())  # type: ignore[no-any-return]
