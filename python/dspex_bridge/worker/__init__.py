"""The dspex worker: a process that runs DSPy modules for the Rust runtime.

Started as ``python -m dspex_bridge.worker`` (see `dspex_bridge.worker.__main__` for the
command line, the environment and the exit codes), or forked by the fork server
(``python -m dspex_bridge.worker.forkserver``, `forkserver`), which has imported DSPy once. It serves the ``dspex.bridge.v1.Worker``
gRPC service: each session (a Rust Context) has its own LM, and the modules created in a
session run with their settings applied per call, fixed or bound to the session's variables.

The package, in the order a request meets it:

- `forkserver`: the process that forks workers on request, and reports their readiness and exits.
- `config`: the command line and the environment, read once.
- `process`: dying with the parent, stopping on SIGTERM / SIGINT.
- `logs`: stderr logging, tagged with the worker id.
- `dspy_setup`: DSPy configured for a long-lived process (no caches, no history).
- `server`: the gRPC server, its readiness line, and its clean stop.
- `auth`: the token every call must carry.
- `status`: how a refused request and any other exception become a gRPC status.
- `service`: the RPCs (each checks its request, then does the work below).
- `sessions`: per session, its LM and its `SessionContext` on the bridge.
- `lm`: building a session's LM from an ``LmSpec``.
- `imports`: resolving ``package.module:name`` paths (LM factories, tools).
- `modules`: creating a module, binding its settings, running a call.
- `run`: programs of modules evaluated, optimized, or searched for variable values (``Run``), and a
  module's learned state (``DumpState`` / ``LoadState``).

Nothing here imports DSPy at package import: the process hygiene of ``__main__`` runs first.
"""
