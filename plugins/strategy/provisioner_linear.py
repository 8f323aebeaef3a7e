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

On Mitogen's base the host-tasks run in threads of the controller process, not in one forked
worker process each (``PROVISIONER_WORKERS``: ``threads``, the default, or ``processes``, Ansible's
own model). A forked worker costs the controller more than the task itself: the fork, the
copy-on-write faults of a child that touches the parent's heap, and Mitogen's broker, started and
joined in every worker to reach the connection multiplexer. Measured on the lab comune (9 hosts,
a no-change check): 21 CPU-s and 23 s with a worker process per host-task, 11.5 CPU-s and 14.6 s
with threads, the same results. In threads:

- each host-task runs Ansible's own TaskExecutor on its own copy of the task (the executor
  post-validates the task it is given) and sends its result through the same queue;
- all threads share one Mitogen broker and one router per multiplexer, made in the main thread
  (Mitogen ends a broker when the thread that made it ends); a binding's close is a no-op;
- a task with a ``timeout`` (SIGALRM, main thread only) or a ``pause`` (prompts through the
  worker's queue) still gets a forked worker, which makes its own broker as Mitogen's workers do;
- a template that reads another host's variables (``hostvars``) of the same task may see the
  facts that task already set on that host, as a forked worker does when its fork came after
  that result (linear processes results while it queues hosts): timing, not a new semantics;
- with every slot (``forks``) busy, the next host-task waits for a thread to signal that it has
  sent its result, where Ansible's queue loop would poll the slots every 0.1 ms
  (``PROVISIONER_SLOTS=poll`` restores that, for comparison);
- Mitogen's CPU placement stays (on 2 cores: the multiplexer on CPU 0, the controller and its
  threads on CPU 1): the threads share one interpreter lock, and handing it over within one CPU
  is cheaper than across two. bench/fleet --sweep, 21 hosts: 38.8 s and 0.0253 CPU-s per
  host-task pinned, 47.6 s and 0.0328 unpinned (``PROVISIONER_AFFINITY=none``).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import ansible.plugins.strategy as strategy_base
from ansible._internal import _task
from ansible._internal._errors import _error_utils
from ansible.errors import AnsibleError
from ansible.executor.play_iterator import IteratingStates
from ansible.executor.process.worker import WorkerProcess
from ansible.executor.task_executor import TaskExecutor
from ansible.executor.task_result import _RawTaskResult
from ansible.plugins.loader import PluginLoader, strategy_loader
from ansible.utils.display import Display

DOCUMENTATION = """
    name: provisioner_linear
    short_description: Linear strategy that stops between tasks when provisioner cancels
    description:
        - The linear strategy (or the strategy named in PROVISIONER_STRATEGY_BASE, e.g. Mitogen's
          mitogen_linear); when the file named in PROVISIONER_CANCEL_FILE exists, no new task
          starts, notified handlers run, and the playbook ends.
        - On Mitogen's base, host-tasks run in threads of the controller process
          (PROVISIONER_WORKERS=threads, the default) or in one forked worker each (processes).
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


WORKERS = os.environ.get("PROVISIONER_WORKERS") or "threads"
if WORKERS not in ("threads", "processes"):
    raise ImportError(f"provisioner_linear: PROVISIONER_WORKERS={WORKERS!r}: threads or processes")
IN_PROCESS = WORKERS == "threads" and _BASE_NAME.rsplit(".", 1)[-1].startswith("mitogen")
"""Host-tasks in threads: only on Mitogen's base (its connections are made by its multiplexer)."""
AFFINITY = os.environ.get("PROVISIONER_AFFINITY") or "mitogen"
if AFFINITY not in ("none", "mitogen"):
    raise ImportError(f"provisioner_linear: PROVISIONER_AFFINITY={AFFINITY!r}: none or mitogen")
"""Mitogen's CPU placement (``mitogen``: the multiplexer on CPU 0, the controller on CPU 1 of two)
or none (``none``, for the bench's comparison)."""
SLOTS = os.environ.get("PROVISIONER_SLOTS") or "wait"
if SLOTS not in ("wait", "poll"):
    raise ImportError(f"provisioner_linear: PROVISIONER_SLOTS={SLOTS!r}: wait or poll")
"""With every slot busy, the next host-task waits for a thread to signal (``wait``) or Ansible's
queue loop polls the slots every 0.1 ms (``poll``, for the bench's comparison)."""
PROCESS_ACTIONS = frozenset({"pause", "ansible.builtin.pause", "ansible.legacy.pause"})
"""Actions that talk to the operator through the worker's queue: they keep a forked worker."""


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


def needs_process(task: Any) -> bool:
    """A task a thread cannot run: a ``timeout`` (SIGALRM works in a main thread only) or pause."""
    return bool(task.timeout) or task.action in PROCESS_ACTIONS


_SLOT_FREED = threading.Condition()
"""Notified when a thread worker has sent its result: its slot is free for the next host-task."""


