"""gunicorn settings of the agent: `gunicorn -c gunicorn.conf.py hostagent.wsgi`.

One worker process with threads, on purpose: replay protection keeps the
nonces seen in the last window in the worker's memory, so every request of
this agent must reach the same process. Docker calls wait on I/O, so threads
serve concurrent requests well (a streamed build holds one thread).
"""

import os

bind = f"{os.environ.get('AGENT_BIND', '127.0.0.1')}:{os.environ.get('AGENT_PORT', '5005')}"
workers = 1  # never more: see above
worker_class = "gthread"
threads = int(os.environ.get("AGENT_THREADS", "16"))
timeout = int(os.environ.get("AGENT_REQUEST_TIMEOUT", "3600"))  # builds and pushes can be long
# Idle keep-alive connections are kept longer than the platform's stats poll (60 s), so each
# platform process reuses its pooled connection to this agent round after round instead of
# connecting (and with TLS, shaking hands) again; idle connections hold no thread.
keepalive = int(os.environ.get("AGENT_KEEPALIVE", "75"))
graceful_timeout = 30
accesslog = "-"
# No query strings in the access log: they never hold secrets, but keep the log plain.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
# Optional TLS, when the network between the platform and this host is not private.
certfile = os.environ.get("AGENT_TLS_CERT") or None
keyfile = os.environ.get("AGENT_TLS_KEY") or None
# gunicorn >= 24 opens a control socket at one fixed per-user path; several agents on one
# machine (tests, benches) would fight over it and the agent does not use it.
control_socket_disable = True
