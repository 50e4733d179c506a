"""The Flask application factory: JSON API, the search page and safe response headers."""

from __future__ import annotations

import hmac
import os
from pathlib import Path

from flask import Flask, abort, request, send_from_directory

from server.engine import Engine
from server.errors import ApiError, register_error_handlers

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
MAX_BODY_BYTES = 1024 * 1024

# No inline script or style, nothing from another origin, never framed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class Reviews:
    """What the app serves: the loaded engine, swappable when a new index is published."""

    def __init__(self, index_dir: Path, engine: Engine | None = None, cpu_threads: int = 2) -> None:
        self.index_dir = index_dir
        self.cpu_threads = cpu_threads
        self.engine = engine or Engine(index_dir, cpu_threads=cpu_threads)

    def reload(self) -> bool:
        """Load the live generation if it changed; the old one serves until the new is ready."""
        from indexer.store import current_generation

        gen = current_generation(self.index_dir)
        if gen is None or gen.path == self.engine.generation.path:
            return False
        old = self.engine
        self.engine = Engine(self.index_dir, query_encoder=old.encoder, cpu_threads=self.cpu_threads)
        old.close()  # requests still running on it finish: its files stay open until then
        return True


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app. Config: INDEX_DIR, ENGINE (a loaded Engine), API_TOKEN, CPU_THREADS (per query)."""
    app = Flask(__name__, static_folder=None)
    app.config.update(
        INDEX_DIR=os.environ.get("REVIEWS_INDEX", "index"),
        API_TOKEN=os.environ.get("REVIEWS_API_TOKEN") or None,
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)
    app.json.sort_keys = False
    app.extensions["reviews"] = Reviews(Path(app.config["INDEX_DIR"]), app.config.get("ENGINE"), app.config.get("CPU_THREADS", 2))

    register_error_handlers(app)

    from server.api import bp

    app.register_blueprint(bp)

    @app.before_request
    def _token() -> None:
        token = app.config.get("API_TOKEN")
        if token and request.path.startswith("/api/"):
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                raise ApiError(401, "unauthorized", "this server needs 'Authorization: Bearer <token>'")

    @app.after_request
    def _headers(response):  # noqa: ANN001, ANN202
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        if request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/")
    def index():  # noqa: ANN202
        return send_from_directory(STATIC_DIR, "index.html")

    @app.get("/static/<path:name>")
    def static_file(name: str):  # noqa: ANN202
        # send_from_directory refuses paths that leave STATIC_DIR (a 404, never a file outside)
        return send_from_directory(STATIC_DIR, name)

    @app.get("/favicon.ico")
    def favicon():  # noqa: ANN202
        abort(404)

    return app
