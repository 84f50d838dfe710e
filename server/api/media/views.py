"""Resumable photo uploads (tus 1.0: core, creation, checksum and expiration extensions).

``HEAD`` and ``PATCH`` are the hot path of a photo upload: they authenticate with
``authenticate_caller`` (one query, no session) instead of ``require_roles``, with the same
rules, and ``PATCH`` hands the request stream to the service (no form parsing).
"""

from __future__ import annotations

from flask import Response, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.http import http_date

from server.auth import authenticate_caller, current_caller, require_roles
from server.errors import ProblemError
from server.services import media
from server.services.media import UploadState
from sync.tus import CHECKSUM_ALGORITHMS, PATCH_CONTENT_TYPE, TUS_EXTENSIONS, TUS_VERSION

blp = Blueprint("media", __name__, url_prefix="/api/v1/media", description="Photo uploads (tus)")


def _tus_headers(state: UploadState | None = None) -> dict[str, str]:
    headers = {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store"}
    if state is not None:
        headers["Upload-Offset"] = str(state.offset)
        headers["Upload-Length"] = str(state.length)
        if state.expires_at is not None:
            headers["Upload-Expires"] = http_date(state.expires_at)
    return headers


@blp.after_request
def _always_tus_resumable(response: Response) -> Response:
    """tus asks for Tus-Resumable on every response, problem details included."""
    response.headers.setdefault("Tus-Resumable", TUS_VERSION)
    return response


def _require_tus() -> None:
    if request.headers.get("Tus-Resumable") != TUS_VERSION:
        raise ProblemError(
            412,
            "Precondition Failed",
            f"Send Tus-Resumable: {TUS_VERSION}.",
            headers={"Tus-Version": TUS_VERSION},
        )


@blp.route("/")
class UploadsView(MethodView):
    def options(self) -> Response:
        """Advertise the tus version, extensions, checksum algorithms and size cap."""
        return Response(
            status=204,
            headers={
                "Tus-Resumable": TUS_VERSION,
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": ",".join(TUS_EXTENSIONS),
                "Tus-Checksum-Algorithm": ",".join(CHECKSUM_ALGORITHMS),
                "Tus-Max-Size": str(media.max_bytes()),
            },
        )

    @require_roles("collector")
    @blp.doc(
        description="tus creation: Upload-Length and Upload-Metadata (with the file's sha256) "
        "required; a photo the server already holds completes at once (Upload-Offset = length)."
    )
    def post(self) -> Response:
        """Create an upload for a photo declared by size and sha256."""
        _require_tus()
        state = media.create_upload(
            current_caller(),
            request.headers.get("Upload-Length"),
            request.headers.get("Upload-Metadata"),
        )
        headers = _tus_headers(state)
        headers["Location"] = url_for("media.UploadView", upload_id=state.id)
        return Response(status=201, headers=headers)


@blp.route("/<string:upload_id>")
class UploadView(MethodView):
    def head(self, upload_id: str) -> Response:
        """How many bytes the server holds, to resume after a lost connection."""
        caller = authenticate_caller("collector")
        _require_tus()
        return Response(status=200, headers=_tus_headers(media.upload_state(upload_id, caller)))

    @blp.doc(
        description="Body: the chunk (Content-Type application/offset+octet-stream). "
        "409 with Upload-Offset on a wrong offset, 460 on an Upload-Checksum mismatch, "
        "413 past Upload-Length, 410 once the upload expired (Upload-Expires) or was refused.",
    )
    def patch(self, upload_id: str) -> Response:
        """Append one chunk at Upload-Offset; 409 on a wrong offset, 460 on a bad checksum."""
        caller = authenticate_caller("collector")
        _require_tus()
        if request.mimetype != PATCH_CONTENT_TYPE:
            raise ProblemError(
                415, "Unsupported Media Type", f"PATCH needs Content-Type {PATCH_CONTENT_TYPE}."
            )
        state = media.append_chunk(
            upload_id,
            caller,
            request.headers.get("Upload-Offset"),
            request.headers.get("Upload-Checksum"),
            request.stream,
            request.content_length,
        )
        return Response(status=204, headers=_tus_headers(state))
