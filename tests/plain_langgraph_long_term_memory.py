"""LangGraph's documented long-term memory pattern with LangGraph's own InMemoryStore.

The reference that ``examples/langgraph_long_term_memory.py`` is compared with: the
same program, with the store LangGraph's documentation uses.
"""

import os
import sys
import uuid
from dataclasses import dataclass

from langchain.agents import create_agent
from langchain.tools import ToolRuntime, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.config import get_store
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.runtime import Runtime
from langgraph.store.memory import InMemoryStore

from mnemos.agents import resolve_model

model = resolve_model(os.environ.get("MNEMOS_MODEL") or "offline")
store = InMemoryStore()


@dataclass
class Context:
    user_id: str


# --- a StateGraph node with long-term memory -------------------------------------------


def call_model(state: MessagesState, runtime: Runtime[Context]) -> dict:
    namespace = ("memories", runtime.context.user_id)
    last_message = state["messages"][-1]
    memories = runtime.store.search(namespace, query=str(last_message.content))
    info = "\n".join(f"- {d.value['data']}" for d in memories)
    system_msg = f"You are a helpful assistant talking to the user. User info:\n{info}"

    if "remember" in str(last_message.content).lower():
        memory = str(last_message.content).split(":", 1)[-1].strip()
        runtime.store.put(namespace, str(uuid.uuid4()), {"data": memory})

    response = model.invoke([{"role": "system", "content": system_msg}, *state["messages"]])
    return {"messages": response}


builder = StateGraph(MessagesState, context_schema=Context)
builder.add_node(call_model)
builder.add_edge(START, "call_model")
graph = builder.compile(checkpointer=InMemorySaver(), store=store)


# --- an agent whose tools use the store -------------------------------------------------


@tool
def get_user_info(runtime: ToolRuntime[Context]) -> str:
    """Look up the saved user info."""
    user_info = runtime.store.get(("users",), runtime.context.user_id)
    return str(user_info.value) if user_info else "Unknown user"


@tool
def save_user_info(name: str, language: str, runtime: ToolRuntime[Context]) -> str:
    """Save user info: the user's name and preferred language."""
    store = get_store()
    store.put(("users",), runtime.context.user_id, {"name": name, "language": language})
    return "Successfully saved user info."


agent = create_agent(model, tools=[get_user_info, save_user_info], store=store, context_schema=Context)


def chat(text: str, user_id: str = "1") -> str:
    """One turn of the graph on a new thread: only the store carries memory across."""
    config = {"configurable": {"thread_id": str(uuid.uuid4())}}
    result = graph.invoke({"messages": [{"role": "user", "content": text}]}, config, context=Context(user_id))
    return result["messages"][-1].text


def ask_agent(text: str, user_id: str = "user_123") -> str:
    result = agent.invoke({"messages": [{"role": "user", "content": text}]}, context=Context(user_id=user_id))
    return result["messages"][-1].text


if __name__ == "__main__":
    if sys.argv[1:] == ["again"]:
        turns = [(chat, "What is my name?"), (ask_agent, "Look up user info")]
    else:
        turns = [(chat, "Hi! Remember: my name is Bob and I live in Porto"),
                 (ask_agent, "Save user info: name: Bob, language: Portuguese")]
    for send, text in turns:
        print(f"user: {text}")
        print(f"{'graph' if send is chat else 'agent'}: {send(text)}")
