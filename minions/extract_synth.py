"""Function synthesis for extraction (``synthesize=True``), after Evaporate-Code+.

Once the local model has read the first documents (the pilot), for each field:

1. the local model describes how the value is written in the snippets it cited (the
   labels before it, its format), without repeating any value: this description, not
   the text, is what the remote is told (with ``review`` on, the snippets are shown
   too, and counted);
2. the remote writes a few ``extract(text, metadata)`` functions (regular expressions
   over one passage);
3. each function runs in the sandbox (:mod:`minions.sandbox`) on the pilot documents'
   passages and is scored by agreement with the local model's cells there; the ones
   that agree on at least :data:`KEEP_AGREEMENT` of the pilot cells either of them
   filled, with one match at least, are kept.

On every later document the kept functions run first on the passages the local model
would read: where they give a value and none of them disagrees, that is the cell (its
method ``"function"``), and the local model does not read; where they all abstain or
disagree with each other, the local model reads as usual. The functions and their
scores are saved in ``plan.json``, so a resumed run fits nothing again.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from minions import sandbox
from minions.chunking import Chunk
from minions.errors import ProtocolError
from minions.extract_fields import FieldSpec
from minions.extract_values import Cell, coerce, same
from minions.prompts import render
from minions.retrieval import rank_chunks
from minions.run import Run
from minions.types import Message

if TYPE_CHECKING:
    from minions.batch_inputs import BatchDocument, PageSelection
    from minions.clients import Client
    from minions.extract import ExtractRow, ExtractSettings, PlanFile, Reader

__all__ = ["FUNCTIONS_PER_FIELD", "KEEP_AGREEMENT", "FieldFunctions", "Functions", "Synthesizer"]

logger = logging.getLogger(__name__)

#: functions the remote is asked for per field
FUNCTIONS_PER_FIELD = 3
#: the least agreement with the local model on the pilot for a function to be kept
KEEP_AGREEMENT = 0.67
#: snippets per field the local model describes
DESCRIBED_SNIPPETS = 5
SANDBOX_TIMEOUT_S = 10.0


class FormatNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str


class FunctionCode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    functions: list[str]


class FieldFunctions(BaseModel):
    """What was fitted for one field (saved in ``plan.json``)."""

    model_config = ConfigDict(extra="forbid")

    format: str = ""
    functions: list[str] = []
    scores: list[float | None] = []
    kept: list[int] = []
    snippet_chars_sent: int = 0
    note: str = ""


_DEF = re.compile(r"^def\s+extract\s*\(", re.M)


def _program(functions: Sequence[str]) -> str:
    """The functions renamed ``extract_0``, ... and ``run_all(texts, metadata)``,
    which gives each function's value (a string or None) on each text."""
    renamed = [_DEF.sub(f"def extract_{i}(", code, count=1) for i, code in enumerate(functions)]
    names = ", ".join(f"extract_{i}" for i in range(len(functions)))
    runner = f"""
def run_all(texts, metadata):
    found = []
    for function in [{names}]:
        values = []
        for text in texts:
            try:
                value = function(text, metadata)
            except Exception:
                value = None
            values.append(None if value is None else str(value))
        found.append(values)
    return found
"""
    return "\n\n".join([*renamed, runner])


async def _apply(
    run: Run, functions: Sequence[str], texts: Sequence[str], metadata: Mapping[str, Any]
) -> list[list[str | None]]:
    """Each function's value on each text (None where it abstained or failed)."""
    if not functions or not texts:
        return [[None] * len(texts) for _ in functions]
    with run.timed("sandbox"):
        value = await sandbox.run_async(
            _program(functions),
            "run_all",
            {"texts": list(texts), "metadata": json.loads(json.dumps(metadata, default=str))},
            timeout_s=SANDBOX_TIMEOUT_S,
        )
    return [[v if isinstance(v, str) else None for v in row] for row in value]


def _first(values: Sequence[str | None]) -> tuple[int, str] | None:
    return next(((i, v) for i, v in enumerate(values) if v), None)


