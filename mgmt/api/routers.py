from rest_framework.routers import SimpleRouter


class OptionalSlashRouter(SimpleRouter):
    """Routes answer with or without a trailing slash (`/api/uploads` and `/api/uploads/`)."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"
