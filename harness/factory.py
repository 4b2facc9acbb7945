"""The one place an agent is put together: spec + project -> a running agent with its model.

It applies the run's model overrides (once), opens a scenario's cassette for replay or recording, picks
the chat and embedding models that go with it (the replay models, or the live SDK clients inside a
recording), and creates or resumes the agent's persisted state, archival passages included. The live
clients and vcrpy are imported only when a recording or a live chat needs them.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from harness.agent import Agent, Journal
from harness.cassettes.mode import CassetteChange
from harness.cassettes.replay import ReplayCassette, ReplayChatModel, ReplayEmbeddingModel
from harness.cassettes.scrub import SecretSent
from harness.clock import RECORDED_RUN_CLOCK, SeededIds, ids_for, seed_random
from harness.config import AgentsConfig, AgentSpec, load_agents
from harness.errors import ConfigError
from harness.llm.chat import CallIds, ChatModel
from harness.llm.embeddings import EmbeddingModel, Vector
from harness.llm.settings import EmbeddingSettings, ModelSettings
from harness.loops.kinds import LoopName
from harness.memory import Memory
from harness.project import Project
from harness.recall import LazyRecall, RecallJournal
from harness.records import StepRecord
from harness.secrets import Secrets
from harness.tools.context import AgentState, steady_clock
from harness.yamlsource import dotted, load_yaml

if TYPE_CHECKING:
    import httpx2

    from harness.store import Store


def recorded_run_spec(spec: AgentSpec) -> AgentSpec:
    """The agent as a recorded or replayed run drives it: a Letta loop stamps every message with the time,
    so one without `clock:` runs on `RECORDED_RUN_CLOCK` (its ids seeded too) and its cassette replays."""
    if spec.clock is not None or spec.loop is LoopName.HARNESS:
        return spec
    return replace(spec, clock=RECORDED_RUN_CLOCK)


class Cassette(Protocol):
    """A scenario's cassette, open for replay or for recording."""

    path: Path

    @property
    def unplayed(self) -> list[int]: ...

    @property
    def recorded_with(self) -> dict[str, Any]: ...

    @property
    def change(self) -> CassetteChange | None:
        """What recording did to the file (None in replay, which never writes)."""

    @property
    def call_ids(self) -> CallIds: ...

    def note_recording(
        self, settings: ModelSettings, agent: dict[str, Any] | None = None, repeats: int | None = None
    ) -> None: ...

    def secrets_sent(self) -> list[SecretSent]:
        """The parts of the requests recorded since the last call that held a secret (never replayable)."""


