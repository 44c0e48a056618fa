"""Loads the Python modules generated from `proto/` (by `make setup`, with grpcio-tools).

The modules are generated with `-I proto` into `dspex_bridge/_proto/`, so they import each
other as `dspex.bridge.v1....`; that folder is put on `sys.path` here, once, and the rest
of the package imports the generated code only through this module.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROTO_DIR = Path(__file__).resolve().with_name("_proto")

if str(PROTO_DIR) not in sys.path:
    sys.path.append(str(PROTO_DIR))

try:
    from dspex.bridge.v1 import variables_pb2 as pb
    from dspex.bridge.v1 import variables_pb2_grpc as pb_grpc
    from dspex.bridge.v1 import worker_pb2 as worker_pb
    from dspex.bridge.v1 import worker_pb2_grpc as worker_pb_grpc
except ImportError as error:  # pragma: no cover - only without `make setup`
    raise ImportError(
        f"the gRPC modules of dspex_bridge are not generated in {PROTO_DIR}: "
        "run `make setup` at the root of the dspex repository"
    ) from error

__all__ = ["PROTO_DIR", "pb", "pb_grpc", "worker_pb", "worker_pb_grpc"]
