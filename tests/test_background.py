"""A call in a spawned process (matching.background): its answer, its exception, its end."""

import math
import os
import signal
import time

import pytest

from matching.background import BackgroundError, InProcess


def test_a_call_answers_and_raises_in_the_caller():
    with InProcess(math.fsum, [0.1] * 10) as call:
        assert call.result() == 1.0
        assert call.result() == 1.0  # asked again: the same answer
    with InProcess(math.sqrt, -1.0, name="square root") as call, pytest.raises(ValueError):
        call.result()


def test_a_process_that_dies_is_an_error_naming_the_call():
    with InProcess(time.sleep, 60, name="long sleep") as call:
        os.kill(call.pid, signal.SIGKILL)
        with pytest.raises(BackgroundError, match="long sleep stopped without an answer"):
            call.result()


def test_leaving_the_block_stops_a_call_still_running():
    with InProcess(time.sleep, 60) as call:
        pid = call.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
