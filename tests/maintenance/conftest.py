from tests.agent_process import agent_factory  # noqa: F401  (fixture)
from tests.containers.conftest import edge_stack, stack, workspace_dirs  # noqa: F401  (fixtures)
