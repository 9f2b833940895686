"""The agent's configuration from the environment."""

from __future__ import annotations

import pytest

from agent.hostagent.config import AgentConfig, ConfigError, parse_size

SECRET = "s" * 32


def test_defaults_with_only_a_secret():
    config = AgentConfig.from_env({"AGENT_SECRET": SECRET})
    assert config.port == 5005
    assert config.publish_address == "127.0.0.1"
    assert config.label_prefix == "mgmt"
    assert config.managed_label == "mgmt.managed"
    assert config.default_memory == 2 * 1024**3
    assert config.restart_policy == "unless-stopped"


def test_every_value_is_read(tmp_path):
    config = AgentConfig.from_env(
        {
            "AGENT_SECRET": SECRET,
            "AGENT_PORT": "6000",
            "AGENT_BIND": "10.0.0.7",
            "AGENT_PUBLISH_ADDRESS": "10.0.0.7",
            "AGENT_DOCKER_HOST": "tcp://127.0.0.1:2375",
            "AGENT_WORKSPACE_ROOT": str(tmp_path),
            "AGENT_WORKSPACE_MOUNT": "/home/coder",
            "AGENT_LABEL_PREFIX": "ws",
            "AGENT_DEFAULT_CPUS": "2.5",
            "AGENT_DEFAULT_MEMORY": "512m",
            "AGENT_MAX_CPUS": "8",
            "AGENT_MAX_MEMORY": "16g",
            "AGENT_PIDS_LIMIT": "512",
            "AGENT_RESTART_POLICY": "always",
            "AGENT_SIGNATURE_WINDOW": "30",
        }
    )
    assert (config.port, config.bind, config.publish_address) == (6000, "10.0.0.7", "10.0.0.7")
    assert config.docker_host == "tcp://127.0.0.1:2375"
    assert config.workspace_root == str(tmp_path.resolve())
    assert config.workspace_mount == "/home/coder"
    assert config.label_prefix == "ws"
    assert (config.default_cpus, config.default_memory) == (2.5, 512 * 1024**2)
    assert (config.max_cpus, config.max_memory) == (8, 16 * 1024**3)
    assert (config.pids_limit, config.restart_policy, config.signature_window) == (512, "always", 30)


def test_every_problem_is_listed():
    with pytest.raises(ConfigError) as caught:
        AgentConfig.from_env(
            {
                "AGENT_PORT": "99999",
                "AGENT_BIND": "host",
                "AGENT_LABEL_PREFIX": "Bad.Prefix",
                "AGENT_DEFAULT_MEMORY": "1k",
                "AGENT_DEFAULT_CPUS": "zero",
                "AGENT_RESTART_POLICY": "sometimes",
                "AGENT_WORKSPACE_MOUNT": "/a/../etc",
                "AGENT_PUBLISH_ADDRESS": "::",
            }
        )
    problems = "\n".join(caught.value.problems)
    for name in (
        "AGENT_SECRET",
        "AGENT_PORT",
        "AGENT_BIND",
        "AGENT_LABEL_PREFIX",
        "AGENT_DEFAULT_MEMORY",
        "AGENT_DEFAULT_CPUS",
        "AGENT_RESTART_POLICY",
        "AGENT_WORKSPACE_MOUNT",
        "AGENT_PUBLISH_ADDRESS",
    ):
        assert name in problems


@pytest.mark.parametrize(
    ("text", "size"),
    [("512m", 512 * 1024**2), ("2g", 2 * 1024**3), ("1.5GiB", int(1.5 * 1024**3)), ("1000", 1000), (7, 7)],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


def test_parse_size_refuses_nonsense():
    with pytest.raises(ValueError, match="is not a size"):
        parse_size("two gigs")
