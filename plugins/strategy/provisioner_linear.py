"""Linear strategy (plain or Mitogen's) that stops cleanly between tasks when provisioner cancels.

provisioner's chokepoint runs every play with this strategy (ANSIBLE_STRATEGY) and names the
strategy it extends in PROVISIONER_STRATEGY_BASE: ``ansible.builtin.linear`` or Mitogen's
``mitogen_linear``. The first Ctrl-C makes provisioner create the file named by
PROVISIONER_CANCEL_FILE. Before each next task this strategy looks for it; once it is there:

- the task that is running is not interrupted: it finishes on every host (the strategy only
  looks between tasks, after the previous task's results came back);
- the handlers notified so far run on the hosts that were notified (as ``meta: flush_handlers``
  would), then those hosts end; every other host ends at once; no other task starts;
- the play returns "break the playbook", so no later play starts either.

The strategy says so once in the output (``CANCEL_MARKER``), which provisioner records. A second
Ctrl-C is not this strategy's business: ansible-runner kills the process group.
"""

from __future__ import annotations

import os
from typing import Any

from ansible.executor.play_iterator import IteratingStates
from ansible.plugins.loader import strategy_loader
from ansible.utils.display import Display

DOCUMENTATION = """
    name: provisioner_linear
    short_description: Linear strategy that stops between tasks when provisioner cancels
    description:
        - The linear strategy (or the strategy named in PROVISIONER_STRATEGY_BASE, e.g. Mitogen's
          mitogen_linear); when the file named in PROVISIONER_CANCEL_FILE exists, no new task
          starts, notified handlers run, and the playbook ends.
    version_added: "2.19"
    author: provisioner maintainers
"""

CANCEL_MARKER = "provisioner: cancel requested"
"""Start of the line the strategy prints when it stops (provisioner's collector looks for it)."""

display = Display()
_BASE_NAME = os.environ.get("PROVISIONER_STRATEGY_BASE") or "ansible.builtin.linear"
_Base: Any = strategy_loader.get(_BASE_NAME, class_only=True)
if _Base is None:
    raise ImportError(f"provisioner_linear: strategy {_BASE_NAME!r} not found")


def cancel_requested() -> bool:
    """True once provisioner created the cancel file of this run."""
    path = os.environ.get("PROVISIONER_CANCEL_FILE")
    return bool(path) and os.path.exists(path)


class StrategyModule(_Base):  # type: ignore[misc]
    """The base strategy, with a stop between tasks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._provisioner_stopped = False

    def _get_next_task_lockstep(self, hosts: list[Any], iterator: Any) -> Any:
        if not self._provisioner_stopped and cancel_requested():
            self._provisioner_stop(hosts, iterator)
        return super()._get_next_task_lockstep(hosts, iterator)

    def _provisioner_stop(self, hosts: list[Any], iterator: Any) -> None:
        """Hosts with notified handlers run them, then end; the others end now."""
        self._provisioner_stopped = True
        flushing = []
        for host in hosts:
            state = iterator.get_state_for_host(host.name)
            if state.run_state == IteratingStates.HANDLERS:
                # Already running handlers: they finish, then the host is done.
                state.pre_flushing_run_state = IteratingStates.COMPLETE
                continue
            notified = False
            for notification in list(state.handler_notifications):
                for handler in self.search_handlers_by_notification(notification, iterator):
                    if handler.notify_host(host):
                        self._tqm.send_callback("v2_playbook_on_notify", handler, host)
                    notified = True
                iterator.clear_notification(host.name, notification)
            notified = notified or any(
                host in h.notified_hosts for b in iterator._play.handlers for h in b.block
            )
            if notified and host.name not in self._tqm._unreachable_hosts:
                state.pre_flushing_run_state = IteratingStates.COMPLETE
                state.run_state = IteratingStates.HANDLERS
                flushing.append(host.name)
            else:
                iterator.set_run_state_for_host(host.name, IteratingStates.COMPLETE)
        if flushing:
            # As linear does for meta: flush_handlers: the handlers come next in the task list.
            handlers = [h for b in iterator._play.handlers for h in b.block]
            iterator.all_tasks[iterator.cur_task : iterator.cur_task] = handlers
        display.display(
            f"{CANCEL_MARKER}: no new task starts"
            + (f"; notified handlers run on {', '.join(flushing)}" if flushing else "")
        )

    def run(self, iterator: Any, play_context: Any, *args: Any, **kwargs: Any) -> Any:
        """The base strategy's run; after a stop, the playbook ends with this play."""
        result = super().run(iterator, play_context, *args, **kwargs)
        if self._provisioner_stopped or cancel_requested():
            result |= self._tqm.RUN_FAILED_BREAK_PLAY
        return result
