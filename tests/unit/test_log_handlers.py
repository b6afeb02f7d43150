"""seckill_site.log_handlers: lines written by a thread of their own, in order, all of them by flush() and at exit,
also in a forked child (Granian's workers are forked processes that exit without atexit)."""

import io
import logging
import multiprocessing
import threading
from unittest import mock

from seckill_site import log_handlers
from seckill_site.log_handlers import BackgroundStreamHandler
from tests.support.polling import wait_for


def logger_to(handler: logging.Handler, name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.handlers[:] = [handler]
    logger.propagate, logger.level = False, logging.INFO
    return logger


def test_lines_from_many_threads_are_all_written_each_thread_in_order():
    stream = io.StringIO()
    handler = BackgroundStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logger_to(handler, "test.log_handlers.threads")

    def log(t):
        for i in range(500):
            logger.info("%d %d", t, i)

    threads = [threading.Thread(target=log, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    handler.flush()

    lines = stream.getvalue().splitlines()
    assert len(lines) == 8 * 500
    for t in range(8):
        assert [int(line.split()[1]) for line in lines if line.split()[0] == str(t)] == list(range(500))


def test_the_line_is_formatted_when_logged_not_when_written():
    stream = io.StringIO()
    handler = BackgroundStreamHandler(stream)
    logger = logger_to(handler, "test.log_handlers.format")
    state = {"status": 200}
    logger.info("%(status)s", state)
    state["status"] = 500  # changed after the call: the line must still say 200
    handler.flush()
    assert stream.getvalue() == "200\n"


def _child_logs(path: str) -> None:
    stream = open(path, "a")  # left open, as sys.stdout is  # noqa: SIM115
    handler = BackgroundStreamHandler(stream)
    logger = logger_to(handler, "test.log_handlers.child")
    for i in range(200):
        logger.info("child %d", i)
    # no flush: the child exits as a multiprocessing child does (os._exit after its finalizers)


def test_a_forked_child_writes_every_line_before_it_exits(tmp_path):
    path = tmp_path / "child.log"
    child = multiprocessing.get_context("fork").Process(target=_child_logs, args=(str(path),))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert path.read_text().splitlines() == [f"child {i}" for i in range(200)]


def test_a_handler_made_before_a_fork_writes_in_the_child_too(tmp_path):
    path = tmp_path / "inherited.log"
    with open(path, "a") as stream:
        handler = BackgroundStreamHandler(stream)
        logger = logger_to(handler, "test.log_handlers.inherited")
        logger.info("parent")
        handler.flush()

        def child():
            for i in range(50):
                logger.info("child %d", i)

        process = multiprocessing.get_context("fork").Process(target=child)
        process.start()
        process.join(30)
        assert process.exitcode == 0
    assert path.read_text().splitlines() == ["parent"] + [f"child {i}" for i in range(50)]


def test_a_stuck_stream_makes_callers_wait_instead_of_queueing_without_bound():
    gate, lines = threading.Event(), []

    class Stuck:
        def write(self, text):
            gate.wait(30)
            lines.extend(text.splitlines())

        def flush(self):
            pass

    handler = BackgroundStreamHandler(Stuck())
    logger = logger_to(handler, "test.log_handlers.stuck")
    with mock.patch.object(log_handlers, "MAX_QUEUED", 5), mock.patch.object(log_handlers, "FLUSH_TIMEOUT", 30):
        logged = []

        def log_40():
            for i in range(40):
                logger.info("line %d", i)
                logged.append(i)

        caller = threading.Thread(target=log_40)
        caller.start()
        # the writer is stuck on its first batch: the caller may queue up to MAX_QUEUED more, then must wait
        assert wait_for(lambda: len(logged) >= 5, 5)
        assert not wait_for(lambda: not caller.is_alive(), 1)
        assert len(logged) <= 5 + 5 + 1 and handler._queue.qsize() <= 6
        gate.set()
        caller.join(30)
    handler.flush()
    assert lines == [f"line {i}" for i in range(40)]