@dataclass
class Functions:
    """The kept functions of every field, run before the local model reads."""

    by_field: dict[str, list[str]]
    #: cells the functions answered in this process
    answered: int = 0

    async def answer(
        self,
        run: Run,
        spec: FieldSpec,
        hits: Sequence[Chunk],
        unit: str | None,
        metadata: Mapping[str, Any],
    ) -> Cell | None:
        """The cell the functions agree on over ``hits``, or None (the local reads)."""
        functions = self.by_field.get(spec.name) or []
        if not functions or not hits:
            return None
        try:
            table = await _apply(run, functions, [h.text for h in hits], metadata)
        except sandbox.SandboxError as exc:
            run.note(f"the {spec.name} functions failed ({exc}); the local model reads")
            return None
        found = []
        for values in table:
            first = _first(values)
            if first is not None and (value := coerce(spec, first[1], unit)) is not None:
                found.append((value, hits[first[0]]))
        if not found or any(not same(spec, found[0][0], v) for v, _ in found[1:]):
            return None  # all abstained, or they disagree
        pages = sorted({p for _, h in found for p in range(h.page_start, h.page_end + 1)})
        self.answered += 1
        return Cell(
            value=found[0][0],
            pages=pages,
            agreement=len(found) / len(functions),
            candidates=len(functions),
            non_null=len(found),
            method="function",
        )


