"""Clients of the peers the servers app talks to: the host agent (agent.py) and SSH (ssh.py)."""
