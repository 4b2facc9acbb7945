"""Scenario files: strict wire models (what users write), loaded into a plain runtime `Scenario`.

The wire models validate with located errors, like agents.yaml; nothing outside this module reads them:
the runner, the plugin and the reports see `Scenario`, its `Turn`s and their compiled checks.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pydantic

from harness.archival import Seed
from harness.errors import Problem, ScenarioError, in_line_order
from harness.memory import schema_problem
from harness.project import HISTORY_FOLDER
from harness.scenarios.checks import Evictions, ExpectCheck, ExpectWire, RefersTo, TurnExpectWire, compile_expect
from harness.scenarios.dataset import DATASET_KEY, rows_of
from harness.scenarios.history import HistoryWire, load_history
from harness.wire import NOT_BOOLEAN, JsonSchema, Shorthand, StrictModel, not_null_schema, validate_document
from harness.yamlsource import Loc, YamlDocument, load_yaml

BLOCK_CREATING_TOOL = "memory"  # Letta's path-based memory tool (its `create` command)


class SeedWire(Shorthand, StrictModel):
    """A passage put in archival memory before the first turn; a bare string is its text."""

    text: str = pydantic.Field(description="The passage's text")
    tags: list[str] = pydantic.Field(default_factory=list, description="Its tags")

    @pydantic.model_validator(mode="before")
    @classmethod
    def _text_shorthand(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value


def _expect_given(value: Any) -> Any:
    """`expect:` left empty (its last check commented out, say) checks nothing, and would pass; None is only
    the default of an `expect` not written."""
    if value is None:
        raise ValueError(
            "`expect:` left empty checks nothing (and would pass): give at least one check, or leave it out"
        )
    return value


class TurnWire(StrictModel):
    user: str = pydantic.Field(description="What the user says")
    expect: TurnExpectWire | None = pydantic.Field(
        None, description="Checks after this turn", json_schema_extra=not_null_schema
    )
    agent: str | None = pydantic.Field(
        None,
        description="Another agent that takes this turn (default: the scenario's `agent`), e.g. a sleep-time "
        "agent editing the blocks it shares with the main one",
    )

    _expect = pydantic.field_validator("expect", mode="before")(_expect_given)


def _ends_on_something(value: str) -> str:
    """Every reply contains "": the conversation ended after the first, whatever the agent said."""
    if not value:
        raise ValueError(
            '"" is in every reply, so the conversation would end after the first: give the text that ends it, '
            "or leave `stop_when` out"
        )
    return value


def _not_blank(what: str) -> Any:
    """A text that must say something: "" or blanks passed and ran (a model named "  ", a persona of nothing)."""

    def check(value: str) -> str:
        if not value.strip():
            raise ValueError(f"is {'empty' if not value else 'only blanks'}: give {what}")
        return value

    return pydantic.AfterValidator(check)


class SimulateWire(StrictModel):
    """A simulated user instead of scripted turns: a model plays the user, recorded like the agent."""

    persona: Annotated[str, _not_blank("who the simulated user is"), JsonSchema(pattern=r"\S")] = pydantic.Field(
        description="Who the simulated user is (how they talk, what they know)"
    )
    goal: Annotated[str, _not_blank("what the simulated user wants"), JsonSchema(pattern=r"\S")] = pydantic.Field(
        description="What they want from the agent; they stop once they have it"
    )
    max_turns: Annotated[int, pydantic.Field(ge=1, le=50), NOT_BOOLEAN] = pydantic.Field(
        5, description="Most user messages (default 5)"
    )
    stop_when: Annotated[str, pydantic.AfterValidator(_ends_on_something), JsonSchema(minLength=1)] | None = (
        pydantic.Field(None, description="End the conversation once a reply contains this")
    )
    first_message: str | None = pydantic.Field(
        None, description="The user's opening line (default: written by the model)"
    )
    model: str | None = pydantic.Field(None, description="The model playing the user (default: the agent's model)")


class ScenarioWire(StrictModel):
    model_config = pydantic.ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"oneOf": [{"required": ["turns"]}, {"required": ["simulate"]}]}
    )

    agent: str = pydantic.Field(description="The agent (a name in agents.yaml)")
    description: str | None = pydantic.Field(None, description="What this scenario shows (for people)")
    blocks: dict[str, str] | None = pydantic.Field(None, description="Initial block values, by label")
    archival: list[SeedWire] | None = pydantic.Field(
        None,
        description="Passages in archival memory before the first turn (text, or {text, tags}): embedded "
        "through the cassette, like every request (needs an agent with an `embedding:` model)",
    )
    max_steps: Annotated[int, pydantic.Field(ge=1), NOT_BOOLEAN] | None = pydantic.Field(
        None, description="Most model steps per user message (default: the agent's)"
    )
    turns: Annotated[list[TurnWire], pydantic.Field(min_length=1)] | None = pydantic.Field(
        None, description="User turns, in order (or `simulate`)"
    )
    simulate: SimulateWire | None = pydantic.Field(None, description="A simulated user instead of `turns`")
    expect: ExpectWire | None = pydantic.Field(
        None, description="Checks after the last turn, over the whole run", json_schema_extra=not_null_schema
    )
    xfail: Annotated[str, pydantic.Field(min_length=1), JsonSchema(pattern=r"\S")] | None = pydantic.Field(
        None,
        description="This scenario documents a misbehaviour: it is expected to fail, for this reason",
        json_schema_extra=not_null_schema,
    )
    cassette: str | None = pydantic.Field(None, description="Cassette path, relative to the cassette folder")
    history: HistoryWire | None = pydantic.Field(
        None,
        description="A conversation the agent has in context before the first turn: chat messages (user, "
        "assistant with tool_calls, tool), or a file of them beside this one ({messages: [...]})",
    )
    tool_results: dict[str, str | Annotated[list[str], pydantic.Field(min_length=1)]] | None = pydantic.Field(
        None,
        description="What tools declared by a JSON schema alone return, by tool name: one text for every call, "
        "or a list, one per call in order",
    )
    dataset: str | None = pydantic.Field(
        None,
        description="A JSON Lines file (beside this one): the file is a template, one scenario a row; strings "
        "name a row's fields as {field}",
    )
    models: (
        Annotated[
            list[Annotated[str, _not_blank("the model's name"), JsonSchema(minLength=1, pattern=r"\S")]],
            pydantic.Field(min_length=1),
            JsonSchema(uniqueItems=True),
        ]
        | None
    ) = pydantic.Field(
        None,
        description="A model matrix: the scenario runs once per model (replacing the agent's model name), "
        "each with its own cassette (<name>@<model>.yaml)",
    )

    _expect = pydantic.field_validator("expect", mode="before")(_expect_given)

    @pydantic.field_validator("xfail", mode="before")
    @classmethod
    def _xfail_reason(cls, value: Any) -> Any:
        """`xfail:` left empty was read as no xfail at all (and `''` or blanks printed "expected to fail ()")."""
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValueError("give the reason this scenario is expected to fail (the misbehaviour it documents)")
        return value

    @pydantic.field_validator("models")
    @classmethod
    def _distinct_models(cls, models: list[str] | None) -> list[str] | None:
        """Each model gets a cassette named after it: two names that give one file name are a mistake."""
        seen: dict[str, str] = {}
        for model in models or []:
            slug = model_slug(model)
            if slug in seen:
                same = "is listed twice" if seen[slug] == model else f"and '{seen[slug]}' share one cassette name"
                raise ValueError(f"model '{model}' {same} ({slug})")
            seen[slug] = model
        return models

    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _turns_or_simulate(cls, data: Any, handler: pydantic.ValidatorFunctionWrapHandler) -> ScenarioWire:
        """`turns` is required unless `simulate` is given, reported with the file's other mistakes."""
        missing = isinstance(data, dict) and "turns" not in data and "simulate" not in data
        try:
            model: ScenarioWire = handler(data)
        except pydantic.ValidationError as exc:
            if not missing:
                raise
            details: list[Any] = [
                {"type": e["type"], "loc": e["loc"], "input": e["input"], **({"ctx": e["ctx"]} if "ctx" in e else {})}
                for e in exc.errors()
            ]
            raise pydantic.ValidationError.from_exception_data(
                exc.title, [*details, {"type": "missing", "loc": ("turns",), "input": data}]
            ) from None
        if missing:
            raise pydantic.ValidationError.from_exception_data(
                cls.__name__, [{"type": "missing", "loc": ("turns",), "input": data}]
            )
        if model.turns is not None and model.simulate is not None:
            raise ValueError("give `turns` (scripted user messages) or `simulate` (a simulated user), not both")
        return model


