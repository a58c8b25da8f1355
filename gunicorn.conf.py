"""gunicorn settings, read from the working directory (the image, compose, benchmarks).

Threaded workers keep client connections alive: a sync worker closes the connection
after every response and waits for the client to hang up, so every request paid for a
new connection. Requests mostly wait on PostgreSQL, so two threads per process overlap
those waits; more contended for the GIL (benchmarks/loop.py, 16 annotators: 8 processes
x 2 threads served 72-94 annotations/s, 8 sync processes 59-80, 4 x 4 threads 52-58).
The number of processes is gunicorn's WEB_CONCURRENCY; command-line options win.
"""

import os

worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
keepalive = 30