class AgentFactory:
    def __init__(self, project: Project, config: AgentsConfig | None = None) -> None:
        self.project = project
        if config is not None:
            self.__dict__["config"] = config
        self._http_client: httpx2.Client | None = None
        self.learned_secrets: set[str] = set()  # credential header values endpoints answered with

    @cached_property
    def config(self) -> AgentsConfig:
        return load_agents(self.project.agents_file)

    def spec(self, name: str, max_steps: int | None = None) -> AgentSpec:
        """Agent `name` as this run needs it: the project's endpoint and model overrides applied."""
        spec = self.config.get(name)
        model = spec.model
        if self.project.base_url:
            model = replace(model, base_url=self.project.base_url)
        if self.project.model_name:
            model = replace(model, name=self.project.model_name)
        return replace(spec, model=model, max_steps=max_steps or spec.max_steps)

    def secrets(self) -> Secrets:
        """Every credential this run could send or has been sent, read now: the key variable of every agent
        (not only the ones a scenario uses: a cassette or report may hold what another agent echoed), the
        secret variables, what the agents' and the run's base URLs carry, and the values of credential
        headers endpoints have answered with while recording (cookies, organization ids)."""
        models: list[ModelSettings | EmbeddingSettings] = [spec.model for spec in self.config.agents.values()]
        models += [spec.embedding for spec in self.config.agents.values() if spec.embedding is not None]
        return Secrets.collect(
            names=[model.api_key_env for model in models],
            urls=[self.project.base_url, *(model.base_url for model in models)],
            values=self.learned_secrets,
        )

    @contextmanager
    def cassette(self, path: Path) -> Iterator[Cassette]:
        """`path` open for the project's record mode: replayed from its file, or recorded through vcrpy
        with this run's secrets masked."""
        if self.project.replaying:
            yield ReplayCassette(path, shown=self.project.relative(path))
            return
        from harness.cassettes.recording import RecordingSession

        with RecordingSession(path, self.project.record_mode, self.secrets(), self.learned_secrets).open() as session:
            yield session

    def seed_random(self, spec: AgentSpec, cassette: Path) -> None:
        """Seed Python's `random` for a run through `cassette` (a scenario's, a Python test's) from the
        agent's clock seed (0 without `clock:`) and the cassette's path under the cassette folder: the same
        numbers when recorded and replayed, from any checkout; a dataset row, a matrix model and each repeat
        (each its own cassette) draw their own. Call it inside `kept_random()`."""
        try:
            identity = cassette.relative_to(self.project.cassettes_dir).as_posix()
        except ValueError:  # not under the folder (a fixture's own path): its name
            identity = cassette.name
        seed_random(spec.clock.seed if spec.clock is not None else 0, identity)

    def chat_model(self, spec: AgentSpec, cassette: Cassette | None = None) -> ChatModel:
        if isinstance(cassette, ReplayCassette):
            return ReplayChatModel(spec.model, cassette)
        from harness.llm.openai_client import OpenAIChatModel

        return OpenAIChatModel(
            spec.model, http_client=self.http_client(), secrets=self.secrets(), learned=self.learned_secrets
        )

    def embedding_model(
        self, settings: EmbeddingSettings, cassette: Cassette | None = None, agent: str | None = None
    ) -> EmbeddingModel:
        """Archival memory's embeddings: from the cassette in replay; live (recorded by vcrpy inside a
        recording, like chat) otherwise, reached at the first text embedded: an agent whose run never
        inserts or searches a passage needs no key for its `embedding:` (an imported Agent File names one
        whatever its tools). A missing key names `agent` and where its `embedding:` is. The run's
        `--base-url` and `--model` overrides are the chat model's: they leave the embedding endpoint alone."""
        if isinstance(cassette, ReplayCassette):
            return ReplayEmbeddingModel(settings, cassette)

        def live() -> EmbeddingModel:
            from harness.llm.openai_client import OpenAIEmbeddingModel

            return OpenAIEmbeddingModel(
                settings,
                http_client=self.http_client(),
                secrets=self.secrets(),
                learned=self.learned_secrets,
                owner=None if agent is None else self._embedding_owner(agent),
            )

        return _FirstUse(live)

    def _embedding_owner(self, agent: str) -> str:
        """`agents.yaml:40: agents.a.embedding: agent 'a'`: where agent `agent`'s `embedding:` is written (its
        own, an agent's it extends, or `defaults:`), as a missing key's message starts."""
        config = self.config
        try:
            doc = load_yaml(config.path, ConfigError)
        except ConfigError:
            return f"{config.path}: agent '{agent}'"
        data: dict[str, Any] = doc.data if isinstance(doc.data, dict) else {}
        agents: dict[str, Any] = data["agents"] if isinstance(data.get("agents"), dict) else {}
        name: Any = agent
        seen: set[str] = set()
        loc: tuple[str, ...] = ("defaults", "embedding")
        while isinstance(name, str) and name not in seen and isinstance(agents.get(name), dict):
            seen.add(name)
            if "embedding" in agents[name]:
                loc = ("agents", name, "embedding")
                break
            name = agents[name].get("extends")
        line, _ = doc.locate(loc)
        return f"{config.path}{'' if line is None else f':{line}'}: {dotted(loc)}: agent '{agent}'"

    def archival(self, state: AgentState, spec: AgentSpec, cassette: Cassette | None, store: Store | None) -> None:
        """Give `state` its archival memory when the agent has an embedding model: in `store` (the state
        database of `harness chat`), else in a database in memory that lives as long as the agent (a
        scenario run: nothing reads its passages after it, and their texts are in the cassette)."""
        if spec.embedding is None:
            return
        from harness.store import Store

        if store is None:
            store = Store(":memory:", Secrets())
            store.create_agent(state.id, state.name, [])
        embedder = self.embedding_model(spec.embedding, cassette, spec.name)
        state.archival = store.passages(state.id, embedder, spec.embedding.name)

    def http_client(self) -> httpx2.Client:
        """One HTTP client for every live model: building the SDK's default one (TLS context, CA bundle)
        costs more than replaying a whole scenario. vcrpy intercepts it all the same. It follows no redirect:
        a recording keys each request by its URL, so one that was redirected would not replay (the endpoint
        says where the redirect points, see `_SDKEndpoint._post`). It reads at most `MAX_ANSWER_BYTES` of an
        answer, and nothing more of one that timed out (`BoundedTransport`)."""
        if self._http_client is None:
            from harness.llm.openai_client import bounded_client

            self._http_client = bounded_client(follow_redirects=False)
        return self._http_client

    def new_agent(
        self,
        spec: AgentSpec,
        *,
        cassette: Cassette | None = None,
        agent_id: str | None = None,
        blocks: dict[str, str] | None = None,
        store: Store | None = None,
        on_step: Callable[[StepRecord], None] | None = None,
        model: ChatModel | None = None,
        now: Callable[[], datetime] | None = None,
        history: list[dict[str, Any]] | None = None,
        ids_key: str | None = None,
    ) -> Agent:
        """A fresh agent (blocks as declared, `blocks` overriding values), persisted in `store` if given.
        `model` replaces the chat model the cassette (or the live endpoint) would give; `now`, when given,
        is the agent's clock for its tools and memory instead of the one its spec declares; `history` is the
        conversation it starts from (a scenario's `history:`, in place of the loop's own first messages), in
        its recall memory too. With a `clock:` and a store, the agent's seeded ids are its own, drawn under its
        name, or under `ids_key` for a second agent of one spec."""
        if cassette is not None:
            spec = recorded_run_spec(spec)
        ids = ids_for(spec.clock)
        if store is not None and spec.clock is not None:  # a database holds many agents: ids of this one's own
            ids = SeededIds(
                int.from_bytes(hashlib.sha256(f"{spec.clock.seed}/{ids_key or spec.name}".encode()).digest()[:8])
            )
        state = AgentState(agent_id or Agent.new_id(ids), spec.name, spec.new_memory(blocks, ids))
        journal: Journal
        if cassette is not None and spec.clock is None:  # the harness loop's, without `clock:`
            state.now = steady_clock()  # what the model reads of time replays as it was recorded
        if store is not None:
            store.create_agent(state.id, state.name, state.memory.get_blocks())
            store.use_clock(state.id, lambda: state.now())  # recall dates by the agent's clock, as in a scenario
            state.recall, journal = store.recall(state.id), store
        else:
            # No store (a scenario run): recall is indexed in memory, for the run.
            recall = LazyRecall(state.id)
            # The state's clock as the agent sets it (a frozen one when agents.yaml declares `clock:`).
            state.recall, journal = recall, RecallJournal(recall, lambda: state.now())
        if now is not None:
            state.now = now
        self.archival(state, spec, cassette, store)
        chat = model or self.chat_model(spec, cassette)
        call_ids = cassette.call_ids if cassette is not None else CallIds.PROVIDER
        agent = Agent(spec, chat, state=state, journal=journal, on_step=on_step, call_ids=call_ids, ids=ids)
        if history:
            # Letta 0.6 starts an agent given a message sequence from its system message and that sequence,
            # without its boot messages (append_initial_message_sequence_to_in_context_messages), and an
            # imported agent resumes from exactly its in-context messages.
            agent.start_from(copy.deepcopy(history))
            if store is None:
                recall.add(history, state.now())
        return agent

    def resume(self, spec: AgentSpec, store: Store, model: ChatModel | None = None) -> Agent:
        """The persisted agent named `spec.name`, resumed with its blocks and history, or a new one.

        What persisted wins over agents.yaml for blocks (they are the agent's memory), but a block declared
        since is added; the system prompt, model and tools always come from the current config.
        """
        agent_id = store.find_agent(spec.name)
        if agent_id is None:
            return self.new_agent(spec, store=store, model=model)
        persisted = store.get_core_memory(agent_id).get_blocks()
        labels = {block.label for block in persisted}
        declared_since = [block.new_block() for block in spec.blocks if block.label not in labels]
        if declared_since:
            store.add_blocks(agent_id, declared_since)
        state = AgentState(agent_id, spec.name, Memory([*persisted, *declared_since]), recall=store.recall(agent_id))
        store.use_clock(agent_id, lambda: state.now())
        self.archival(state, spec, None, store)
        # After a compaction, the context it left (its summary, then the messages kept and saved since), as
        # Letta resumes an agent from its in-context message ids.
        messages, summary, evicted = store.load_in_context(agent_id)
        agent = Agent(
            spec,
            model or self.chat_model(spec),
            state=state,
            # None when no turn was ever saved (the first message failed): the loop's first messages then
            # (Letta's boot sequence), persisted with the next user message, as for a new agent.
            messages=messages or None,
            turns=store.turns(agent_id),
            journal=store,
        )
        agent.summary_message = summary if messages and summary is messages[0] else None
        agent.evicted_messages = evicted
        return agent


class _FirstUse:
    """An embedding model made when the first text is embedded (see `AgentFactory.embedding_model`)."""

    def __init__(self, make: Callable[[], EmbeddingModel]) -> None:
        self._make = make
        self._model: EmbeddingModel | None = None

    def embed(self, texts: list[str]) -> list[Vector]:
        if self._model is None:
            self._model = self._make()
        return self._model.embed(texts)
