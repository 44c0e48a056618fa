"""A tool module that fails while it is imported, with a message longer than any gRPC header
may be: the Rust hostile-input tests name ``tests.support.hostile_tool:tool`` as a ReAct tool
and expect a short `Error::Python` naming ``RuntimeError``, at once. (The module defines no
``tool``: its import fails first.)"""

raise RuntimeError("the tool module cannot start: " + "t" * 20_000)