@dataclass(frozen=True)
class Simulation:
    persona: str
    goal: str
    max_turns: int = 5
    stop_when: str | None = None
    first_message: str | None = None
    model: str | None = None


@dataclass(frozen=True)
class Turn:
    index: int
    user: str
    checks: tuple[ExpectCheck, ...] = ()
    agent: str | None = None  # another agent that takes this turn; None: the scenario's


@dataclass(frozen=True)
class Scenario:
    path: Path
    name: str
    agent: str
    turns: tuple[Turn, ...]
    checks: tuple[ExpectCheck, ...] = ()  # the final `expect:`, over the whole run
    description: str | None = None
    blocks: dict[str, str] = field(default_factory=dict)  # initial values, by label
    archival: tuple[Seed, ...] = ()  # passages in archival memory before the first turn
    max_steps: int | None = None
    xfail: str | None = None  # why this scenario is expected to fail
    cassette: str | None = None  # relative to the cassette folder
    doc: YamlDocument | None = None
    simulate: Simulation | None = None  # a simulated user writes the turns
    row: str | None = None  # the dataset row this scenario was made from (its id)
    dataset: Path | None = None  # the JSON Lines file that row is read from
    row_line: str | None = None  # where that row is, as a message names it: `rows.jsonl:3`
    tool_results: dict[str, str | tuple[str, ...]] = field(default_factory=dict)  # declared tools' results
    history: tuple[dict[str, Any], ...] = ()  # chat messages in context before the first turn
    models: tuple[str, ...] = ()  # the file's model matrix
    model: str | None = None  # the matrix model this scenario runs (replaces the agent's model name)

    def line(self, loc: Loc) -> int | None:
        return self.doc.locate(loc)[0] if self.doc is not None else None

    def problem(self, loc: Loc, message: str) -> Problem:
        if self.doc is None:
            return Problem(str(self.path), None, None, "", message)
        return self.doc.problem(loc, message)

    @property
    def all_checks(self) -> Iterable[ExpectCheck]:
        for turn in self.turns:
            yield from turn.checks
        yield from self.checks

    def agent_of(self, turn: Turn) -> str:
        return turn.agent or self.agent

    @property
    def agents(self) -> list[str]:
        """Every agent the scenario drives: its own first, then the others in the order they first speak."""
        return list(dict.fromkeys([self.agent, *(self.agent_of(turn) for turn in self.turns)]))

    def checks_of(self, agent: str) -> Iterable[ExpectCheck]:
        """The checks that look at `agent`: its turns', and the final ones for the scenario's own agent."""
        for turn in self.turns:
            if self.agent_of(turn) == agent:
                yield from turn.checks
        if agent == self.agent:
            yield from self.checks


