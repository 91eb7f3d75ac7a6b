"""``dita serve``: a live dashboard of one or more journals, on 127.0.0.1 only.

Each journal is opened read-only through a ``JournalView`` (kernel from the
last snapshot plus the tail). A poller applies the records committed since
the last seen seq every ``interval`` seconds, and pushes the new state of a
journal that changed to every open page as a server-sent event
(``GET /events``; the event's ``id`` is the journal's last seq). ``GET
/api/state`` gives the same JSON once. The page (``GET /``) is one HTML file
with inline script and style; it loads nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

from aiohttp import web

from dita.journal import JournalError
from dita.serve.view import JournalView

HOST = "127.0.0.1"


class Dashboard:
    def __init__(self, journals: list[Path], *, interval: float = 0.5) -> None:
        self.paths = journals
        self.interval = interval
        self.views: list[JournalView | None] = [None] * len(journals)
        self.errors: list[str] = [""] * len(journals)
        self._clients: set[asyncio.Queue[str]] = set()
        self._task: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ state

    def _open(self, i: int) -> bool:
        try:
            self.views[i] = JournalView.open(self.paths[i])
            self.errors[i] = ""
            return True
        except (JournalError, ValueError) as e:
            self.errors[i] = str(e)
            return False

    def state(self, i: int) -> dict[str, Any]:
        v = self.views[i]
        if v is None:
            return {"index": i, "journal": str(self.paths[i]), "error": self.errors[i]}
        return {"index": i, "error": self.errors[i], **v.to_json()}

    def _poll_all(self) -> list[int]:
        changed = []
        for i, v in enumerate(self.views):
            if v is None:
                if self._open(i):
                    changed.append(i)
                continue
            try:
                if v.poll():
                    changed.append(i)
                    self.errors[i] = ""
            except JournalError as e:
                if self.errors[i] != str(e):
                    self.errors[i] = str(e)
                    changed.append(i)
        return changed

    async def _poller(self) -> None:
        while True:
            changed = await asyncio.to_thread(self._poll_all)
            for i in changed:
                self._broadcast(self._event(i))
            await asyncio.sleep(self.interval)

    def _event(self, i: int) -> str:
        st = self.state(i)
        data = json.dumps(st, separators=(",", ":"))
        return f"id: {i}:{st.get('seq', 0)}\nevent: journal\ndata: {data}\n\n"

    def _broadcast(self, msg: str) -> None:
        for q in self._clients:
            q.put_nowait(msg)

    # ------------------------------------------------------------------ http

    async def index(self, _request: web.Request) -> web.Response:
        page = resources.files("dita.serve").joinpath("assets/dashboard.html").read_text("utf-8")
        return web.Response(
            text=page,
            content_type="text/html",
            headers={
                "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
                "style-src 'unsafe-inline'; connect-src 'self'",
                "Cache-Control": "no-store",
            },
        )

    async def api_state(self, _request: web.Request) -> web.Response:
        return web.json_response([self.state(i) for i in range(len(self.paths))])

    async def events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"}
        )
        await resp.prepare(request)
        q: asyncio.Queue[str] = asyncio.Queue()
        self._clients.add(q)
        try:
            for i in range(len(self.paths)):
                await resp.write(self._event(i).encode())
            while True:
                try:
                    msg = await asyncio.wait_for(q.get(), timeout=15)
                except TimeoutError:
                    msg = ": keep-alive\n\n"
                await resp.write(msg.encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(q)
        return resp

    async def _startup(self, _app: web.Application) -> None:
        await asyncio.to_thread(lambda: [self._open(i) for i in range(len(self.paths))])
        self._task = asyncio.create_task(self._poller(), name="journal-poller")

    async def _cleanup(self, _app: web.Application) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for v in self.views:
            if v is not None:
                v.close()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_get("/api/state", self.api_state)
        app.router.add_get("/events", self.events)
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._cleanup)
        return app


def serve(journals: list[Path], *, port: int, interval: float, print_url: Any = print) -> None:
    dash = Dashboard(journals, interval=interval)
    web.run_app(
        dash.app(),
        host=HOST,
        port=port,
        print=lambda _msg: print_url(f"dita serve: http://{HOST}:{port}/ (Ctrl-C stops)"),
        handle_signals=True,
        shutdown_timeout=1.0,
    )
