"""``Run``, ``DumpState`` and ``LoadState`` as the Rust runtime sees them: a real worker subprocess, the real
bridge, real DSPy modules, evaluations and optimizers, with the task test LM (`dspex_bridge._task_lm`), whose
answers get better with the right demos, instructions, or module and temperature."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dspy
import grpc
import pytest
from run_helpers import CALLS_ENV
from test_worker import Worker, call, create, create_typed, output, real, text

from dspex_bridge import SyncSessionContext
from dspex_bridge._proto_loader import pb
from dspex_bridge._proto_loader import worker_pb as wpb
from dspex_bridge.testing import BridgeFixture

TASK_LM = "dspex_bridge._task_lm:task_lm"
WORDS = ["apple", "river", "stone", "cloud", "tiger", "maple", "piano", "ocean"]


@pytest.fixture(scope="module")
def calls_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("run") / "metric-calls.txt"


@pytest.fixture(scope="module")
def worker(bridge: BridgeFixture, calls_file: Path) -> Iterator[Worker]:
    process = Worker(bridge, worker_id=11, env={CALLS_ENV: str(calls_file)})
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def channel(bridge: BridgeFixture) -> Iterator[grpc.Channel]:
    """A channel to the bridge, for the tests' own reads and writes of variables."""
    with grpc.insecure_channel(bridge.address) as opened:
        yield opened


@pytest.fixture
def session(worker: Worker, bridge: BridgeFixture) -> str:
    """A new session whose LM is the task test LM."""
    session_id = bridge.new_session()
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session_id, lm=wpb.LmSpec(factory=TASK_LM)))
    return session_id


def example(word: str, answer: str) -> Any:
    return wpb.ExampleData(inputs_json={"word": json.dumps(word)}, outputs_json={"answer": json.dumps(answer)})


def reversed_words(words: list[str]) -> list[Any]:
    return [example(word, word[::-1]) for word in words]


def run(worker: Worker, request: Any, timeout: float = 60.0) -> tuple[list[Any], Any]:
    """The progress events of a run, and its result (the last event)."""
    events = list(worker.stub.Run(request, metadata=worker.metadata, timeout=timeout))
    assert events and events[-1].WhichOneof("kind") == "done", events[-1:]
    assert all(event.WhichOneof("kind") == "progress" for event in events[:-1])
    return [event.progress for event in events[:-1]], events[-1].done


def refused(worker: Worker, request: Any) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        list(worker.stub.Run(request, metadata=worker.metadata, timeout=30))
    error: Any = caught.value
    return error.code(), error.details()


def predict(worker: Worker, session: str, signature: str = "word -> answer", **fields: Any) -> str:
    return create(worker, session, "Predict", signature, **fields)


def request(session: str, modules: dict[str, str], metric: str = "run_helpers:exact_match", **fields: Any) -> Any:
    return wpb.RunRequest(
        run_id=f"run-{time.monotonic_ns()}",
        session_id=session,
        modules=[wpb.RunModule(name=name, module_id=module_id) for name, module_id in modules.items()],
        metric=wpb.MetricSpec(python=metric),
        **fields,
    )


def dump(worker: Worker, module_id: str) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(worker.call("DumpState", wpb.DumpStateRequest(module_id=module_id)).state_json)
    return state


def uppercase_demos_state() -> str:
    """A state made by DSPy itself: a plain ``dspy.Predict`` with two demos following the uppercase rule."""
    plain = dspy.Predict("word -> answer")
    plain.demos = [dspy.Example(word="abc", answer="ABC"), dspy.Example(word="dog", answer="DOG")]
    return json.dumps(plain.dump_state())


# ---- learned state ------------------------------------------------------------------------------------------