def load_scenario(path: Path, name: str | None = None) -> Scenario:
    scenario, problems = load_scenario_partially(path, name)
    if problems or scenario is None:
        raise ScenarioError(problems)
    return scenario


def load_scenarios_partially(path: Path) -> tuple[list[Scenario], list[Problem]]:
    """The scenarios of a file (one, or one per row of its `dataset`) and the problems found; see
    `load_scenario_partially` for what an invalid file still gives."""
    try:
        doc = load_yaml(path, ScenarioError)
    except ScenarioError as exc:
        return [], exc.problems
    if not (isinstance(doc.data, dict) and DATASET_KEY in doc.data):
        scenario, problems = _from_doc(path, None, doc)
        return ([] if scenario is None else list(_per_model(scenario))), in_line_order(problems)
    rows, problems = rows_of(doc)
    given = doc.data[DATASET_KEY]
    dataset = path.parent / given if rows and isinstance(given, str) else None
    scenarios: list[Scenario] = []
    template: list[Problem] | None = None  # the template's own problems, its fields unfilled
    placeholders: dict[tuple[str, int | None, int | None, str], Problem] = {}  # `max_steps: "{n}"`, by place
    for row_id, where, row_doc in rows:
        scenario, found = _from_doc(path, f"{path.stem}[{row_id}]", row_doc)
        if found and template is None:
            template = _from_doc(path, None, doc)[1]
            placeholders = _placeholders_where_text_cannot_go(template)
        # A problem the unfilled template has too is the template's, told once; another one, what this row
        # filled in made (a `matches:` pattern with an unclosed parenthesis), names the row.
        found = [
            placeholders.get((problem.file, problem.line, problem.column, problem.key))
            or (
                problem
                if problem in (template or ())
                else dataclasses.replace(problem, message=f"{where}: {problem.message}")
            )
            for problem in found
        ]
        problems += [problem for problem in found if problem not in problems]
        if scenario is not None:
            scenarios += _per_model(dataclasses.replace(scenario, row=row_id, dataset=dataset, row_line=where))
    return scenarios, in_line_order(problems)


