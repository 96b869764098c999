"""The local web app: memory browser, threads, brainstorms and graph pictures (``mnemos ui``).

Needs the ``ui`` extra (``pip install "mnemos[ui]"``)::

    from mnemos.ui import UIConfig, create_app
    app = create_app(UIConfig(store="native:///tmp/memory.db", graphs=["examples/supervisor_review.py:graph"]))
    # serve with uvicorn, or drive it with starlette's TestClient
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mnemos.exceptions import MissingExtraError
from mnemos.ui.base import UIConfig

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = ["UIConfig", "create_app"]


def _require_extra() -> None:
    from importlib.util import find_spec

    for modules, package in ((("starlette",), "starlette"), (("jinja2",), "jinja2"),
                             (("python_multipart", "multipart"), "python-multipart")):
        if not any(find_spec(m) is not None for m in modules):
            raise MissingExtraError("ui", package, "The web UI")


def create_app(config: UIConfig | None = None, **overrides: Any) -> Starlette:
    """The web UI as an ASGI app (see :func:`mnemos.ui.app.create_app`)."""
    _require_extra()
    from mnemos.ui.app import create_app as _create

    return _create(config, **overrides)