class ThreadWorker(threading.Thread):
    """One host-task in a thread of the controller: what WorkerProcess._run does, without fork."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(daemon=True, name=f"{kwargs['host'].name}:{kwargs['task'].action}")
        self._args = kwargs
        self.worker_id = kwargs["worker_id"]
        self._sent = False

    def is_alive(self) -> bool:
        """Busy until its result is sent (the thread itself may take a moment more to end)."""
        return not self._sent and super().is_alive()

    def close(self) -> None:
        """Nothing to release (WorkerProcess.close releases the process)."""

    def terminate(self) -> None:
        """A thread cannot be killed: at the end of a run, its daemon thread ends with the process
        (the task queue manager terminates the workers still alive, e.g. after a Ctrl-C)."""

    def run(self) -> None:
        try:
            self._execute()
        finally:
            with _SLOT_FREED:
                self._sent = True
                _SLOT_FREED.notify_all()

    def _execute(self) -> None:
        a = self._args
        host, final_q = a["host"], a["final_q"]
        # The executor post-validates (templates) the task it gets: each host its own copy.
        task = a["task"].copy(exclude_parent=False, exclude_tasks=True)
        try:
            with _task.TaskContext(task):
                result = TaskExecutor(
                    host,
                    task,
                    a["task_vars"],
                    a["play_context"],
                    a["loader"],
                    a["shared_loader_obj"],
                    final_q,
                    a["variable_manager"],
                ).run()
        except BaseException as ex:
            result = _error_utils.result_dict_from_exception(ex)
        try:
            final_q.send_task_result(
                _RawTaskResult(
                    host=host, task=task, return_data=result, task_fields=task.dump_attrs()
                )
            )
        except Exception as ex:
            try:
                raise AnsibleError("Task result omitted due to queue send failure.") from ex
            except AnsibleError as wrapper:
                final_q.send_task_result(
                    _RawTaskResult(
                        host=host,
                        task=task,
                        return_data=_error_utils.result_dict_from_exception(wrapper),
                        task_fields={},
                    )
                )


_LOAD_LOCK = threading.RLock()
_load_module_source = PluginLoader._load_module_source


def _load_module_source_locked(self: Any, **kwargs: Any) -> Any:
    """PluginLoader puts a plugin's module in sys.modules before it runs its code: a second thread
    would take the half-loaded module (seen: "module 'ansible.plugins.connection.mitogen_local'
    has no attribute 'Connection'"). One plugin module loads at a time."""
    with _LOAD_LOCK:
        return _load_module_source(self, **kwargs)


def worker_for(**kwargs: Any) -> Any:
    """Stands in for WorkerProcess in Ansible's _queue_task while the strategy runs."""
    if needs_process(kwargs["task"]):
        return WorkerProcess(**kwargs)
    return ThreadWorker(**kwargs)


if IN_PROCESS:
    import ansible_mitogen.affinity
    import ansible_mitogen.process
    import mitogen.fork

    if AFFINITY == "none":
        ansible_mitogen.affinity.policy = ansible_mitogen.affinity.Policy()
    import mitogen.unix

    class _SharedBinding(ansible_mitogen.process.Binding):  # type: ignore[misc]
        """The controller's router to one multiplexer, shared by the threads: close keeps it."""

        def __init__(self, parent: Any) -> None:
            self.parent = parent

        def get_service_context(self) -> Any:
            return self.parent

        def get_child_service_context(self) -> Any:
            return self.parent

        def close(self) -> None:
            """Shared: the broker lives as long as the controller process."""

    class ThreadedWorkerModel(ansible_mitogen.process.WorkerModel):  # type: ignore[misc]
        """Mitogen's classic model (one multiplexer per CPU it is given), for threads.

        The broker and one router per multiplexer are made once, in the main thread. A forked
        worker (``needs_process``) drops them and binds as Mitogen's own workers do.
        """

        def __init__(self) -> None:
            self.classic = ansible_mitogen.process.get_classic_worker_model()
            self.pid = os.getpid()
            self.broker = ansible_mitogen.process.Broker()
            self.parents: dict[str, Any] = {}
            for mux in self.classic._muxes:
                router, parent = mitogen.unix.connect(path=mux.path, broker=self.broker)
                router.max_message_size = ansible_mitogen.process.MAX_MESSAGE_SIZE
                self.parents[mux.path] = parent
            self.forked = False

        def on_strategy_start(self) -> None:
            """Nothing: the routers stay up from play to play."""

        def on_strategy_complete(self) -> None:
            """Nothing: see on_strategy_start."""

        def get_binding(self, inventory_name: str) -> Any:
            if os.getpid() != self.pid:
                # A forked worker: the controller's broker thread is not in this process.
                if not self.forked:
                    self.forked = True
                    mitogen.fork.on_fork()
                return self.classic.get_binding(inventory_name)
            path = self.classic._listener_for_name(inventory_name)
            return _SharedBinding(self.parents[path])

    _MODEL: list[ThreadedWorkerModel] = []

    class _InProcess(StrategyModule):
        """The base strategy with host-tasks in threads (see the module's docstring)."""

        def _get_worker_model(self) -> Any:
            if not _MODEL:
                _MODEL.append(ThreadedWorkerModel())
            return _MODEL[0]

        def _queue_task(self, host: Any, task: Any, task_vars: Any, play_context: Any) -> Any:
            if SLOTS == "wait":
                with _SLOT_FREED:
                    _SLOT_FREED.wait_for(self._slot_free, timeout=0.005)
            return super()._queue_task(host, task, task_vars, play_context)

        def _slot_free(self) -> bool:
            return any(w is None or not w.is_alive() for w in self._workers)

        def run(self, iterator: Any, play_context: Any, *args: Any, **kwargs: Any) -> Any:
            saved = strategy_base.WorkerProcess
            strategy_base.WorkerProcess = worker_for
            PluginLoader._load_module_source = _load_module_source_locked  # type: ignore[method-assign]
            try:
                return super().run(iterator, play_context, *args, **kwargs)
            finally:
                strategy_base.WorkerProcess = saved
                PluginLoader._load_module_source = _load_module_source  # type: ignore[method-assign]

    StrategyModule = _InProcess  # type: ignore[misc]