# The unfilled template's type mistake at a placeholder: `max_steps: "{n}"` is "expected an integer, not the
# text '{n}'" (a placeholder fills in text; unquoted, `{n}` is a YAML mapping).
_PLACEHOLDER_NOT_TEXT = re.compile(r"expected (?P<wanted>.+?), not the text '.*\{[A-Za-z_][A-Za-z0-9_]*\}.*'")


def _placeholders_where_text_cannot_go(
    template: list[Problem],
) -> dict[tuple[str, int | None, int | None, str], Problem]:
    """The places of a template where a placeholder stands for a number or a boolean, and the one message
    told for every row there: a row's field is filled in as text, which such a key refuses (its message
    said "not the text '3': write it without quotes", which the template cannot)."""
    out = {}
    for problem in template:
        match = _PLACEHOLDER_NOT_TEXT.match(problem.message)
        if match:
            wanted = match["wanted"]
            out[(problem.file, problem.line, problem.column, problem.key)] = dataclasses.replace(
                problem,
                message=f"a placeholder cannot stand for {wanted}: a dataset row's field is filled in as text, "
                f"and {problem.key} takes {wanted} written without quotes; write the value itself",
            )
    return out


def _per_model(scenario: Scenario) -> Iterable[Scenario]:
    """The scenario once per model of its matrix (itself when it has none)."""
    if not scenario.models:
        yield scenario
    for model in scenario.models:
        yield dataclasses.replace(scenario, model=model)


