"""The catalog client's circuit breaker: its trial after the reset period, and the calls that
arrive while the trial runs."""

import threading

import pytest
from orders.clients.catalog import CircuitBreaker, CircuitOpen


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fail() -> None:
    raise ConnectionError("catalog down")


def _opened(clock: Clock, trial_wait_seconds: float = 5.0) -> CircuitBreaker:
    """A breaker opened by two failures, its reset period over: the next call is the trial."""
    breaker = CircuitBreaker(
        fail_max=2, reset_seconds=30, trial_wait_seconds=trial_wait_seconds, clock=clock
    )
    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(_fail)
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: "not called")
    clock.now += 31
    return breaker


class Trial:
    """A trial call held until released, run in a thread of its own."""

    def __init__(self, breaker: CircuitBreaker, *, succeeds: bool):
        self.started, self.release = threading.Event(), threading.Event()
        self.succeeds = succeeds
        self.outcome: object = None
        self.thread = threading.Thread(target=self._run, args=(breaker,))
        self.thread.start()
        assert self.started.wait(5)

    def _run(self, breaker: CircuitBreaker) -> None:
        def held():
            self.started.set()
            assert self.release.wait(5)
            if not self.succeeds:
                raise ConnectionError("still down")
            return "trial answered"

        try:
            self.outcome = breaker.call(held)
        except Exception as exc:
            self.outcome = exc


def _call_meanwhile(breaker: CircuitBreaker, answer: str) -> tuple[threading.Thread, list]:
    """Start a call in a thread while the trial runs; return the thread and its outcome list."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(breaker.call(lambda: answer))
        except CircuitOpen as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def test_a_call_during_a_trial_that_closes_the_breaker_goes_ahead():
    clock = Clock()
    breaker = _opened(clock)
    trial = Trial(breaker, succeeds=True)
    waiting, outcome = _call_meanwhile(breaker, "second order's lookup")
    waiting.join(0.2)
    assert waiting.is_alive()  # waiting for the trial, not failed at once

    trial.release.set()
    trial.thread.join(5)
    waiting.join(5)

    assert trial.outcome == "trial answered"
    assert outcome == ["second order's lookup"]
    assert breaker.call(lambda: "closed") == "closed"


def test_a_call_during_a_trial_that_fails_fails_fast_and_the_breaker_stays_open():
    clock = Clock()
    breaker = _opened(clock)
    trial = Trial(breaker, succeeds=False)
    waiting, outcome = _call_meanwhile(breaker, "not sent")

    trial.release.set()
    trial.thread.join(5)
    waiting.join(5)

    assert isinstance(trial.outcome, ConnectionError)
    assert [type(item) for item in outcome] == [CircuitOpen]
    with pytest.raises(CircuitOpen):  # open for another reset period
        breaker.call(lambda: "not sent")
    clock.now += 31
    assert breaker.call(lambda: "the next trial") == "the next trial"


def test_a_call_waits_for_a_slow_trial_no_longer_than_its_bound():
    clock = Clock()
    breaker = _opened(clock, trial_wait_seconds=0.05)
    trial = Trial(breaker, succeeds=True)
    waiting, outcome = _call_meanwhile(breaker, "not sent")
    waiting.join(5)

    assert [type(item) for item in outcome] == [CircuitOpen]  # the trial is still running
    trial.release.set()
    trial.thread.join(5)
    assert trial.outcome == "trial answered"
    assert breaker.call(lambda: "closed") == "closed"
