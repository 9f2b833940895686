"""What the cleanup jobs need to know about workspaces (containers.Workspace)."""

from __future__ import annotations

from containers.models import Workspace


def workspace_image_names() -> list[str]:
    """Images the database's workspaces use: never pruned, whatever their state."""
    return list(Workspace.objects.values_list("image", flat=True).distinct())