def test_dump_and_load_state_round_trip(worker: Worker, session: str) -> None:
    module = predict(worker, session)
    state = dump(worker, module)
    assert state["demos"] == [] and "instructions" in state["signature"]
    assert output(call(worker, module, word="hello"), "answer") == "hello"  # no demos: the task LM echoes

    # A state DSPy made: its demos reach the LM, which follows their rule.
    worker.call("LoadState", wpb.LoadStateRequest(module_id=module, state_json=uppercase_demos_state()))
    assert [demo["answer"] for demo in dump(worker, module)["demos"]] == ["ABC", "DOG"]
    assert output(call(worker, module, word="hello"), "answer") == "HELLO"

    # What DumpState gives, LoadState takes (into another module), and the round trip is exact.
    other = predict(worker, session)
    worker.call("LoadState", wpb.LoadStateRequest(module_id=other, state_json=json.dumps(dump(worker, module))))
    assert dump(worker, other) == dump(worker, module)

    # A chain of thought's state names its predictor.
    cot = create(worker, session, "ChainOfThought", "word -> answer")
    assert set(dump(worker, cot)) == {"predict"}


def test_bad_states_are_invalid_and_leave_the_module_as_it_was(worker: Worker, session: str) -> None:
    module = predict(worker, session)
    worker.call("LoadState", wpb.LoadStateRequest(module_id=module, state_json=uppercase_demos_state()))
    before = dump(worker, module)
    for bad, said in [("{not json", "not JSON"), ("[1, 2]", "not an object"), ('{"demos": []}', "does not fit")]:
        code, details = worker.code_of("LoadState", wpb.LoadStateRequest(module_id=module, state_json=bad))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and said in details and module in details, details
    assert dump(worker, module) == before
    code, _ = worker.code_of("LoadState", wpb.LoadStateRequest(module_id="nope", state_json="{}"))
    assert code == grpc.StatusCode.NOT_FOUND
    code, _ = worker.code_of("DumpState", wpb.DumpStateRequest(module_id="nope"))
    assert code == grpc.StatusCode.NOT_FOUND


