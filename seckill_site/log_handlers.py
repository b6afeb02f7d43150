"""A log handler that never makes a request's thread wait for the terminal or the pipe.

Granian's access log writes one line per request through a StreamHandler, which takes the handler's lock, writes
and flushes (a system call that lets go of the GIL) while still holding that lock: under a flood the web
threads queue up on the lock, each waiting for the GIL to come back to the one holding it: the access log slowed
the sold-out flood by a large share (measured: docs/benchmark-log.md, "The sold-out answer and the access log").

BackgroundStreamHandler formats the line in the caller's thread (the record's arguments are read at once, as
always) and hands it to a queue; one thread per process writes whatever has queued up, then flushes once. Past
MAX_QUEUED lines a caller waits for the writer. `flush()` waits for the lines queued before it (logging.shutdown
calls it at exit, and so does a multiprocessing child's exit, which skips atexit). Lines still queued when a
process is killed outright are lost.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import sys
import threading
from multiprocessing import util

FLUSH_TIMEOUT = 2.0  # seconds flush() waits for the writer
MAX_QUEUED = 10_000  # lines; past this a caller waits for the writer (a stuck pipe must not grow memory)


class BackgroundStreamHandler(logging.Handler):
    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream if stream is not None else sys.stderr
        self._after_fork()
        os.register_at_fork(after_in_child=self._after_fork)  # threads and held locks do not survive a fork

    def _after_fork(self):
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._writer_pid: int | None = None
        self._start_lock = threading.Lock()

    def handle(self, record):
        # The queue is thread-safe: no handler lock (taking it is what made threads wait).
        if self.filter(record):
            self.emit(record)
            return True
        return False

    def emit(self, record):
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        if self._writer_pid is None:
            self._start_writer()
        elif self._queue.qsize() >= MAX_QUEUED:  # the writer is behind: wait for it, as a plain handler would
            self.flush()
        self._queue.put(line)

    def flush(self):
        if self._writer_pid is None:
            return
        done = threading.Event()
        self._queue.put(done)
        done.wait(FLUSH_TIMEOUT)

    def _start_writer(self):
        with self._start_lock:
            if self._writer_pid is not None:
                return
            threading.Thread(target=self._write, name="log-writer", daemon=True).start()
            self._writer_pid = os.getpid()
            atexit.register(self.flush)
            util.Finalize(None, self.flush, exitpriority=100)  # a multiprocessing child exits without atexit

    def _write(self):
        while True:
            items = [self._queue.get()]
            while True:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            lines = [item for item in items if isinstance(item, str)]
            if lines:
                try:
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()
                except Exception:  # a closed or broken stream: say so once per batch, on stderr, and go on
                    sys.stderr.write(f"--- logging: {len(lines)} lines not written\n")
            for item in items:
                if isinstance(item, threading.Event):
                    item.set()
