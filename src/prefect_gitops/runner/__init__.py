"""The local process runner: polls a work pool and runs its flow runs as child processes.

The runner process never imports Prefect (it stays small); Prefect is imported only in the
children, or once in the optional fork server that forks them. It shares only ``api``,
``settings``, ``errors`` and ``templating`` with the rest of the package.
"""
