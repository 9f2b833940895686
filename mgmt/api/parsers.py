from __future__ import annotations

from typing import IO, Any

from rest_framework.parsers import BaseParser


class OctetStreamParser(BaseParser):
    """Leaves a raw `application/octet-stream` body as a stream, so large chunks never sit in memory."""

    media_type = "application/octet-stream"

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None
    ) -> IO[bytes]:
        return stream