def model_slug(model: str) -> str:
    """A model name as it appears in a cassette's file name: `meta/llama:3b` -> `meta_llama_3b`."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", model)


def load_scenario_partially(path: Path, name: str | None = None) -> tuple[Scenario | None, list[Problem]]:
    """The scenario and its problems. When the file is invalid, the scenario holds the parts that are
    valid on their own (the agent, blocks, the valid turns), so `harness validate` can check those against
    the agents file in the same run; None when even that cannot be told."""
    try:
        doc = load_yaml(path, ScenarioError)
    except ScenarioError as exc:
        return None, exc.problems
    return _from_doc(path, name, doc)


def _from_doc(path: Path, name: str | None, doc: YamlDocument) -> tuple[Scenario | None, list[Problem]]:
    data = doc.data
    if isinstance(data, dict) and "messages" in data and not {"agent", "turns", "simulate"} & data.keys():
        message = (
            f"a history file (`messages:`), not a scenario: a scenario starts from it with `history:`; keep it "
            f"in a `{HISTORY_FOLDER}/` folder, which scenario discovery and the pytest plugin skip"
        )
        return None, [doc.problem(("messages",), message)]
    wire, problems = validate_document(ScenarioWire, doc)
    if wire is None:
        return _salvage(path, name, doc), problems
    scenario = _scenario(path, name, doc, wire)
    problems = _turns_named(scenario)
    if wire.history is not None:
        history, found = load_history(wire.history, doc)
        problems += found
        scenario = dataclasses.replace(scenario, history=history)
    return scenario, problems


def _turns_named(scenario: Scenario) -> list[Problem]:
    """`evictions: {turns: [...]}` naming a turn the scenario never plays (or, in a turn's `expect:`, another
    turn than that one, whose evictions it does not see): it could only fail, and only once run."""
    last = scenario.simulate.max_turns if scenario.simulate is not None else len(scenario.turns)
    problems = []
    for turn, checks in [*((turn.index, turn.checks) for turn in scenario.turns), (None, scenario.checks)]:
        for check in checks:
            if not isinstance(check, Evictions) or check.value.turns is None:
                continue
            for index, number in enumerate(check.value.turns):
                if turn is not None and number != turn + 1:
                    message = f"turn {number}: a turn's `expect:` sees its own evictions only (turn {turn + 1}'s)"
                elif number > last:
                    message = f"turn {number}: the scenario has {last} turn(s)"
                else:
                    continue
                problems.append(scenario.problem((*check.loc, "turns", index), message))
    return problems


def _salvage(path: Path, name: str | None, doc: YamlDocument) -> Scenario | None:
    data = doc.data
    if not isinstance(data, dict) or not isinstance(data.get("agent"), str):
        return None
    blocks = data.get("blocks")
    turns = []
    raw_turns = data.get("turns")
    for index, raw in enumerate(raw_turns if isinstance(raw_turns, list) else []):
        try:
            turn = TurnWire.model_validate(raw)
        except pydantic.ValidationError:
            continue
        turns.append(Turn(index, turn.user, compile_expect(turn.expect, ("turns", index, "expect")), turn.agent))
    try:
        checks = compile_expect(ExpectWire.model_validate(data["expect"]), ("expect",)) if data.get("expect") else ()
    except pydantic.ValidationError:
        checks = ()
    valid_blocks = isinstance(blocks, dict) and all(isinstance(v, str) for v in blocks.values())
    return Scenario(
        path=path,
        name=name or path.stem,
        agent=data["agent"],
        turns=tuple(turns),
        checks=checks,
        blocks={str(k): v for k, v in blocks.items()} if valid_blocks and isinstance(blocks, dict) else {},
        doc=doc,
    )


def _scenario(path: Path, name: str | None, doc: YamlDocument, wire: ScenarioWire) -> Scenario:
    return Scenario(
        path=path,
        name=name or path.stem,
        agent=wire.agent,
        turns=tuple(
            Turn(i, turn.user, compile_expect(turn.expect, ("turns", i, "expect")), turn.agent)
            for i, turn in enumerate(wire.turns or [])
        ),
        checks=compile_expect(wire.expect, ("expect",)),
        description=wire.description,
        blocks=dict(wire.blocks or {}),
        archival=tuple(Seed(seed.text, tuple(seed.tags)) for seed in wire.archival or ()),
        max_steps=wire.max_steps,
        xfail=wire.xfail,
        cassette=wire.cassette,
        doc=doc,
        simulate=Simulation(**wire.simulate.model_dump()) if wire.simulate is not None else None,
        tool_results={
            name: value if isinstance(value, str) else tuple(value) for name, value in (wire.tool_results or {}).items()
        },
        models=tuple(wire.models or ()),
    )


def check_against_agent(
    scenario: Scenario,
    labels: list[str],
    agent_names: list[str],
    tools: list[str] | None = None,
    *,
    limits: Mapping[str, int] | None = None,
    parameters: Mapping[str, Collection[str]] | None = None,
    schemas: Mapping[str, dict[str, Any]] | None = None,
    agent: str | None = None,
    archival: bool | None = None,
    context_window: bool | None = None,
    tool_rules: bool | None = None,
    memory_warning: bool | None = None,
) -> None:
    """Catch references to agents, blocks, tools and tool arguments that do not exist, and initial block
    values over their block's limit, before anything runs (a ScenarioError with every problem).
    `limits` (label -> limit) and `parameters` (tool -> argument names) are checked when given, and so are
    the features checks need: `archival` (an embedding model), `context_window` (context pressure: warnings,
    evictions, summaries) and `tool_rules` (whether the agent has any). The facts are `agent`'s
    (default: the scenario's own), and the checks looked at are those of its turns."""
    problems = scenario_problems(
        scenario,
        labels,
        agent_names,
        tools,
        limits=limits,
        parameters=parameters,
        schemas=schemas,
        agent=agent,
        archival=archival,
        context_window=context_window,
        tool_rules=tool_rules,
        memory_warning=memory_warning,
    )
    if problems:
        raise ScenarioError(problems)


def scenario_problems(
    scenario: Scenario,
    labels: list[str],
    agent_names: list[str],
    tools: list[str] | None = None,
    *,
    limits: Mapping[str, int] | None = None,
    parameters: Mapping[str, Collection[str]] | None = None,
    schemas: Mapping[str, dict[str, Any]] | None = None,
    agent: str | None = None,
    archival: bool | None = None,
    context_window: bool | None = None,
    tool_rules: bool | None = None,
    memory_warning: bool | None = None,
) -> list[Problem]:
    name = agent or scenario.agent
    if name not in agent_names:
        defined = ", ".join(agent_names)
        if name == scenario.agent:
            return [scenario.problem(("agent",), f"no agent named '{name}'; defined: {defined}")]
        return [
            scenario.problem(("turns", turn.index, "agent"), f"no agent named '{name}'; defined: {defined}")
            for turn in scenario.turns
            if turn.agent == name
        ]
    known = ", ".join(labels)
    problems: list[Problem] = []
    no_archival = f"agent '{name}' has no archival memory: give it an `embedding:` model in the agents file"
    if scenario.archival and archival is False and name == scenario.agent:
        problems.append(scenario.problem(("archival",), no_archival))
    for label, value in scenario.blocks.items() if name == scenario.agent else ():
        if label not in labels:
            message = f"agent '{name}' has no block '{label}'; its blocks: {known}"
            problems.append(scenario.problem(("blocks", label), message))
        elif limits is not None and label in limits and len(value) > limits[label]:
            message = (
                f"the initial value of block '{label}' has {len(value)} characters, over the block's limit of "
                f"{limits[label]}: shorten it, or raise the block's `limit` in the agents file"
            )
            problems.append(scenario.problem(("blocks", label), message))
        elif schemas is not None and label in schemas:
            mismatch = schema_problem(schemas[label], value)
            if mismatch is not None:
                message = f"the initial value of block '{label}' does not match the block's `schema`: {mismatch}"
                problems.append(scenario.problem(("blocks", label), message))
    # An agent with the path-based `memory` tool can create blocks: a check may name one it will create.
    creates_blocks = tools is not None and BLOCK_CREATING_TOOL in tools
    for check in scenario.checks_of(name):
        for ref in check.references():
            if ref.kind == RefersTo.ARCHIVAL and archival is False:
                problems.append(scenario.problem(ref.loc, no_archival))
            elif ref.kind in (RefersTo.CONTEXT_WINDOW, RefersTo.MEMORY_WARNING) and context_window is False:
                message = (
                    f"agent '{name}' has no `context_window`, so no warning, eviction or summary ever happens "
                    "(this check could never fail, or never pass): give it one in the agents file"
                )
                problems.append(scenario.problem(ref.loc, message))
            elif ref.kind == RefersTo.MEMORY_WARNING and memory_warning is False:
                message = (
                    f"agent '{name}' is never warned of memory pressure (this check could never fail, or never "
                    "pass): give it `memory_warning: true` in the agents file (off by default, as in Letta)"
                )
                problems.append(scenario.problem(ref.loc, message))
            elif ref.kind == RefersTo.TOOL_RULES and tool_rules is False:
                message = (
                    f"agent '{name}' has no `tool_rules`: they never refuse a call or narrow what is offered; "
                    "give it some in the agents file"
                )
                problems.append(scenario.problem(ref.loc, message))
            elif ref.kind == RefersTo.BLOCK and ref.name not in labels and not creates_blocks:
                message = f"agent '{name}' has no block '{ref.name}'; its blocks: {known}"
                problems.append(scenario.problem(ref.loc, message))
            elif ref.kind == RefersTo.TOOL and tools is not None and ref.name not in tools:
                message = f"agent '{name}' has no tool '{ref.name}'; its tools: {', '.join(tools)}"
                problems.append(scenario.problem(ref.loc, message))
            elif (
                ref.kind == RefersTo.ARGUMENT
                and parameters is not None
                and ref.tool is not None
                and ref.tool in parameters
            ):
                names = sorted(parameters[ref.tool])
                if ref.name not in names:
                    close = difflib.get_close_matches(ref.name, names, n=1)
                    hint = f"did you mean '{close[0]}'? " if close else ""
                    message = f"tool '{ref.tool}' has no argument '{ref.name}'; {hint}its arguments: {', '.join(names)}"
                    problems.append(scenario.problem(ref.loc, message))
    return problems
