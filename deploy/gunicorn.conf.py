"""gunicorn settings of the platform's web process: `deploy/bin/mgmt web`.

Listens on loopback by default: only nginx, which ends TLS and sets X-Forwarded-Proto, may reach
it. On a web node behind a remote nginx set WEB_BIND to the private address.
"""

import multiprocessing
import os

bind = os.environ.get("WEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", str(min(2 * multiprocessing.cpu_count() + 1, 9))))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
timeout = int(os.environ.get("WEB_REQUEST_TIMEOUT", "120"))  # uploads come in chunks; nothing is longer
graceful_timeout = 30
keepalive = 30  # nginx keeps its upstream connections open (keepalive 32)
# nginx is the one trusted hop: its X-Forwarded-* are believed only from where it connects.
forwarded_allow_ips = os.environ.get("WEB_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
errorlog = "-"
control_socket_disable = True  # gunicorn >= 24: several instances on one machine (tests) would share it