def test_create_module_with_a_state(worker: Worker, session: str) -> None:
    module = predict(worker, session, state_json=uppercase_demos_state())
    assert output(call(worker, module, word="hello"), "answer") == "HELLO"
    code, details = worker.code_of(
        "CreateModule",
        wpb.CreateModuleRequest(
            module_id="stateful", session_id=session, module_type="Predict", signature="word -> answer", state_json="7"
        ),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "stateful" in details
    code, _ = worker.code_of("DumpState", wpb.DumpStateRequest(module_id="stateful"))
    assert code == grpc.StatusCode.NOT_FOUND, "a module whose state is refused is not created"


# ---- evaluate -----------------------------------------------------------------------------------------------


def test_evaluate_scores_each_example_and_reports_each(worker: Worker, session: str) -> None:
    module = predict(worker, session)
    # The task LM echoes the word: the examples whose answer is the word score 1.
    devset = [example("apple", "apple"), example("cherry", "cherry"), example("river", "revir"), example("sky", "sky")]
    progress, result = run(
        worker,
        request(session, {"spell": module}, "run_helpers:raises_on_cherry", devset=devset, evaluate=wpb.EvaluateTask()),
    )
    assert [outcome.index for outcome in result.results] == [0, 1, 2, 3]
    assert [outcome.score for outcome in result.results] == [1.0, 0.0, 0.0, 1.0]
    assert result.score == pytest.approx(0.5)
    failed = result.results[1]
    assert failed.HasField("error") and "ValueError" in failed.error and "no cherries here" in failed.error
    assert not any(outcome.HasField("error") for i, outcome in enumerate(result.results) if i != 1)
    assert json.loads(result.results[2].prediction_json["answer"]) == "river"
    assert [(p.phase, p.done, p.total) for p in progress] == [("evaluate", n, 4) for n in range(1, 5)]
    assert progress[-1].score == pytest.approx(0.5)
    assert any("no cherries here" in p.message for p in progress)


def test_evaluate_a_composed_program_with_bound_settings(
    worker: Worker, session: str, bridge: BridgeFixture, channel: grpc.Channel
) -> None:
    # Two modules: the second reads the first's answer from the pool; its temperature is bound, and the run's
    # value of the variable reaches its LM request (the echo answer of a non-task signature shows the settings).
    SyncSessionContext(session, channel, token=bridge.token).register_variable("t", "float", 0.9)
    first = predict(worker, session)
    second = predict(worker, session, "answer -> comment", bindings=[wpb.Binding(setting="temperature", variable="t")])
    devset = [example("apple", "apple")]
    _, result = run(
        worker,
        request(
            session,
            {"spell": first, "describe": second},
            devset=devset,
            outputs=["answer", "comment"],
            variables={"t": real(0.25)},
            evaluate=wpb.EvaluateTask(),
        ),
    )
    (outcome,) = result.results
    assert outcome.score == 1.0 and set(outcome.prediction_json) == {"answer", "comment"}
    comment = json.loads(outcome.prediction_json["comment"])
    assert comment.startswith("Echo: apple") and "temperature=0.25" in comment


def test_metric_failures_score_zero_and_say_why(worker: Worker, session: str) -> None:
    module = predict(worker, session)
    devset = [example("apple", "apple")]
    for metric, said in [
        ("run_helpers:says_yes", "not a number"),
        ("run_helpers:not_a_number", "not a finite number"),
    ]:
        _, result = run(worker, request(session, {"spell": module}, metric, devset=devset, evaluate=wpb.EvaluateTask()))
        assert result.results[0].score == 0.0 and said in result.results[0].error, result.results[0].error
    _, result = run(
        worker,
        request(session, {"spell": module}, "run_helpers:exact_bool", devset=devset, evaluate=wpb.EvaluateTask()),
    )
    assert result.score == 1.0

    # A Rust metric nobody serves (no Rust side registered one for this run): each example fails, the run goes on.
    rust = request(session, {"spell": module}, devset=devset * 2, evaluate=wpb.EvaluateTask())
    rust.metric.CopyFrom(wpb.MetricSpec(rust=True))
    _, result = run(worker, rust)
    assert [outcome.score for outcome in result.results] == [0.0, 0.0]
    assert all("Rust metric failed" in outcome.error for outcome in result.results), result.results[0].error


# ---- optimizers ---------------------------------------------------------------------------------------------


def test_bootstrap_few_shot_learns_demos_on_copies(worker: Worker, session: str) -> None:
    module = predict(worker, session)
    optimizer = wpb.OptimizerTask(
        optimizer="BootstrapFewShot", options={"max_bootstrapped_demos": pb.Value(integer_value=2)}
    )
    progress, result = run(
        worker,
        request(
            session,
            {"spell": module},
            trainset=reversed_words(WORDS[:4]),
            devset=reversed_words(WORDS[4:]),
            optimizer=optimizer,
        ),
    )
    assert (result.score_before, result.score) == (0.0, 1.0)
    (learned,) = result.states
    assert learned.name == "spell"
    demos = json.loads(learned.state_json)["demos"]
    assert demos and all(demo["answer"] == demo["word"][::-1] for demo in demos)
    assert dump(worker, module)["demos"] == [], "the live module is not changed by a run"
    phases = [p.phase for p in progress]
    assert phases[0] == "before" and phases[-1] == "after" and "compile" in phases and "bootstrap" in phases
    assert [p.done for p in progress if p.phase == "after"] == [1, 2, 3, 4]
    # The learned state loads into the live module, which then answers as the compiled program did.
    worker.call("LoadState", wpb.LoadStateRequest(module_id=module, state_json=learned.state_json))
    assert output(call(worker, module, word="hello"), "answer") == "olleh"


@pytest.mark.parametrize(
    ("optimizer", "options"),
    [
        ("BootstrapFewShotWithRandomSearch", {"num_candidate_programs": pb.Value(integer_value=2)}),
        ("MIPROv2", {"auto": pb.Value(string_value="light"), "seed": pb.Value(integer_value=7)}),
        ("GEPA", {"max_metric_calls": pb.Value(integer_value=24)}),
    ],
)
def test_optimizers_raise_the_score(worker: Worker, session: str, optimizer: str, options: dict[str, Any]) -> None:
    module = predict(worker, session)
    progress, result = run(
        worker,
        request(
            session,
            {"spell": module},
            trainset=reversed_words(WORDS[:4]),
            devset=reversed_words(WORDS[4:]),
            concurrency=2,
            optimizer=wpb.OptimizerTask(optimizer=optimizer, options=options),
        ),
        timeout=120,
    )
    assert (result.score_before, result.score) == (0.0, 1.0)
    assert result.trials and max(trial.score for trial in result.trials) == 1.0
    trials = [p for p in progress if p.phase == "trial"]
    assert [p.done for p in trials] == [trial.number for trial in result.trials]
    assert trials[-1].best == 1.0
    (learned,) = result.states
    if optimizer == "GEPA":
        assert "reverse" in json.loads(learned.state_json)["signature"]["instructions"]


def test_gepa_reflects_with_the_tasks_reflection_lm(worker: Worker, session: str, tmp_path: Path) -> None:
    log = tmp_path / "reflection.jsonl"
    reflection = wpb.LmSpec(factory=TASK_LM, settings={"request_log": text(str(log))})
    task = wpb.OptimizerTask(
        optimizer="GEPA", options={"max_metric_calls": pb.Value(integer_value=24)}, reflection_lm=reflection
    )
    _, result = run(
        worker,
        request(
            session,
            {"spell": predict(worker, session)},
            trainset=reversed_words(WORDS[:4]),
            devset=reversed_words(WORDS[4:]),
            optimizer=task,
        ),
    )
    assert result.score == 1.0
    proposals = [line for line in map(json.loads, log.read_text().splitlines()) if line.get("proposed")]
    assert proposals and proposals[0]["rule"] == "reverse", "the reflection LM the task named proposed the instruction"


NOTE = {
    "kind": "model",
    "name": "Note",
    "json_schema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
}
TYPED_SPELL = {
    "name": "Spell",
    "instructions": "",
    "fields": [
        {"name": "word", "role": "input", "description": "", "type_name": "str", "type": {"kind": "str"}},
        {"name": "note", "role": "input", "description": "", "type_name": "Note", "type": NOTE},
        {"name": "answer", "role": "output", "description": "", "type_name": "str", "type": {"kind": "str"}},
    ],
}


def noted(word: str, answer: str, note: Any = None) -> Any:
    data = example(word, answer)
    data.inputs_json["note"] = json.dumps({"text": f"about {word}"} if note is None else note)
    return data


def test_a_typed_program_learns_typed_demos(worker: Worker, session: str) -> None:
    # The first module is typed: the examples' inputs are validated into its types (a pydantic model here), and
    # the demos it learns hold that model, which the state encodes as JSON.
    module = create_typed(worker, session, "Predict", TYPED_SPELL)
    trainset = [noted(word, word[::-1]) for word in WORDS[:3]]
    devset = [noted(word, word[::-1]) for word in WORDS[3:6]]
    _, result = run(
        worker,
        request(
            session,
            {"spell": module},
            trainset=trainset,
            devset=devset,
            optimizer=wpb.OptimizerTask(optimizer="BootstrapFewShot"),
        ),
    )
    assert (result.score_before, result.score) == (0.0, 1.0)
    demos = json.loads(result.states[0].state_json)["demos"]
    assert demos and demos[0]["note"] == {"text": f"about {demos[0]['word']}"}
    worker.call("LoadState", wpb.LoadStateRequest(module_id=module, state_json=result.states[0].state_json))
    code, details = refused(
        worker,
        request(session, {"spell": module}, devset=[noted("apple", "elppa", note=5)], evaluate=wpb.EvaluateTask()),
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "devset example 0" in details and "note" in details


def test_bad_optimizer_requests_are_invalid(worker: Worker, session: str) -> None:
    module = predict(worker, session)
    train = reversed_words(WORDS[:2])

    def optimizing(optimizer: str, **fields: Any) -> Any:
        return request(
            session, {"spell": module}, trainset=train, optimizer=wpb.OptimizerTask(optimizer=optimizer, **fields)
        )

    code, details = refused(worker, optimizing("Annealing"))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "MIPROv2" in details and "GEPA" in details
    code, details = refused(worker, optimizing("BootstrapFewShot", options={"max_demos": pb.Value(integer_value=1)}))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "max_demos" in details and "max_bootstrapped_demos" in details
    code, details = refused(worker, optimizing("MIPROv2", compile_options={"trials": pb.Value(integer_value=1)}))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "num_trials" in details
    code, details = refused(worker, optimizing("BootstrapFewShot", options={"metric": text("x")}))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "given by the run" in details


def test_bad_run_requests(worker: Worker, session: str, bridge: BridgeFixture) -> None:
    module = predict(worker, session)
    devset = [example("apple", "apple")]
    evaluate = wpb.EvaluateTask()
    cases: list[tuple[Any, grpc.StatusCode, str]] = [
        (request(session, {"spell": "nope"}, devset=devset, evaluate=evaluate), grpc.StatusCode.NOT_FOUND, "nope"),
        (request(session, {"spell": module}, evaluate=evaluate), grpc.StatusCode.INVALID_ARGUMENT, "devset"),
        (request(session, {"spell": module}, devset=devset), grpc.StatusCode.INVALID_ARGUMENT, "task"),
        (request(session, {}, devset=devset, evaluate=evaluate), grpc.StatusCode.INVALID_ARGUMENT, "module"),
        (
            request(session, {"forward": module}, devset=devset, evaluate=evaluate),
            grpc.StatusCode.INVALID_ARGUMENT,
            "forward",
        ),
        (
            request(session, {"spell": module}, "run_helpers:missing", devset=devset, evaluate=evaluate),
            grpc.StatusCode.INVALID_ARGUMENT,
            "missing",
        ),
        (
            request(session, {"spell": module}, "run_helpers:NOT_CALLABLE", devset=devset, evaluate=evaluate),
            grpc.StatusCode.INVALID_ARGUMENT,
            "not callable",
        ),
        (
            request(
                session,
                {"spell": module},
                devset=[example("apple", "a")] + [wpb.ExampleData(inputs_json={"w": "1"})],
                evaluate=evaluate,
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "devset example 1 has no input word",
        ),
        (
            request(session, {"spell": module}, devset=[wpb.ExampleData(inputs_json={"word": "{"})], evaluate=evaluate),
            grpc.StatusCode.INVALID_ARGUMENT,
            "not JSON",
        ),
        (
            request(session, {"spell": module}, devset=devset, outputs=["verdict"], evaluate=evaluate),
            grpc.StatusCode.INVALID_ARGUMENT,
            "verdict",
        ),
    ]
    no_metric = request(session, {"spell": module}, devset=devset, evaluate=evaluate)
    no_metric.ClearField("metric")
    cases.append((no_metric, grpc.StatusCode.INVALID_ARGUMENT, "metric"))
    without_lm = bridge.new_session()
    other = predict(worker, without_lm)
    cases.append(
        (
            request(without_lm, {"spell": other}, devset=devset, evaluate=evaluate),
            grpc.StatusCode.FAILED_PRECONDITION,
            "LM",
        )
    )
    cases.append(
        (
            request(session, {"spell": other}, devset=devset, evaluate=evaluate),
            grpc.StatusCode.INVALID_ARGUMENT,
            "session",
        )
    )
    for bad, code, said in cases:
        got, details = refused(worker, bad)
        assert (got, said in details) == (code, True), (details, said)


# ---- variable search ----------------------------------------------------------------------------------------


def search_session(worker: Worker, bridge: BridgeFixture, channel: grpc.Channel) -> tuple[str, SyncSessionContext, str]:
    """A session with a module-typed `strategy` and a `temperature` in [0, 1], and a module made from the one,
    bound to the other."""
    session_id = bridge.new_session()
    worker.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session_id, lm=wpb.LmSpec(factory=TASK_LM)))
    variables = SyncSessionContext(session_id, channel, token=bridge.token)
    variables.register_variable("strategy", "module", "Predict", {"choices": ["Predict", "ChainOfThought"]})
    variables.register_variable("temperature", "float", 0.7, {"min": 0.0, "max": 1.0})
    response = worker.call(
        "CreateModule",
        wpb.CreateModuleRequest(
            module_id=f"searched-{session_id}",
            session_id=session_id,
            signature="word -> answer",
            from_variable="strategy",
            bindings=[wpb.Binding(setting="temperature", variable="temperature")],
        ),
    )
    assert response.class_name == "VariableAwarePredict"
    return session_id, variables, f"searched-{session_id}"


def searched(low: float, high: float) -> list[Any]:
    return [
        wpb.SearchedVariable(
            name="strategy", type=pb.VAR_TYPE_MODULE, candidates=[text("Predict"), text("ChainOfThought")]
        ),
        wpb.SearchedVariable(name="temperature", type=pb.VAR_TYPE_FLOAT, min=real(low), max=real(high)),
    ]


def test_variable_search_finds_a_careful_chain_of_thought(
    worker: Worker, bridge: BridgeFixture, channel: grpc.Channel
) -> None:
    session_id, variables, module = search_session(worker, bridge, channel)
    start = variables.get_variable_info("temperature")["version"]
    trials = 12
    task = wpb.VariableSearchTask(variables=searched(0.0, 1.0), trials=trials, seed=3)
    devset = [example(word, word.upper()) for word in WORDS[:4]]
    progress, result = run(
        worker,
        request(
            session_id, {"spell": module}, devset=devset, variable_search=task, variables={"temperature": real(0.7)}
        ),
    )
    best = {name: getattr(value, value.WhichOneof("kind")) for name, value in result.best_values.items()}
    assert best["strategy"] == "ChainOfThought" and best["temperature"] <= 0.3 and result.score == 1.0
    assert [trial.number for trial in result.trials] == list(range(1, trials + 1))
    assert all(set(trial.values) == {"strategy", "temperature"} for trial in result.trials)
    good = [
        t
        for t in result.trials
        if t.values["strategy"].string_value == "ChainOfThought" and t.values["temperature"].float_value <= 0.3
    ]
    assert good and all(t.score == 1.0 for t in good)
    assert all(t.score == 0.0 for t in result.trials if t not in good)
    trial_events = [p for p in progress if p.phase == "trial"]
    assert [(p.done, p.total) for p in trial_events] == [(n, trials) for n in range(1, trials + 1)]
    assert (
        trial_events[0].message.startswith(f"trial 1/{trials}: strategy=") and "temperature=" in trial_events[0].message
    )
    assert trial_events[-1].best == 1.0

    # Each trial was written through the bridge (one version each), then the best values: Rust holds them.
    info = variables.get_variable_info("temperature")
    assert info["version"] == start + trials + 1
    assert info["metadata"].get("dspex.source") == "variable_search"
    assert bridge.rust_get(session_id, "strategy") == "ChainOfThought"
    assert bridge.rust_get(session_id, "temperature") == pytest.approx(best["temperature"])


def test_a_refused_trial_fails_that_trial_only(worker: Worker, bridge: BridgeFixture, channel: grpc.Channel) -> None:
    session_id, _, module = search_session(worker, bridge, channel)
    # Temperatures above 1 are outside the variable's constraints: the bridge refuses those trials.
    task = wpb.VariableSearchTask(variables=searched(0.0, 3.0), trials=6, seed=1)
    _, result = run(
        worker, request(session_id, {"spell": module}, devset=[example("apple", "APPLE")], variable_search=task)
    )
    failed = [trial for trial in result.trials if trial.HasField("error")]
    assert failed and all(
        "refused" in trial.error and trial.values["temperature"].float_value > 1.0 for trial in failed
    )
    assert len(failed) < len(result.trials)
    assert bridge.rust_get(session_id, "temperature") <= 1.0
    bad = wpb.VariableSearchTask(
        variables=[wpb.SearchedVariable(name="temperature", type=pb.VAR_TYPE_FLOAT, min=real(1.0), max=real(0.0))],
        trials=2,
    )
    code, details = refused(
        worker, request(session_id, {"spell": module}, devset=[example("a", "A")], variable_search=bad)
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "above" in details


# ---- cancellation -------------------------------------------------------------------------------------------


def test_cancelling_the_stream_stops_the_run(worker: Worker, session: str, calls_file: Path) -> None:
    module = predict(worker, session)
    devset = [example(f"w{n}", f"w{n}") for n in range(40)]
    calls_file.write_text("")
    stream = worker.stub.Run(
        request(
            session, {"spell": module}, "run_helpers:logged_slow_match", devset=devset, evaluate=wpb.EvaluateTask()
        ),
        metadata=worker.metadata,
        timeout=60,
    )
    first = next(stream)
    assert first.progress.phase == "evaluate"
    stream.cancel()
    time.sleep(0.8)
    seen = len(calls_file.read_text().splitlines())
    time.sleep(1.0)
    assert len(calls_file.read_text().splitlines()) == seen < 10, "no metric call after the run stopped"
    # The worker serves on.
    assert output(call(worker, module, word="hi"), "answer") == "hi"


def test_a_result_over_the_message_limit_is_refused(bridge: BridgeFixture) -> None:
    small = Worker(bridge, worker_id=12, env={"DSPEX_MAX_MESSAGE_BYTES": "8192"})
    try:
        session_id = bridge.new_session()
        small.call("ConfigureLm", wpb.ConfigureLmRequest(session_id=session_id, lm=wpb.LmSpec(factory=TASK_LM)))
        spell = create(small, session_id, "Predict", "word -> answer")
        comment = create(small, session_id, "Predict", "answer -> comment")
        # Each prediction holds its word twice (the answer, and the comment echoing it): the result is about
        # twice the request's size.
        devset = [example(f"{n}{'x' * 300}", "-") for n in range(14)]
        code, details = refused(
            small,
            request(
                session_id,
                {"spell": spell, "comment": comment},
                devset=devset,
                outputs=["answer", "comment"],
                evaluate=wpb.EvaluateTask(),
            ),
        )
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "the run's result" in details and "8192" in details
    finally:
        assert small.stop() == 0


def test_cancelling_a_variable_search_stops_its_trials_and_writes(
    worker: Worker, bridge: BridgeFixture, channel: grpc.Channel, calls_file: Path
) -> None:
    session_id, variables, module = search_session(worker, bridge, channel)
    calls_file.write_text("")
    task = wpb.VariableSearchTask(variables=searched(0.0, 1.0), trials=30, seed=2)
    stream = worker.stub.Run(
        request(
            session_id,
            {"spell": module},
            "run_helpers:logged_slow_match",
            devset=[example("a", "A")],
            variable_search=task,
        ),
        metadata=worker.metadata,
        timeout=60,
    )
    phases = [next(stream).progress.phase, next(stream).progress.phase]
    assert phases == ["before", "trial"], phases
    stream.cancel()
    time.sleep(0.8)
    version = variables.get_variable_info("temperature")["version"]
    calls = len(calls_file.read_text().splitlines())
    time.sleep(1.0)
    assert variables.get_variable_info("temperature")["version"] == version, "no trial written after the cancel"
    assert len(calls_file.read_text().splitlines()) == calls < 10
