"""A small builder over LangGraph's ``StateGraph``.

Nodes are mnemos agents, plain functions ``(state) -> update`` (or
``(state, config) -> update``), LangChain runnables, compiled LangGraph graphs
or other builders (run as subgraphs). The builder records the shape, checks it
with :mod:`mnemos.graphs.topology`, and :meth:`GraphBuilder.compile` returns
LangGraph's own ``CompiledStateGraph``: nothing is hidden.

>>> g = GraphBuilder(name="review")
>>> g.sequence(research, write).approval(after=write, on_reject=write)
>>> graph = g.compile(checkpointer=sqlite_checkpointer())

Two conveniences at compile time: if nothing leaves ``START`` the first node
added is the entry, and a node with no outgoing edge ends the run (an edge to
``END`` is added for it).
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, NotRequired, TypedDict, get_type_hints

from langchain_core.messages import AnyMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from mnemos.exceptions import UsageError
from mnemos.graphs.approval import approval_node
from mnemos.graphs.supervisor import ROUTE_KEY, Supervisor, merge_routes, supervisor_node
from mnemos.graphs.topology import TopologyReport, analyze, check_topology
from mnemos.memory_adapters.base import BaseMemoryAdapter
from mnemos.memory_adapters.store import MnemosStore

__all__ = ["END", "START", "GraphBuilder", "GraphState", "NodeLike"]

NodeLike = Any
"""An agent, a callable, a runnable, a compiled graph, or a :class:`GraphBuilder`."""


class GraphState(TypedDict):
    """The default state: the conversation, plus what agents report about memory.

    ``messages`` merges by message id (LangGraph's ``add_messages``);
    ``memory_trace`` collects the recall/write records agents return.
    """

    messages: Annotated[list[AnyMessage], add_messages]
    memory_trace: NotRequired[Annotated[list[dict[str, Any]], operator.add]]


@dataclass
class _Node:
    name: str
    action: Any
    source: Any
    destinations: tuple[str, ...] | None = None
    input_schema: type[Any] | None = None


@dataclass
class _Route:
    source: str
    router: Callable[..., Any]
    path_map: dict[Hashable, str] | list[str] | None


@dataclass
class _Shape:
    nodes: dict[str, _Node] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    joins: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    routes: list[_Route] = field(default_factory=list)


class GraphBuilder:
    """Declare a graph of agents and functions; compile it into LangGraph.

    Every method returns the builder, so calls chain. Nodes may be given as
    objects (added on first use, named after ``.name`` or ``__name__``) or as
    the names of nodes already added.
    """

    def __init__(self, state_schema: type[Any] | None = None, *, name: str = "graph") -> None:
        self.name = name
        self.state_schema: type[Any] = state_schema or GraphState
        self._shape = _Shape()
        self._by_object: dict[int, str] = {}

    # -- nodes ---------------------------------------------------------------------

    @property
    def nodes(self) -> tuple[str, ...]:
        """Node names, in the order they were added."""
        return tuple(self._shape.nodes)

    def node(
        self,
        node: NodeLike,
        *,
        name: str | None = None,
        destinations: Sequence[str] | None = None,
        input_schema: type[Any] | None = None,
    ) -> GraphBuilder:
        """Add a node. ``destinations`` declares where a node returning
        ``Command(goto=...)`` may go (for the topology check and drawings)."""
        self._add(node, name=name, destinations=destinations, input_schema=input_schema)
        return self

    def subgraph(self, graph: NodeLike, *, name: str | None = None) -> GraphBuilder:
        """Add a compiled graph or a builder as one node (it shares the parent's checkpointer)."""
        if not isinstance(graph, (GraphBuilder, CompiledStateGraph)):
            raise UsageError(
                f"a subgraph is a GraphBuilder or a compiled graph, not {type(graph).__name__}"
            )
        return self.node(graph, name=name)

    # -- edges ---------------------------------------------------------------------

    def edge(self, source: NodeLike, target: NodeLike) -> GraphBuilder:
        """An edge ``source → target``; ``START`` and ``END`` are allowed."""
        src, dst = self._ref(source), self._ref(target)
        if src == END:
            raise UsageError("END cannot be the source of an edge")
        if dst == START:
            raise UsageError("START cannot be the target of an edge")
        self._shape.edges.append((src, dst))
        return self

    def entry(self, node: NodeLike) -> GraphBuilder:
        """Where the run starts (``START → node``)."""
        return self.edge(START, node)

    def finish(self, *nodes: NodeLike) -> GraphBuilder:
        """Nodes after which the run ends (``node → END``)."""
        for node in nodes:
            self.edge(node, END)
        return self

    def sequence(self, *nodes: NodeLike) -> GraphBuilder:
        """Chain nodes one after another; the first becomes the entry if there is none."""
        if not nodes:
            raise UsageError("a sequence needs at least one node")
        names = [self._ref(n) for n in nodes]
        for src, dst in itertools.pairwise(names):
            self.edge(src, dst)
        return self

    def route(
        self,
        source: NodeLike,
        router: Callable[..., Any],
        destinations: Sequence[NodeLike] | Mapping[Hashable, NodeLike] | None = None,
    ) -> GraphBuilder:
        """Conditional routing: after ``source``, ``router(state)`` names the next node(s).

        ``destinations`` lists the nodes the router may return (or maps its
        return values to nodes). It can be left out when the router's return
        annotation is a ``Literal``; otherwise the topology check cannot see
        where the router goes and warns. A router may also return a list of
        ``Send`` objects to fan out over items (map-reduce).
        """
        src = self._ref(source)
        path_map: dict[Hashable, str] | list[str] | None
        if destinations is None:
            path_map = None
        elif isinstance(destinations, Mapping):
            path_map = {key: self._ref(value) for key, value in destinations.items()}
        else:
            path_map = [self._ref(value) for value in destinations]
        self._shape.routes.append(_Route(src, router, path_map))
        return self

    def parallel(
        self,
        source: NodeLike,
        branches: Sequence[NodeLike],
        *,
        join: NodeLike | None = None,
    ) -> GraphBuilder:
        """Fan out from ``source`` to every branch at once; ``join`` runs after all finish."""
        if len(branches) < 2:
            raise UsageError("parallel() needs at least two branches")
        src = self._ref(source)
        names = [self._ref(b) for b in branches]
        if len(set(names)) != len(names):
            raise UsageError(f"parallel branches must be distinct nodes: {names}")
        for name in names:
            self.edge(src, name)
        if join is not None:
            self._shape.joins.append((tuple(names), self._ref(join)))
        return self

    # -- patterns --------------------------------------------------------------------

    def supervisor(
        self,
        workers: Sequence[NodeLike],
        *,
        supervisor: Supervisor | None = None,
        finish: NodeLike = END,
        entry: bool = True,
    ) -> GraphBuilder:
        """A supervisor that sends the work to one worker at a time until it says FINISH.

        Each worker reports back to the supervisor. The default
        :class:`Supervisor` follows the workers in the order given; pass one
        with a model (structured output) or a routing function to decide
        otherwise. It stops after ``max_turns`` worker turns at the latest,
        then goes to ``finish`` (``END`` by default, or e.g. an approval node).
        """
        if not workers:
            raise UsageError("a supervisor needs at least one worker")
        sup = supervisor or Supervisor()
        worker_names = [self._ref(w) for w in workers]
        if sup.name in worker_names:
            raise UsageError(f"the supervisor and a worker are both named {sup.name!r}")
        finish_name = self._ref(finish)
        descriptions = {
            name: str(getattr(self._shape.nodes[name].source, "description", "") or "")
            for name in worker_names
        }
        action = supervisor_node(sup, descriptions, finish_name)
        self._add(
            action,
            name=sup.name,
            destinations=(*worker_names, finish_name),
            input_schema=self._with_route_channel(),
            source=sup,
        )
        if entry:
            self.edge(START, sup.name)
        for name in worker_names:
            self.edge(name, sup.name)
        return self

    def approval(
        self,
        name: str = "approval",
        *,
        after: NodeLike | None = None,
        question: str = "Approve this result?",
        on_approve: NodeLike = END,
        on_reject: NodeLike | None = None,
        draft_from: NodeLike | None = None,
    ) -> GraphBuilder:
        """A human approval step, paused with LangGraph's ``interrupt()``.

        The run stops with an interrupt carrying ``question`` and the latest
        draft; resume it with ``Command(resume=answer)``. ``True``, ``"yes"``,
        ``"approve"`` (or ``{"approved": True}``) go to ``on_approve``; anything
        else rejects, and the answer's text is added to the conversation as
        feedback before going to ``on_reject`` (``END`` if not given). The draft
        shown is the newest AI message, or the newest by ``draft_from``. Needs a
        checkpointer.
        """
        approve_to = self._ref(on_approve)
        reject_to = self._ref(on_reject) if on_reject is not None else END
        author = self._ref(draft_from) if draft_from is not None else None
        action = approval_node(name, question, approve_to, reject_to, author)
        self._add(
            action,
            name=name,
            destinations=tuple(dict.fromkeys((approve_to, reject_to))),
            source=action,
        )
        if after is not None:
            self.edge(after, name)
        return self

    # -- output ------------------------------------------------------------------------

    def state_graph(self) -> StateGraph[Any]:
        """A fresh LangGraph ``StateGraph`` of this shape (implicit entry and ends added)."""
        shape = self._shape
        if not shape.nodes:
            raise UsageError(f"graph {self.name!r} has no nodes")
        graph: StateGraph[Any] = StateGraph(self.state_schema)
        for node in shape.nodes.values():
            kwargs: dict[str, Any] = {}
            if node.destinations is not None:
                kwargs["destinations"] = node.destinations
            if node.input_schema is not None:
                kwargs["input_schema"] = node.input_schema
            graph.add_node(node.name, node.action, **kwargs)
        for src, dst in dict.fromkeys(shape.edges):
            graph.add_edge(src, dst)
        for starts, dst in shape.joins:
            graph.add_edge(list(starts), dst)
        for r in shape.routes:
            graph.add_conditional_edges(r.source, r.router, r.path_map)  # type: ignore[arg-type]
        sources = {s for s, _ in shape.edges} | {r.source for r in shape.routes}
        sources |= {s for starts, _ in shape.joins for s in starts}
        if START not in sources:
            graph.add_edge(START, next(iter(shape.nodes)))
        for node in shape.nodes.values():
            if node.name not in sources and not node.destinations:
                graph.add_edge(node.name, END)
        return graph

    def check(self) -> TopologyReport:
        """The topology report (see :func:`mnemos.graphs.topology.analyze`)."""
        return analyze(self.state_graph())

    def compile(
        self,
        checkpointer: BaseCheckpointSaver[Any] | bool | None = None,
        *,
        store: BaseStore | BaseMemoryAdapter | None = None,
        check: bool = True,
        interrupt_before: Sequence[str] | None = None,
        interrupt_after: Sequence[str] | None = None,
        debug: bool = False,
    ) -> CompiledStateGraph[Any, Any, Any, Any]:
        """Check the topology (errors raise, warnings warn) and compile with LangGraph.

        ``store`` is a LangGraph store, or a mnemos memory adapter (used through
        :class:`~mnemos.memory_adapters.store.MnemosStore`).
        """
        if isinstance(store, BaseMemoryAdapter):
            store = MnemosStore(store)
        graph = self.state_graph()
        if check:
            check_topology(graph, name=self.name)
        return graph.compile(
            checkpointer=checkpointer,
            store=store,
            interrupt_before=list(interrupt_before) if interrupt_before else None,
            interrupt_after=list(interrupt_after) if interrupt_after else None,
            debug=debug,
            name=self.name,
        )

    # -- helpers -------------------------------------------------------------------------

    def _ref(self, node: NodeLike) -> str:
        if isinstance(node, str):
            if node in (START, END) or node in self._shape.nodes:
                return node
            raise UsageError(
                f"no node named {node!r} in graph {self.name!r}; "
                f"known: {', '.join(self._shape.nodes) or 'none'}"
            )
        known = self._by_object.get(id(node))
        if known is not None:
            return known
        return self._add(node)

    def _add(
        self,
        node: NodeLike,
        *,
        name: str | None = None,
        destinations: Sequence[str] | None = None,
        input_schema: type[Any] | None = None,
        source: Any = None,
    ) -> str:
        node_name = name or _infer_name(node)
        if node_name in (START, END):
            raise UsageError(f"{node_name!r} is reserved for the graph's start and end")
        if node_name in self._shape.nodes:
            raise UsageError(
                f"graph {self.name!r} already has a node named {node_name!r}; pass name=..."
            )
        dests = None
        if destinations is not None:
            dests = tuple(d if d in (END,) else self._ref(d) for d in destinations)
        self._shape.nodes[node_name] = _Node(
            name=node_name,
            action=_as_action(node),
            source=source if source is not None else node,
            destinations=dests,
            input_schema=input_schema,
        )
        self._by_object[id(node)] = node_name
        return node_name

    def _with_route_channel(self) -> type[Any]:
        """The state schema plus the supervisor's private routing channel."""
        hints = get_type_hints(self.state_schema, include_extras=True)
        hints[ROUTE_KEY] = NotRequired[Annotated[dict[str, dict[str, Any]], merge_routes]]
        return TypedDict(f"{self.name}_SupervisorState", hints)  # type: ignore[operator]

    def __repr__(self) -> str:
        return f"<GraphBuilder {self.name!r} nodes={list(self._shape.nodes)}>"


def _infer_name(node: NodeLike) -> str:
    name = getattr(node, "name", None)
    if isinstance(name, str) and name and name != "LangGraph":
        return name
    fname = getattr(node, "__name__", None)
    if isinstance(fname, str) and fname and fname != "<lambda>":
        return fname
    raise UsageError(f"cannot tell the name of node {node!r}; pass name=...")


def _as_action(node: NodeLike) -> Any:
    """What LangGraph's ``add_node`` receives for a node object."""
    if isinstance(node, GraphBuilder):
        return node.compile()
    if isinstance(node, CompiledStateGraph):
        return node
    if callable(node) or hasattr(node, "invoke"):  # a mnemos Agent is a runnable
        return node
    raise UsageError(
        f"a node is an agent, a function, a runnable or a graph, not {type(node).__name__}"
    )
