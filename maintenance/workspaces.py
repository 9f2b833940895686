"""The reconciler's and idle stop's view of workspaces (containers.Workspace, from the workspaces issue)."""

from __future__ import annotations


def workspace_image_names() -> list[str]:
    """Images the database's workspaces use."""
    return []
