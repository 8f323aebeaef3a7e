"""ansible-runner's event callback with no file: each event travels in the output stream only.

ansible-runner forces its stdout callback ``awx_display`` and puts its own directory last in
ANSIBLE_CALLBACK_PLUGINS; provisioner's chokepoint puts this directory first, so Ansible loads
this module under that name. It is runner's callback with one change: runner writes every
event's full data (task results, diffs, messages) to ``job_events/<uuid>-partial.json`` in the
run directory and sends only the uuid through the output stream, where runner reads the file
back. Here the event goes through the stream (the pty runner already reads), so no event
is ever written to disk by Ansible, not even for a moment; an unchanged result goes without the
data provisioner never reads (``slim``). provisioner's event handler keeps
what it needs, redacted, and tells runner to write nothing (adapters/runner.py).
"""

from __future__ import annotations

import json
from typing import IO, Any

from ansible_runner.display_callback.callback import awx_display as _runner

# Read by Ansible from this file's source (the options are those of the default callback).
DOCUMENTATION = """
    callback: awx_display
    short_description: ansible-runner's event dispatcher, events in the output stream only
    version_added: "2.0"
    description:
        - ansible-runner's awx_display without the partial event files in the run directory.
    type: stdout
    extends_documentation_fragment:
      - default_callback
    requirements:
      - Set as stdout in config (ansible-runner does)
"""


KEPT_TASKS = ("Presence: ", "Readiness: ")
"""Tasks whose unchanged results provisioner reads (adapters/runner.py's PRESENCE_PREFIX and
READINESS_PREFIX)."""
UNREAD = frozenset({"runner_on_ok", "runner_item_on_ok", "runner_item_on_skipped"})
"""Events whose result provisioner reads only when it changed something (or is a kept task)."""


def slim(begin: dict[str, Any]) -> dict[str, Any]:
    """The event without the result provisioner's collector never reads.

    An unchanged ``ok`` (or a loop item's ok or skip) carries the module's whole result: its
    arguments (``invocation``), stdout twice (``stdout_lines``), facts. The collector reads the
    result of a change, of a failure, of an unreachable host and of the presence and readiness
    tasks, and of anything else only ``changed``. The rest would cost the controller a JSON
    encoding and base64 per host-task and provisioner a decoding, for nothing.
    """
    data = begin.get("event_data")
    if begin.get("event") not in UNREAD or not isinstance(data, dict):
        return begin
    res = data.get("res")
    if not isinstance(res, dict) or res.get("changed") or res.get("failed"):
        return begin
    if str(data.get("task", "")).startswith(KEPT_TASKS):
        return begin
    return {**begin, "event_data": {**data, "res": {"changed": False}}}


def _dump_begin_inline(fileobj: IO[str]) -> None:
    """The event's begin data in the stream (runner's OutputEventFilter decodes it)."""
    context = _runner.event_context
    # Encoded as runner encodes its partial files (dates, vault values), then dumped as usual.
    begin = slim(context.get_begin_dict())
    begin = json.loads(json.dumps(begin, cls=_runner.AnsibleJSONEncoderLocal))
    context.dump(fileobj, begin)


_runner.event_context.dump_begin = _dump_begin_inline  # type: ignore[method-assign]


class CallbackModule(_runner.CallbackModule):  # type: ignore[misc]
    """runner's awx_display; its event context no longer writes partial files."""

    CALLBACK_NAME = "awx_display"