class Synthesizer:
    """Fits the functions on the pilot rows (see the module)."""

    def __init__(
        self, settings: ExtractSettings, fields: Sequence[FieldSpec], local: Client, remote: Client
    ) -> None:
        self.settings, self.fields, self.local, self.remote = settings, list(fields), local, remote

    def restore(self, plan_file: PlanFile) -> Functions | None:
        """The functions fitted by an earlier run into the same folder, if any."""
        saved = plan_file.functions.get("fields")
        if saved is None:
            return None
        fitted = {name: FieldFunctions.model_validate(f) for name, f in saved.items()}
        return Functions({n: [f.functions[i] for i in f.kept] for n, f in fitted.items()})

    async def fit(
        self,
        plan_file: PlanFile,
        reader: Reader,
        pilot: Sequence[ExtractRow],
        docs: Sequence[BatchDocument],
        selection: PageSelection | None,
    ) -> Functions:
        """Fit every field's functions on ``pilot``, record them in ``plan_file``."""
        from minions.extract import _Extraction, _load

        by_id = {d.id: d for d in docs}
        loaded = {r.id: _load(by_id[r.id], selection) for r in pilot}
        documents = [d for d in loaded.values() if not isinstance(d, BaseException)]
        run = Run(
            _Extraction(self.settings),
            "synthesize extraction functions",
            documents,  # what the remote is sent is metered against them
            local=self.local,
            remote=self.remote,
            price_as=self.settings.price_as,
            privacy=self.settings.privacy,
        )
        fitted: dict[str, FieldFunctions] = {}

        async def body() -> None:
            for spec, plan in zip(self.fields, reader.plan, strict=True):
                fitted[spec.name] = await self._field(run, reader, spec, plan, pilot, by_id, loaded)

        result = await run.execute(body())
        plan_file.add(result)
        plan_file.review_chars_sent += sum(f.snippet_chars_sent for f in fitted.values())
        plan_file.functions = {
            "fields": {name: f.model_dump() for name, f in fitted.items()},
            "ngram_share_sent": result.privacy.ngram_share,
            "sensitive_sent": {k: v.sent for k, v in result.privacy.sensitive.items()},
        }
        for name, f in fitted.items():
            logger.info(
                "%s: kept %d of %d functions %s", name, len(f.kept), len(f.functions), f.scores
            )
        return Functions({n: [f.functions[i] for i in f.kept] for n, f in fitted.items()})

    async def _field(
        self,
        run: Run,
        reader: Reader,
        spec: FieldSpec,
        plan: Any,
        pilot: Sequence[ExtractRow],
        by_id: Mapping[str, BatchDocument],
        loaded: Mapping[str, Any],
    ) -> FieldFunctions:
        round_ = run.new_round()
        snippets = [
            c.quote
            for row in pilot
            for c in row.candidates.get(spec.name, [])
            if c.quote
            and c.verified
            and same(spec, coerce(spec, c.value, plan.unit), row.values.get(spec.name))
        ][:DESCRIBED_SNIPPETS]
        if not snippets:
            return FieldFunctions(note="no verified snippet in the pilot: nothing to fit on")
        shown = "\n".join(f"- {json.dumps(s)}" for s in snippets)
        try:
            described = await run.call_json(
                "local",
                [
                    Message.system(render("extract_describe_system")),
                    Message.user(
                        render(
                            "extract_describe",
                            name=spec.name,
                            type=spec.type,
                            task=plan.task,
                            snippets=shown,
                        )
                    ),
                ],
                FormatNote,
                purpose=f"describe {spec.name}",
                round=round_,
                attempts=2,
                **self.settings.options("local"),
            )
            keys = sorted({k for row in pilot for k in by_id[row.id].metadata})
            sent_snippets = (
                render("extract_functions_snippets", snippets=shown) if self.settings.review else ""
            )
            code = await run.call_json(
                "remote",
                [
                    Message.system(render("extract_functions_system")),
                    Message.user(
                        render(
                            "extract_functions",
                            name=spec.name,
                            type=spec.type,
                            description=spec.description or spec.name,
                            task=plan.task,
                            format=described.format,
                            snippets=sent_snippets,
                            count=FUNCTIONS_PER_FIELD,
                            keys=", ".join(keys) or "none",
                        )
                    ),
                ],
                FunctionCode,
                purpose=f"functions {spec.name}",
                round=round_,
                **self.settings.options("remote"),
            )
        except ProtocolError as exc:
            return FieldFunctions(note=f"no functions: {exc}")
        usable = []
        for source in code.functions[:FUNCTIONS_PER_FIELD]:
            try:
                sandbox.check_code(_program([source]))
                usable.append(source)
            except sandbox.SandboxError as exc:
                logger.info("%s: a function was rejected: %s", spec.name, exc)
        scores = await self._scores(run, reader, spec, plan, usable, pilot, by_id, loaded)
        kept = [i for i, s in enumerate(scores) if s is not None and s >= KEEP_AGREEMENT]
        return FieldFunctions(
            format=described.format,
            functions=usable,
            scores=scores,
            kept=kept,
            snippet_chars_sent=sum(map(len, snippets)) if self.settings.review else 0,
        )

    async def _scores(
        self,
        run: Run,
        reader: Reader,
        spec: FieldSpec,
        plan: Any,
        functions: Sequence[str],
        pilot: Sequence[ExtractRow],
        by_id: Mapping[str, BatchDocument],
        loaded: Mapping[str, Any],
    ) -> list[float | None]:
        """Each function's agreement with the local cells on the pilot, over the cells
        either filled (None: neither ever did); a function that never matches scores 0."""
        agree = [0] * len(functions)
        counted = [0] * len(functions)
        for row in pilot:
            document = loaded[row.id]
            if isinstance(document, BaseException):
                continue
            metadata = by_id[row.id].metadata
            chunks = reader.chunks(document)
            query = reader.query(spec, plan, metadata)
            hits = [h.chunk for h in rank_chunks(query, chunks, k=self.settings.top_k)]
            try:
                table = await _apply(run, functions, [h.text for h in hits], metadata)
            except sandbox.SandboxError as exc:
                logger.info("%s functions failed on %s: %s", spec.name, row.id, exc)
                continue
            truth = row.values.get(spec.name)
            for i, values in enumerate(table):
                first = _first(values)
                value = coerce(spec, first[1], plan.unit) if first else None
                if value is None and truth is None:
                    continue
                counted[i] += 1
                agree[i] += same(spec, value, truth)
        return [a / n if n else None for a, n in zip(agree, counted, strict=True)]
