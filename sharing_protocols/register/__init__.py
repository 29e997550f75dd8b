"""The sharing register: the protocols in force (and, with ``consent``, the notice versions), kept in a
YAML file the information governance lead edits and imported all or nothing.

The register's own tables are written only here (``service``, through ``file``'s import); the gate
reads them as facts (``portal.gate.register``), never through this package, which stands above it.
"""
